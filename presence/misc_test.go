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

func TestErrorsMatchByCode(t *testing.T) {
	sentinels := []struct {
		err  *presence.Error
		code int
	}{
		{presence.ErrMemberExists, 1},
		{presence.ErrMemberDenied, 2},
		{presence.ErrMemberNotExists, 3},
		{presence.ErrChannelNotExists, 5},
		{presence.ErrChannelDenied, 6},
		{presence.ErrSubscriptionDenied, 10},
		{presence.ErrSubscriptionExists, 11},
		{presence.ErrSubscriptionNotExist, 12},
		{presence.ErrPublishDenied, 20},
		{presence.ErrSendMembersDenied, 30},
		{presence.ErrNotOwnMember, 42},
		{presence.ErrTooManyChannels, 43},
		{presence.ErrChannelFull, 44},
		{presence.ErrRateLimited, 45},
		{presence.ErrInvalidChannel, 46},
		{presence.ErrNoInvitation, 47},
	}
	for _, s := range sentinels {
		if s.err.Code != s.code {
			t.Errorf("%q: code %d, want %d", s.err.Text, s.err.Code, s.code)
		}
		own := &presence.Error{Code: s.code, Text: "my own words"}
		if !errors.Is(own, s.err) || !errors.Is(s.err, own) {
			t.Errorf("code %d: an Error with the same code does not match", s.code)
		}
		if !errors.Is(fmt.Errorf("context: %w", own), s.err) {
			t.Errorf("code %d: a wrapped Error does not match", s.code)
		}
		if errors.Is(&presence.Error{Code: s.code + 100, Text: s.err.Text}, s.err) {
			t.Errorf("code %d: an Error with the same text but another code matches", s.code)
		}
		if errors.Is(s.err, presence.ErrClosed) || errors.Is(presence.ErrClosed, s.err) {
			t.Errorf("code %d matches ErrClosed", s.code)
		}
		if msg := s.err.Error(); !strings.Contains(msg, fmt.Sprint(s.code)) || !strings.Contains(msg, s.err.Text) {
			t.Errorf("Error() = %q lacks code or text", msg)
		}
	}
	// The sgc texts are exact (no final period for code 5).
	if presence.ErrChannelNotExists.Text != "Channel not exists" {
		t.Errorf("ErrChannelNotExists.Text = %q", presence.ErrChannelNotExists.Text)
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
		return []byte("sgc:" + ev.Text)
	}
	encPusher := func(ev *presence.Event) []byte {
		pusherCalls.Add(1)
		return []byte("pusher:" + ev.Text)
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

	if err := e.Broadcast("hello", ""); err != nil {
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
	ev := &presence.Event{Kind: presence.KindPublish, Text: "x"}
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
