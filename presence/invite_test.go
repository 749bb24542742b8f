package presence_test

import (
	"strings"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

func TestInviteAndRespond(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	cs := h.join("alice", "bob", "carol", "dave")
	alice, bob, carol, dave := cs[0], cs[1], cs[2], cs[3]

	// Unknown invitees are reported after the known ones were invited. The
	// invitation carries the inviter's stored identity, and the channel need
	// not exist.
	err := h.e.Invite(ctx, alice.Conn, "room", []string{bob.ID(), sessionID(999), carol.ID()})
	wantErr(t, err, presence.ErrMemberNotExists)
	h.expect(bob, invited("room", alice))
	h.expect(carol, invited("room", alice))
	h.expectNothing(alice, dave)
	h.expectChannels()

	// Accepting: the inviter hears it with the invitee's stored identity;
	// Members[0] is the inviter. Accepting does not subscribe.
	wantErr(t, h.e.RespondInvitation(ctx, bob.Conn, "room", alice.ID(), nil), nil)
	h.expect(alice, answered("room", bob, alice, nil))
	h.expectNothing(bob, carol, dave)
	if got := bob.Channels(); len(got) != 0 {
		t.Errorf("accepting subscribed bob to %q", got)
	}

	// An invitation is answered once.
	wantErr(t, h.e.RespondInvitation(ctx, bob.Conn, "room", alice.ID(), nil), presence.ErrNoInvitation)
	h.expectNothing()

	// A refusal is carried to the inviter as it was given.
	refusal := &presence.Error{Reason: presence.ErrInvitationDeclined, Code: 100, Text: "busy right now"}
	wantErr(t, h.e.RespondInvitation(ctx, carol.Conn, "room", alice.ID(), refusal), nil)
	h.expect(alice, answered("room", carol, alice, refusal))
	h.expectNothing(bob, carol, dave)

	// No invitation: never invited, wrong channel, wrong inviter.
	wantErr(t, h.e.RespondInvitation(ctx, dave.Conn, "room", alice.ID(), nil), presence.ErrNoInvitation)
	wantErr(t, h.e.Invite(ctx, alice.Conn, "lobby", []string{dave.ID()}), nil)
	h.expect(dave, invited("lobby", alice))
	wantErr(t, h.e.RespondInvitation(ctx, dave.Conn, "room", alice.ID(), nil), presence.ErrNoInvitation)
	wantErr(t, h.e.RespondInvitation(ctx, dave.Conn, "lobby", bob.ID(), nil), presence.ErrNoInvitation)
	wantErr(t, h.e.RespondInvitation(ctx, dave.Conn, "lobby", alice.ID(), nil), nil)
	h.expect(alice, answered("lobby", dave, alice, nil))
	h.expectNothing()
	h.expectCalls() // invitations fire no events
}

func TestInviteDeliversOneEventToAllInvitees(t *testing.T) {
	h := newHarness(t, presence.Options{})
	cs := h.join("alice", "bob", "carol")
	wantErr(t, h.e.Invite(t.Context(), cs[0].Conn, "room", []string{cs[1].ID(), cs[2].ID()}), nil)
	b, c := cs[1].rec.take(), cs[2].rec.take()
	if len(b) != 1 || len(c) != 1 || b[0] != c[0] {
		t.Errorf("invitees got %v and %v, want the same single *Event", b, c)
	}
}

func TestInviteRefused(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	bob := h.join1("bob")
	idle := h.connect("idle")
	alice := h.join1("alice")

	wantErr(t, h.e.Invite(ctx, idle.Conn, "room", []string{bob.ID()}), presence.ErrMemberNotExists)
	wantErr(t, h.e.Invite(ctx, alice.Conn, "", []string{bob.ID()}), presence.ErrInvalidChannel)
	wantErr(t, h.e.Invite(ctx, alice.Conn, strings.Repeat("x", 201), []string{bob.ID()}), presence.ErrInvalidChannel)
	wantErr(t, h.e.Invite(ctx, alice.Conn, "\xff", []string{bob.ID()}), presence.ErrInvalidChannel)
	// A connected but not joined connection is not a member to invite.
	wantErr(t, h.e.Invite(ctx, alice.Conn, "room", []string{idle.ID()}), presence.ErrMemberNotExists)
	wantErr(t, h.e.RespondInvitation(ctx, idle.Conn, "room", alice.ID(), nil), presence.ErrMemberNotExists)
	h.expectNothing()
}

func TestRespondInvitationToAnInviterWhoLeft(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	alice, bob := h.join1("alice"), h.join1("bob")
	wantErr(t, h.e.Invite(ctx, alice.Conn, "room", []string{bob.ID()}), nil)
	h.e.Disconnect(alice.Conn)
	h.drain()
	wantErr(t, h.e.RespondInvitation(ctx, bob.Conn, "room", alice.ID(), nil), presence.ErrMemberNotExists)
	h.expectNothing()
}

func TestMaxInvitationsKeepsTheNewest(t *testing.T) {
	h := newHarness(t, presence.Options{MaxInvitations: 2})
	ctx := t.Context()
	alice, bob := h.join1("alice"), h.join1("bob")
	// c1 is repeated after c2, which makes c2 the oldest; c3 then pushes
	// it out.
	for _, ch := range []string{"c1", "c2", "c1", "c3"} {
		wantErr(t, h.e.Invite(ctx, alice.Conn, ch, []string{bob.ID()}), nil)
	}
	h.expect(bob, invited("c1", alice), invited("c2", alice), invited("c1", alice), invited("c3", alice))

	wantErr(t, h.e.RespondInvitation(ctx, bob.Conn, "c2", alice.ID(), nil), presence.ErrNoInvitation)
	wantErr(t, h.e.RespondInvitation(ctx, bob.Conn, "c1", alice.ID(), nil), nil)
	wantErr(t, h.e.RespondInvitation(ctx, bob.Conn, "c3", alice.ID(), nil), nil)
	wantErr(t, h.e.RespondInvitation(ctx, bob.Conn, "c1", alice.ID(), nil), presence.ErrNoInvitation)
	h.expect(alice, answered("c1", bob, alice, nil), answered("c3", bob, alice, nil))
}

func TestMaxInvitationsDefault(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	alice, bob := h.join1("alice"), h.join1("bob")
	n := presence.DefaultMaxInvitations + 1
	for i := range n {
		wantErr(t, h.e.Invite(ctx, alice.Conn, "c"+strings.Repeat("x", i), []string{bob.ID()}), nil)
	}
	// The first was forgotten, the last is kept.
	wantErr(t, h.e.RespondInvitation(ctx, bob.Conn, "c", alice.ID(), nil), presence.ErrNoInvitation)
	wantErr(t, h.e.RespondInvitation(ctx, bob.Conn, "c"+strings.Repeat("x", n-1), alice.ID(), nil), nil)
	wantErr(t, h.e.RespondInvitation(ctx, bob.Conn, "cx", alice.ID(), nil), nil)
}
