package presence_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

func TestPublishToChannel(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	cs := h.join("alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	idle := h.connect("idle")
	h.subscribe(alice, "room")
	h.subscribe(bob, "room")
	h.subscribe(carol, "lobby")

	wantErr(t, h.e.Publish(ctx, alice.Conn, "room", "hello room"), nil)
	// The sender hears its own message; the event carries its stored
	// identity (name and info as it joined).
	h.expect(alice, published("room", alice.m, "hello room"))
	h.expect(bob, published("room", alice.m, "hello room"))
	h.expectNothing(carol, idle)
	h.expectCalls(`Publish "room" alice hello room`)

	wantErr(t, h.e.Publish(ctx, bob.Conn, "room", "one"), nil)
	wantErr(t, h.e.Publish(ctx, bob.Conn, "room", "two"), nil)
	for _, c := range []*client{alice, bob} {
		h.expect(c, published("room", bob.m, "one"), published("room", bob.m, "two"))
	}
	h.expectNothing(carol, idle)
}

func TestPublishToEveryone(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	cs := h.join("alice", "bob", "carol")
	idle := h.connect("idle")
	h.subscribe(cs[0], "room")

	wantErr(t, h.e.Publish(ctx, cs[2].Conn, "", "hello all"), nil)
	for _, c := range cs {
		h.expect(c, published("", cs[2].m, "hello all"))
	}
	h.expectNothing(idle)
	h.expectCalls(`Publish "" carol hello all`)
}

func TestPublishRefused(t *testing.T) {
	custom := &presence.Error{Reason: presence.ErrPublishDenied, Text: "muted for 5 minutes"}
	denyAll := func(context.Context, *presence.Conn, string, presence.Member, string) error {
		return errors.New("no")
	}
	tests := []struct {
		name    string
		hook    func(context.Context, *presence.Conn, string, presence.Member, string) error
		notJoin bool
		prep    func(h *harness, c *client)
		channel string
		want    error
	}{
		{name: "unknown channel", channel: "nowhere", want: presence.ErrChannelNotExists},
		{name: "not subscribed", channel: "busy", want: presence.ErrSubscriptionNotExist},
		{name: "not joined, channel", notJoin: true, channel: "busy", want: presence.ErrMemberNotExists},
		{name: "not joined, everyone", notJoin: true, channel: "", want: presence.ErrMemberNotExists},
		{name: "vetoed, channel", hook: denyAll, channel: "busy", want: presence.ErrPublishDenied,
			prep: func(h *harness, c *client) { h.subscribe(c, "busy") }},
		{name: "vetoed, everyone", hook: denyAll, channel: "", want: presence.ErrPublishDenied},
		{name: "vetoed with own text", channel: "", want: custom,
			hook: func(context.Context, *presence.Conn, string, presence.Member, string) error {
				return fmt.Errorf("mute: %w", custom)
			}},
		{name: "disconnected", channel: "", want: presence.ErrClosed,
			prep: func(h *harness, c *client) { h.e.Disconnect(c.Conn) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, presence.Options{Hooks: presence.Hooks{BeforePublish: tt.hook}})
			c := h.errorCase(tt.notJoin, tt.prep)

			wantErr(t, h.e.Publish(t.Context(), c.Conn, tt.channel, "hi"), tt.want)

			h.expectNothing()
			h.expectCalls()
		})
	}
}

func TestPublishHookArguments(t *testing.T) {
	var h *harness
	h = newHarness(t, presence.Options{Hooks: presence.Hooks{
		BeforePublish: func(_ context.Context, c *presence.Conn, ch string, m presence.Member, text string) error {
			h.calls.add("BeforePublish", fmt.Sprintf("%q", ch), who(c, m), text)
			return nil
		},
	}})
	alice := h.join1("alice")
	h.subscribe(alice, "room")
	wantErr(t, h.e.Publish(t.Context(), alice.Conn, "room", "a"), nil)
	wantErr(t, h.e.Publish(t.Context(), alice.Conn, "", "b"), nil)
	h.expectCalls(
		`BeforePublish "room" alice a`, `Publish "room" alice a`,
		`BeforePublish "" alice b`, `Publish "" alice b`,
	)
}

func TestBroadcast(t *testing.T) {
	h := newHarness(t, presence.Options{})
	cs := h.join("alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	idle := h.connect("idle")
	h.subscribe(alice, "room")
	h.subscribe(bob, "room")

	// From the server: an empty member.
	wantErr(t, h.e.Broadcast(t.Context(), "room", "maintenance at noon"), nil)
	h.expect(alice, published("room", presence.Member{}, "maintenance at noon"))
	h.expect(bob, published("room", presence.Member{}, "maintenance at noon"))
	h.expectNothing(carol, idle)
	h.expectCalls(`Publish "room" <server> maintenance at noon`)

	wantErr(t, h.e.Broadcast(t.Context(), "", "hello all"), nil)
	for _, c := range cs {
		h.expect(c, published("", presence.Member{}, "hello all"))
	}
	h.expectNothing(idle)
	h.expectCalls(`Publish "" <server> hello all`)

	wantErr(t, h.e.Broadcast(t.Context(), "nowhere", "anyone?"), presence.ErrChannelNotExists)
	h.expectNothing()
	h.expectCalls()
}

func TestBroadcastCallsOnPublishWithNilConn(t *testing.T) {
	gotConn := &presence.Conn{} // not nil until OnPublish sets it
	e := presence.New(presence.Options{Events: presence.Events{
		OnPublish: func(c *presence.Conn, _ string, _ presence.Member, _ string) { gotConn = c },
	}})
	if err := e.Broadcast(t.Context(), "", "x"); err != nil {
		t.Fatal(err)
	}
	if gotConn != nil {
		t.Errorf("OnPublish conn = %p, want nil", gotConn)
	}
}
