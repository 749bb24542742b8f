package presence_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

// logHooks returns hooks that log each call to h.calls and allow it.
func logHooks(h **harness) presence.Hooks {
	return presence.Hooks{
		BeforeNewChannel: func(_ context.Context, c *presence.Conn, ch string, m presence.Member) error {
			(*h).calls.add("BeforeNewChannel", ch, who(c, m))
			return nil
		},
		BeforeNewChannelMember: func(_ context.Context, c *presence.Conn, ch string, m presence.Member) error {
			(*h).calls.add("BeforeNewChannelMember", ch, who(c, m))
			return nil
		},
	}
}

func TestSubscribeCreatesChannelAndTellsItsMembers(t *testing.T) {
	var h *harness
	h = newHarness(t, presence.Options{Hooks: logHooks(&h)})
	ctx := t.Context()
	cs := h.join("alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	idle := h.connect("idle")

	wantErr(t, h.e.Subscribe(ctx, alice.Conn, "room"), nil)
	h.expect(alice, subscribed("room", alice.m))
	h.expectNothing(bob, carol, idle)
	h.expectCalls(
		"BeforeNewChannel room alice",
		"BeforeNewChannelMember room alice",
		"NewChannel room",
		"NewChannelMember room alice",
	)
	h.expectChannels(presence.ChannelInfo{Name: "room", Members: 1})

	// The channel exists now: BeforeNewChannel is not asked again.
	wantErr(t, h.e.Subscribe(ctx, bob.Conn, "room"), nil)
	h.expect(alice, subscribed("room", bob.m))
	h.expect(bob, subscribed("room", bob.m))
	h.expectNothing(carol, idle)
	h.expectCalls(
		"BeforeNewChannelMember room bob",
		"NewChannelMember room bob",
	)

	// Events carry the stored identity (name and info as joined); a
	// subscription elsewhere is not heard here.
	wantErr(t, h.e.Subscribe(ctx, carol.Conn, "lobby"), nil)
	h.expect(carol, subscribed("lobby", carol.m))
	h.expectNothing(alice, bob, idle)
	h.calls.take()

	h.expectChannels(
		presence.ChannelInfo{Name: "lobby", Members: 1},
		presence.ChannelInfo{Name: "room", Members: 2},
	)
	h.expectMembers("room", alice, bob)
	h.expectMembers("lobby", carol)

	wantErr(t, h.e.Subscribe(ctx, alice.Conn, "lobby"), nil)
	if got := alice.Channels(); strings.Join(got, ",") != "room,lobby" {
		t.Errorf("alice.Channels() = %q, want [room lobby]", got)
	}
	if got := idle.Channels(); len(got) != 0 {
		t.Errorf("idle.Channels() = %q, want none", got)
	}
}

func TestSubscribeRefused(t *testing.T) {
	long := strings.Repeat("x", presence.DefaultMaxChannelName+1)
	deny := func(context.Context, *presence.Conn, string, presence.Member) error { return errors.New("no") }
	custom := &presence.Error{Reason: presence.ErrSubscriptionDenied, Text: "members only"}

	tests := []struct {
		name    string
		opts    presence.Options
		prep    func(h *harness, c *client)
		notJoin bool
		channel string
		want    error
		// channels expected afterwards (other is in "busy" from the start)
		channels []presence.ChannelInfo
	}{{
		name:    "not joined",
		notJoin: true,
		channel: "room",
		want:    presence.ErrMemberNotExists,
	}, {
		name:    "everyone before a join",
		notJoin: true,
		channel: "",
		want:    presence.ErrMemberNotExists,
	}, {
		name:    "channel name too long",
		channel: long,
		want:    presence.ErrInvalidChannel,
	}, {
		name:    "channel name longer than MaxChannelName",
		opts:    presence.Options{MaxChannelName: 4},
		channel: "abcde",
		want:    presence.ErrInvalidChannel,
	}, {
		name:    "channel name not UTF-8",
		channel: "caf\xe9",
		want:    presence.ErrInvalidChannel,
	}, {
		name:    "already subscribed",
		channel: "busy",
		prep:    func(h *harness, c *client) { h.subscribe(c, "busy") },
		want:    presence.ErrSubscriptionExists,
		channels: []presence.ChannelInfo{
			{Name: "busy", Members: 2},
		},
	}, {
		name:    "too many channels",
		opts:    presence.Options{MaxChannelsPerConn: 2},
		channel: "c3",
		prep:    func(h *harness, c *client) { h.subscribe(c, "c1", "c2") },
		want:    presence.ErrTooManyChannels,
		channels: []presence.ChannelInfo{
			{Name: "busy", Members: 1}, {Name: "c1", Members: 1}, {Name: "c2", Members: 1},
		},
	}, {
		name:    "channel full",
		opts:    presence.Options{MaxMembersPerChannel: 1},
		channel: "busy",
		want:    presence.ErrChannelFull,
	}, {
		name:    "new channel vetoed",
		opts:    presence.Options{Hooks: presence.Hooks{BeforeNewChannel: deny}},
		channel: "room",
		want:    presence.ErrChannelDenied,
	}, {
		name:    "subscription to a new channel vetoed creates no channel",
		opts:    presence.Options{Hooks: presence.Hooks{BeforeNewChannelMember: deny}},
		channel: "room",
		want:    presence.ErrSubscriptionDenied,
	}, {
		name:    "subscription to an existing channel vetoed",
		opts:    presence.Options{Hooks: presence.Hooks{BeforeNewChannelMember: deny}},
		channel: "busy",
		want:    presence.ErrSubscriptionDenied,
	}, {
		name: "subscription vetoed with own text",
		opts: presence.Options{Hooks: presence.Hooks{
			BeforeNewChannelMember: func(context.Context, *presence.Conn, string, presence.Member) error { return custom },
		}},
		channel: "busy",
		want:    custom,
	}, {
		name:    "disconnected",
		channel: "busy",
		prep:    func(h *harness, c *client) { h.e.Disconnect(c.Conn) },
		want:    presence.ErrClosed,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The hooks apply only once the scene is set.
			armed := false
			opts := tt.opts
			if f := opts.Hooks.BeforeNewChannel; f != nil {
				opts.Hooks.BeforeNewChannel = func(ctx context.Context, c *presence.Conn, ch string, m presence.Member) error {
					if !armed {
						return nil
					}
					return f(ctx, c, ch, m)
				}
			}
			if f := opts.Hooks.BeforeNewChannelMember; f != nil {
				opts.Hooks.BeforeNewChannelMember = func(ctx context.Context, c *presence.Conn, ch string, m presence.Member) error {
					if !armed {
						return nil
					}
					return f(ctx, c, ch, m)
				}
			}
			h := newHarness(t, opts)
			c := h.errorCase(tt.notJoin, tt.prep)
			armed = true
			before := c.Channels()

			wantErr(t, h.e.Subscribe(t.Context(), c.Conn, tt.channel), tt.want)

			h.expectNothing()
			h.expectCalls()
			want := tt.channels
			if want == nil {
				want = []presence.ChannelInfo{{Name: "busy", Members: 1}}
			}
			h.expectChannels(want...)
			if got := c.Channels(); strings.Join(got, ",") != strings.Join(before, ",") {
				t.Errorf("Channels() = %q, want %q", got, before)
			}
		})
	}
}

