package presence_test

import (
	"testing"

	"github.com/rollcall/rollcall/presence"
)

// lastList returns the List of the one KindMembers event c received.
func lastList(t *testing.T, c *client) *presence.Event {
	t.Helper()
	evs := c.rec.take()
	if len(evs) != 1 || evs[0].Kind != presence.KindMembers {
		t.Fatalf("%s received %s, want one member list", c.m.Name, evList(plainAll(evs)))
	}
	if evs[0].List == nil || &evs[0].List.Members[0] != &evs[0].Members[0] {
		t.Fatalf("member list without its shared List")
	}
	return evs[0].List
}

// Every member list of a channel, to any requester, shares one List until
// the channel's members change: a protocol encodes it once per state.
func TestMemberListSharedPerChannelState(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	cs := h.join("alice", "bob", "carol")
	alice, bob, carol := cs[0], cs[1], cs[2]
	h.subscribe(alice, "room")
	h.subscribe(bob, "room")

	wantErr(t, h.e.SendMembers(ctx, alice.Conn, "room"), nil)
	first := lastList(t, alice)
	wantErr(t, h.e.SendMembers(ctx, bob.Conn, "room"), nil)
	if got := lastList(t, bob); got != first {
		t.Fatal("a second request of an unchanged channel built a new list")
	}
	if first.Channel != "room" || len(first.Members) != 2 || first.Member.ID != "" {
		t.Fatalf("list %+v", first)
	}

	// A join is a new state; a request after it gets a new list, and so
	// does one after the leave.
	h.subscribe(carol, "room")
	wantErr(t, h.e.SendMembers(ctx, alice.Conn, "room"), nil)
	second := lastList(t, alice)
	if second == first || len(second.Members) != 3 {
		t.Fatalf("after a join: same list %v, %d members", second == first, len(second.Members))
	}
	wantErr(t, h.e.Unsubscribe(ctx, carol.Conn, "room"), nil)
	h.drain()
	wantErr(t, h.e.SendMembers(ctx, alice.Conn, "room"), nil)
	if third := lastList(t, alice); third == second || len(third.Members) != 2 {
		t.Fatalf("after a leave: same list %v, %d members", third == second, len(third.Members))
	}

	// Everyone's list is named "" as it is requested.
	wantErr(t, h.e.SendMembers(ctx, alice.Conn, ""), nil)
	if all := lastList(t, alice); all.Channel != "" || len(all.Members) != 3 {
		t.Fatalf("everyone's list %+v", all)
	}
}

// An invitee named many times in one invitation gets one invitation.
func TestInviteDeduplicatesInvitees(t *testing.T) {
	h := newHarness(t, presence.Options{})
	cs := h.join("alice", "bob", "carol")
	ids := []string{cs[1].ID(), cs[1].ID(), cs[2].ID(), cs[1].ID(), cs[2].ID()}
	wantErr(t, h.e.Invite(t.Context(), cs[0].Conn, "room", ids), nil)
	h.expect(cs[1], invited("room", cs[0]))
	h.expect(cs[2], invited("room", cs[0]))
	h.expectNothing()
}
