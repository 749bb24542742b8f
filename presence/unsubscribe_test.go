package presence_test

import (
	"testing"

	"github.com/rollcall/rollcall/presence"
)

func TestUnsubscribeTellsEveryMemberAndFreesEmptyChannel(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	cs := h.join("alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	idle := h.connect("idle")
	h.subscribe(alice, "room", "lobby")
	h.subscribe(bob, "room")

	// As in sgc, every member of the server hears of it: the unsubscriber
	// and carol, who is not in the channel, too. A connection that never
	// joined does not.
	wantErr(t, h.e.Unsubscribe(ctx, bob.Conn, "room"), nil)
	for _, c := range []*client{alice, bob, carol} {
		h.expect(c, unsubscribed("room", bob.m))
	}
	h.expectNothing(idle)
	h.expectCalls("RemoveChannelMember room bob")
	h.expectMembers("room", alice)
	if got := bob.Channels(); len(got) != 0 {
		t.Errorf("bob.Channels() = %q, want none", got)
	}

	// The last member leaves: the channel is freed.
	wantErr(t, h.e.Unsubscribe(ctx, alice.Conn, "room"), nil)
	for _, c := range []*client{alice, bob, carol} {
		h.expect(c, unsubscribed("room", alice.m))
	}
	h.expectCalls("RemoveChannelMember room alice", "RemoveChannel room")
	h.expectChannels(presence.ChannelInfo{Name: "lobby", Members: 1})
	if _, err := h.e.Members("room"); err != presence.ErrChannelNotExists {
		t.Errorf("Members(freed channel) err = %v, want ErrChannelNotExists", err)
	}
	if got := alice.Channels(); len(got) != 1 || got[0] != "lobby" {
		t.Errorf("alice.Channels() = %q, want [lobby]", got)
	}
}

func TestUnsubscribeKeepEmptyChannels(t *testing.T) {
	var h *harness
	h = newHarness(t, presence.Options{KeepEmptyChannels: true, Hooks: logHooks(&h)})
	ctx := t.Context()
	alice, bob := h.join1("alice"), h.join1("bob")
	h.subscribe(alice, "room")

	wantErr(t, h.e.Unsubscribe(ctx, alice.Conn, "room"), nil)
	h.expect(alice, unsubscribed("room", alice.m))
	h.expect(bob, unsubscribed("room", alice.m))
	h.expectCalls("RemoveChannelMember room alice") // no RemoveChannel
	h.expectChannels(presence.ChannelInfo{Name: "room", Members: 0})
	h.expectMembers("room")

	// The channel still exists: publishing to it is "not subscribed", and
	// subscribing again does not ask BeforeNewChannel nor announce a new
	// channel.
	wantErr(t, h.e.Publish(ctx, bob.Conn, "room", "anyone?"), presence.ErrSubscriptionNotExist)
	wantErr(t, h.e.Unsubscribe(ctx, bob.Conn, "room"), presence.ErrSubscriptionNotExist)
	wantErr(t, h.e.Subscribe(ctx, bob.Conn, "room"), nil)
	h.expectCalls("BeforeNewChannelMember room bob", "NewChannelMember room bob")
	h.expect(bob, subscribed("room", bob.m))
	h.expectNothing(alice)

	// Leaving keeps it too.
	wantErr(t, h.e.Leave(ctx, bob.Conn, ""), nil)
	h.expectChannels(presence.ChannelInfo{Name: "room", Members: 0})
}

func TestUnsubscribeRefused(t *testing.T) {
	tests := []struct {
		name    string
		prep    func(h *harness, c *client)
		notJoin bool
		channel string
		want    error
	}{
		{name: "unknown channel", channel: "nowhere", want: presence.ErrChannelNotExists},
		{name: "everyone before a join", notJoin: true, channel: "", want: presence.ErrMemberNotExists},
		{name: "not subscribed", channel: "busy", want: presence.ErrSubscriptionNotExist},
		{name: "not joined", notJoin: true, channel: "busy", want: presence.ErrMemberNotExists},
		{name: "twice", channel: "busy", want: presence.ErrSubscriptionNotExist,
			prep: func(h *harness, c *client) {
				h.subscribe(c, "busy")
				wantErr(h.t, h.e.Unsubscribe(h.t.Context(), c.Conn, "busy"), nil)
			}},
		{name: "disconnected", channel: "busy", want: presence.ErrClosed,
			prep: func(h *harness, c *client) { h.e.Disconnect(c.Conn) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, presence.Options{})
			c := h.errorCase(tt.notJoin, tt.prep)

			wantErr(t, h.e.Unsubscribe(t.Context(), c.Conn, tt.channel), tt.want)

			h.expectNothing()
			h.expectCalls()
			h.expectChannels(presence.ChannelInfo{Name: "busy", Members: 1})
		})
	}
}