func TestSubscribeLimitsAtTheBoundary(t *testing.T) {
	h := newHarness(t, presence.Options{MaxChannelsPerConn: 2, MaxMembersPerChannel: 2, MaxChannelName: 5})
	ctx := t.Context()
	cs := h.join("alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]

	wantErr(t, h.e.Subscribe(ctx, alice.Conn, "12345"), nil)                                      // longest name allowed
	wantErr(t, h.e.Subscribe(ctx, alice.Conn, "\u00e9t\u00e9\u00e9"), presence.ErrInvalidChannel) // 4 runes but 7 bytes
	wantErr(t, h.e.Subscribe(ctx, alice.Conn, "\u00e9t\u00e9"), nil)                              // 5 bytes
	wantErr(t, h.e.Subscribe(ctx, alice.Conn, "c"), presence.ErrTooManyChannels)                  // a third
	wantErr(t, h.e.Subscribe(ctx, bob.Conn, "12345"), nil)                                        // second member
	wantErr(t, h.e.Subscribe(ctx, carol.Conn, "12345"), presence.ErrChannelFull)

	// Room frees up: carol may subscribe, alice may take another channel.
	wantErr(t, h.e.Unsubscribe(ctx, bob.Conn, "12345"), nil)
	wantErr(t, h.e.Subscribe(ctx, carol.Conn, "12345"), nil)
	wantErr(t, h.e.Unsubscribe(ctx, alice.Conn, "\u00e9t\u00e9"), nil)
	wantErr(t, h.e.Subscribe(ctx, alice.Conn, "c"), nil)
}

func TestSubscribeDefaults(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	alice := h.join1("alice")
	wantErr(t, h.e.Subscribe(ctx, alice.Conn, strings.Repeat("x", presence.DefaultMaxChannelName)), nil)
	for i := 1; i < presence.DefaultMaxChannelsPerConn; i++ {
		wantErr(t, h.e.Subscribe(ctx, alice.Conn, "c"+strings.Repeat("y", i)), nil)
	}
	wantErr(t, h.e.Subscribe(ctx, alice.Conn, "one too many"), presence.ErrTooManyChannels)
}

func TestSubscribeVetoedNewChannelSkipsMemberHook(t *testing.T) {
	var h *harness
	hooks := logHooks(&h)
	hooks.BeforeNewChannel = func(_ context.Context, c *presence.Conn, ch string, m presence.Member) error {
		h.calls.add("BeforeNewChannel", ch, who(c, m))
		return errors.New("no new channels")
	}
	h = newHarness(t, presence.Options{Hooks: hooks})
	alice := h.join1("alice")
	wantErr(t, h.e.Subscribe(t.Context(), alice.Conn, "room"), presence.ErrChannelDenied)
	h.expectCalls("BeforeNewChannel room alice")
	h.expectChannels()
	h.expectNothing()
}

// TestSubscribeEveryone: channel "" is everyone, which a member is in from
// its join: Subscribe and Unsubscribe of "" change nothing, run no hook,
// and answer the caller alone, as often as asked.
func TestSubscribeEveryone(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	cs := h.join("alice", "bob")
	alice, bob := cs[0], cs[1]
	h.drain()
	h.expectCalls()
	for range 2 {
		wantErr(t, h.e.Subscribe(ctx, alice.Conn, ""), nil)
		wantErr(t, h.e.Unsubscribe(ctx, alice.Conn, ""), nil)
	}
	a := alice.m
	h.expect(alice, subscribed("", a), unsubscribed("", a), subscribed("", a), unsubscribed("", a))
	h.expectNothing(bob)
	h.expectCalls()
	h.expectChannels()
	if got := alice.Channels(); len(got) != 0 {
		t.Fatalf("Channels() = %q, want none", got)
	}
}
