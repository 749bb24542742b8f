package presence_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

func TestSendMembers(t *testing.T) {
	var h *harness
	h = newHarness(t, presence.Options{Hooks: presence.Hooks{
		BeforeSendMembers: func(_ context.Context, c *presence.Conn, ch string, m presence.Member) error {
			h.calls.add("BeforeSendMembers", fmt.Sprintf("%q", ch), who(c, m))
			return nil
		},
	}})
	ctx := t.Context()
	cs := h.join("alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	// Subscription order differs from join order.
	h.subscribe(carol, "room")
	h.subscribe(alice, "room")

	// Every member, in join order, the requester included; only the
	// requester hears it.
	wantErr(t, h.e.SendMembers(ctx, bob.Conn, ""), nil)
	h.expect(bob, memberList("", bob, alice, bob, carol))
	h.expectNothing(alice, carol)
	h.expectCalls(`BeforeSendMembers "" bob`)

	// A channel's members, in subscription order. Any member may ask.
	wantErr(t, h.e.SendMembers(ctx, alice.Conn, "room"), nil)
	h.expect(alice, memberList("room", alice, carol, alice))
	wantErr(t, h.e.SendMembers(ctx, bob.Conn, "room"), nil)
	h.expect(bob, memberList("room", bob, carol, alice))
	h.expectNothing(carol)
	h.expectCalls(`BeforeSendMembers "room" alice`, `BeforeSendMembers "room" bob`)

	// The list reflects leaves, keeping order.
	wantErr(t, h.e.Leave(ctx, alice.Conn, ""), nil)
	h.drain()
	wantErr(t, h.e.SendMembers(ctx, carol.Conn, ""), nil)
	h.expect(carol, memberList("", carol, bob, carol))
}

func TestSendMembersRefused(t *testing.T) {
	custom := &presence.Error{Reason: presence.ErrSendMembersDenied, Text: "private"}
	deny := func(context.Context, *presence.Conn, string, presence.Member) error { return errors.New("no") }
	tests := []struct {
		name    string
		hook    func(context.Context, *presence.Conn, string, presence.Member) error
		notJoin bool
		prep    func(h *harness, c *client)
		channel string
		want    error
	}{
		{name: "unknown channel", channel: "nowhere", want: presence.ErrChannelNotExists},
		{name: "not joined", notJoin: true, channel: "", want: presence.ErrMemberNotExists},
		{name: "not joined, channel", notJoin: true, channel: "busy", want: presence.ErrMemberNotExists},
		{name: "vetoed, everyone", hook: deny, channel: "", want: presence.ErrSendMembersDenied},
		{name: "vetoed, channel", hook: deny, channel: "busy", want: presence.ErrSendMembersDenied},
		{name: "vetoed with own text", channel: "busy", want: custom,
			hook: func(context.Context, *presence.Conn, string, presence.Member) error { return custom }},
		{name: "disconnected", channel: "", want: presence.ErrClosed,
			prep: func(h *harness, c *client) { h.e.Disconnect(c.Conn) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, presence.Options{Hooks: presence.Hooks{BeforeSendMembers: tt.hook}})
			c := h.errorCase(tt.notJoin, tt.prep)

			wantErr(t, h.e.SendMembers(t.Context(), c.Conn, tt.channel), tt.want)

			h.expectNothing()
		})
	}
}

func TestMembersChannelsMemberCount(t *testing.T) {
	h := newHarness(t, presence.Options{})
	if n := h.e.MemberCount(); n != 0 {
		t.Errorf("MemberCount() = %d on a new engine", n)
	}
	h.expectChannels()
	h.expectMembers("")

	cs := h.join("alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	h.connect("idle")
	h.subscribe(carol, "zeta", "alpha")
	h.subscribe(alice, "mid", "zeta")

	if n := h.e.MemberCount(); n != 3 {
		t.Errorf("MemberCount() = %d, want 3", n)
	}
	h.expectChannels(
		presence.ChannelInfo{Name: "alpha", Members: 1},
		presence.ChannelInfo{Name: "mid", Members: 1},
		presence.ChannelInfo{Name: "zeta", Members: 2},
	)
	h.expectMembers("", alice, bob, carol)
	h.expectMembers("zeta", carol, alice)
	if _, err := h.e.Members("nowhere"); !errors.Is(err, presence.ErrChannelNotExists) {
		t.Errorf("Members(unknown) err = %v, want ErrChannelNotExists", err)
	}

	// The lists are copies.
	list, _ := h.e.Members("")
	list[0].Name = "changed"
	h.expectMembers("", alice, bob, carol)
	chans := carol.Channels()
	chans[0] = "changed"
	if got := carol.Channels(); got[0] != "zeta" {
		t.Errorf("Channels() shares its slice: %q", got)
	}

	// Members needs no member and runs no hook.
	h.expectNothing()
}

func TestSendMembersListIsASnapshot(t *testing.T) {
	h := newHarness(t, presence.Options{})
	cs := h.join("alice", "bob")
	wantErr(t, h.e.SendMembers(t.Context(), cs[0].Conn, ""), nil)
	evs := cs[0].rec.take()
	if len(evs) != 1 {
		t.Fatalf("got %d events", len(evs))
	}
	wantErr(t, h.e.Leave(t.Context(), cs[1].Conn, ""), nil)
	if got := plain(evs[0]); len(got.Members) != 2 || !got.Members[1].Equal(cs[1].m) {
		t.Errorf("delivered list changed after a leave: %+v", got.Members)
	}
}

// A channel indexes its members by id once it is big enough, and drops the
// index when it shrinks again; the answers stay the same either way.
func TestMembersAcrossTheIndexThreshold(t *testing.T) {
	h := newHarness(t, presence.Options{MemberEvents: presence.MemberEventsSelf})
	ctx := t.Context()
	names := make([]string, 80)
	for i := range names {
		names[i] = fmt.Sprintf("m%02d", i)
	}
	cs := h.join(names...)
	for _, c := range cs {
		h.subscribe(c, "big")
	}
	h.expectMembers("big", cs...)
	h.expectMembers("", cs...)
	for _, c := range cs[:75] {
		wantErr(t, h.e.Unsubscribe(ctx, c.Conn, "big"), nil)
	}
	h.expectMembers("big", cs[75:]...)
	// Taken ids are refused whatever the size, with or without the index.
	twin := h.connect("twin")
	wantErr(t, h.e.Join(ctx, twin.Conn, presence.Member{ID: cs[3].ID()}), presence.ErrMemberExists)
	for _, c := range cs[:70] {
		wantErr(t, h.e.Leave(ctx, c.Conn, ""), nil)
	}
	wantErr(t, h.e.Join(ctx, twin.Conn, presence.Member{ID: cs[75].ID()}), presence.ErrMemberExists)
	wantErr(t, h.e.Join(ctx, twin.Conn, presence.Member{ID: cs[3].ID(), Name: "twin"}), nil)
	h.expectMembers("big", cs[75:]...)
}
