package client

import (
	"context"
	"errors"
	"testing"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

func TestHandlersMayCallMethods(t *testing.T) {
	s := newFake(t, false)
	got := make(chan []Member, 1)
	var c *Client
	ready := make(chan struct{})
	c = dial(t, s.url, newRecorder(), Options{Name: "alice",
		OnNewChannelMember: func(ch string, m Member) {
			<-ready
			// Blocking calls from the event goroutine must not deadlock.
			if ch != "first" {
				return
			}
			ms, err := c.GetMembers(context.Background(), ch)
			if err != nil {
				t.Error(err)
			}
			if err := c.Subscribe(context.Background(), "second"); err != nil {
				t.Error(err)
			}
			got <- ms
		}})
	close(ready)
	if err := c.Subscribe(ctxT(t), "first"); err != nil {
		t.Fatal(err)
	}
	if ms := testkit.Recv(t, got, waitFor, "the handler to finish (deadlock?)"); len(ms) != 1 || ms[0] != c.Member() {
		t.Fatalf("members %+v", ms)
	}
}

func TestHandlerPanicReachesOnException(t *testing.T) {
	s := newFake(t, false)
	r := newRecorder()
	c := dial(t, s.url, r, Options{Name: "alice",
		OnPublishMsg: func(text, _ string, _ Member) {
			if text == "boom" {
				panic("kaboom")
			}
			r.ch <- event{kind: "publish", text: text}
		}})
	ctx := ctxT(t)
	c.Publish(ctx, "", "boom")
	c.Publish(ctx, "", "after")
	e := r.next(t, "exception", nil)
	if !errors.Is(e.err, ErrHandlerPanic) || e.err.Error() != "client: event handler panicked: kaboom" {
		t.Fatalf("OnException(%v)", e.err)
	}
	if e := r.next(t, "publish", nil); e.text != "after" {
		t.Fatalf("events after a panic: %v", e)
	}
}

func TestRawMessage(t *testing.T) {
	s := newFake(t, false)
	r := newRecorder()
	raws := make(chan string, 100)
	c := dial(t, s.url, r, Options{Name: "alice",
		OnRawMessage: func(text string) bool {
			raws <- text
			// Swallow every channel frame: the events go, the reply matching stays.
			m, _ := sgcwire.Decode([]byte(text))
			return m != nil && m.Channel != ""
		}})
	ctx := ctxT(t)
	if err := c.Subscribe(ctx, "room"); err != nil {
		t.Fatalf("Subscribe with a swallowing OnRawMessage: %v", err)
	}
	if err := c.Publish(ctx, "room", "in room"); err != nil {
		t.Fatal(err)
	}
	if err := c.Publish(ctx, "", "to all"); err != nil {
		t.Fatal(err)
	}
	// Only the global message reaches OnPublishMsg; every frame reached
	// OnRawMessage first.
	if e := r.next(t, "publish", nil); e.text != "to all" {
		t.Fatalf("OnPublishMsg for a handled frame: %v", e)
	}
	want := []string{sgcwire.MethodSession, sgcwire.MethodNewMember, sgcwire.MethodNewChannelMember, sgcwire.MethodPublishMsg, sgcwire.MethodPublishMsg}
	for _, w := range want {
		m, err := sgcwire.Decode([]byte(<-raws))
		if err != nil || m.Method != w {
			t.Fatalf("raw frame %v (%v), want %s", m, err, w)
		}
	}
}

func TestCloseFromHandler(t *testing.T) {
	s := newFake(t, false)
	closed := make(chan struct{})
	var c *Client
	ready := make(chan struct{})
	c = dial(t, s.url, newRecorder(), Options{Name: "alice",
		OnPublishMsg: func(string, string, Member) {
			<-ready
			c.Close()
			close(closed)
		}})
	close(ready)
	c.Publish(ctxT(t), "", "bye")
	testkit.Recv(t, closed, waitFor, "Close from a handler (deadlocked?)")
	testkit.Recv(t, c.Done(), waitFor, "the event goroutine to end")
}

func TestEventsInOrder(t *testing.T) {
	s := newFake(t, false)
	r := newRecorder()
	c := dial(t, s.url, r, Options{Name: "alice"})
	ctx := ctxT(t)
	for _, text := range []string{"1", "2", "3", "4", "5"} {
		if err := c.Publish(ctx, "", text); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"1", "2", "3", "4", "5"} {
		if e := r.next(t, "publish", nil); e.text != want {
			t.Fatalf("got %q, want %q", e.text, want)
		}
	}
}
