package presence_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

func TestReasonsMatch(t *testing.T) {
	reasons := presence.Reasons()
	seen := map[presence.Reason]bool{}
	for _, r := range reasons {
		if seen[r] {
			t.Errorf("reason %q is used twice", r)
		}
		seen[r] = true
		own := &presence.Error{Reason: r, Text: "my own words"}
		if !errors.Is(own, r) {
			t.Errorf("%q: an Error with the reason does not match it", r)
		}
		if !errors.Is(fmt.Errorf("context: %w", own), r) {
			t.Errorf("%q: a wrapped Error does not match", r)
		}
		for _, other := range reasons {
			if other != r && errors.Is(own, other) {
				t.Errorf("%q matches %q", r, other)
			}
		}
		if errors.Is(r, presence.ErrClosed) || errors.Is(presence.ErrClosed, r) {
			t.Errorf("%q matches ErrClosed", r)
		}
		if msg := own.Error(); !strings.HasPrefix(msg, "presence: ") || strings.Contains(msg, "_") || !strings.Contains(msg, "my own words") {
			t.Errorf("Error() = %q: want the reason in words and the text", msg)
		}
	}
}

func TestConnIDAndData(t *testing.T) {
	var seen []any
	e := presence.New(presence.Options{Hooks: presence.Hooks{
		BeforeNewMember: func(_ context.Context, c *presence.Conn, _ presence.Member) error {
			seen = append(seen, c.Data())
			return nil
		},
	}})
	c := e.Connect(sessionID(1), nopSink{})
	if c.ID() != sessionID(1) {
		t.Errorf("ID() = %q", c.ID())
	}
	if d := c.Data(); d != nil {
		t.Errorf("Data() = %v on a new connection, want nil", d)
	}
	type account struct{ user string }
	acct := &account{"alice"}
	c.SetData(acct)
	if d, _ := c.Data().(*account); d != acct {
		t.Errorf("Data() = %v, want %v", c.Data(), acct)
	}
	if err := e.Join(t.Context(), c, presence.Member{}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 1 || seen[0] != acct {
		t.Errorf("hook saw Data %v, want %v", seen, acct)
	}
	c.SetData(42)
	if d := c.Data(); d != 42 {
		t.Errorf("Data() = %v, want 42", d)
	}
	c.SetData(nil)
	if d := c.Data(); d != nil {
		t.Errorf("Data() = %v after SetData(nil)", d)
	}

	// Safe at any time, from any goroutine.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				c.SetData(i*1000 + j)
				_ = c.Data()
			}
		})
	}
	wg.Wait()
	e.Disconnect(c)
}

func TestEventFrameEncodesOncePerKey(t *testing.T) {
	type sgcKey struct{}
	type pusherKey struct{}
	var sgcCalls, pusherCalls atomic.Int32
	encSGC := func(ev *presence.Event) []byte {
		sgcCalls.Add(1)
		return []byte("sgc:" + string(ev.Data))
	}
	encPusher := func(ev *presence.Event) []byte {
		pusherCalls.Add(1)
		return []byte("pusher:" + string(ev.Data))
	}

	// Every recipient asks for the frame of its own protocol, as a transport
	// does.
	const n = 10
	frames := make([][]byte, n)
	e := presence.New(presence.Options{})
	for i := range n {
		sink := sinkFunc(func(ev *presence.Event) {
			if i%2 == 0 {
				frames[i] = ev.Frame(sgcKey{}, encSGC)
			} else {
				frames[i] = ev.Frame(pusherKey{}, encPusher)
			}
		})
		c := e.Connect(sessionID(i), sink)
		if err := e.Join(t.Context(), c, presence.Member{}); err != nil {
			t.Fatal(err)
		}
		defer e.Disconnect(c)
	}
	sgcCalls.Store(0)
	pusherCalls.Store(0)

	if err := e.Broadcast(t.Context(), "", "hello"); err != nil {
		t.Fatal(err)
	}
	if s, p := sgcCalls.Load(), pusherCalls.Load(); s != 1 || p != 1 {
		t.Errorf("encoded sgc %d times, pusher %d times; want 1 and 1", s, p)
	}
	for i, f := range frames {
		want := "sgc:hello"
		if i%2 == 1 {
			want = "pusher:hello"
		}
		if string(f) != want {
			t.Errorf("recipient %d got %q, want %q", i, f, want)
		}
	}
}

func TestEventFrameConcurrent(t *testing.T) {
	ev := &presence.Event{Kind: presence.KindPublish, Data: []byte("x")}
	var calls atomic.Int32
	enc := func(*presence.Event) []byte { calls.Add(1); return []byte("frame") }
	var wg sync.WaitGroup
	results := make([][]byte, 20)
	for i := range results {
		wg.Go(func() { results[i] = ev.Frame("sgc", enc) })
	}
	wg.Wait()
	if c := calls.Load(); c != 1 {
		t.Errorf("encode called %d times, want 1", c)
	}
	for i, r := range results {
		if &r[0] != &results[0][0] {
			t.Errorf("caller %d got other bytes than caller 0", i)
		}
	}
	// Keys are compared with ==: another key encodes again, once.
	ev.Frame("pusher", enc)
	ev.Frame("pusher", enc)
	if c := calls.Load(); c != 2 {
		t.Errorf("encode called %d times after a second key, want 2", c)
	}
}

type sinkFunc func(*presence.Event)

func (f sinkFunc) Deliver(ev *presence.Event) { f(ev) }
