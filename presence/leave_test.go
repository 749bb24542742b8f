package presence_test

import (
	"context"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

// leaveScene: alice is in r1 (with bob) and r2 (with carol); dave is in no
// channel; idle never joined.
type leaveScene struct {
	h                             *harness
	alice, bob, carol, dave, idle *client
}

func newLeaveScene(t *testing.T, opts presence.Options) *leaveScene {
	h := newHarness(t, opts)
	cs := h.join("alice", "bob", "carol", "dave")
	s := &leaveScene{h: h, alice: cs[0], bob: cs[1], carol: cs[2], dave: cs[3], idle: h.connect("idle")}
	h.subscribe(s.alice, "r1", "r2")
	h.subscribe(s.bob, "r1")
	h.subscribe(s.carol, "r2")
	return s
}

// expectAliceGone checks what the others heard of alice leaving: each
// channel's remaining members hear channel@member@remove, then every
// remaining member hears member@remove; alice hears neither.
func (s *leaveScene) expectAliceGone() {
	h, a := s.h, s.alice.m
	h.t.Helper()
	h.expect(s.bob, unsubscribed("r1", a), left(a))
	h.expect(s.carol, unsubscribed("r2", a), left(a))
	h.expect(s.dave, left(a))
	h.expectNothing(s.alice, s.idle)
	h.expectCalls(
		"RemoveChannelMember r1 alice",
		"RemoveChannelMember r2 alice",
		"RemoveMember alice",
	)
	h.expectMembers("", s.bob, s.carol, s.dave)
	h.expectMembers("r1", s.bob)
	h.expectMembers("r2", s.carol)
	if _, ok := s.alice.Member(); ok {
		h.t.Errorf("alice still has a member")
	}
	if got := s.alice.Channels(); len(got) != 0 {
		h.t.Errorf("alice.Channels() = %q, want none", got)
	}
}

func TestLeave(t *testing.T) {
	for _, id := range []string{"", "own"} {
		t.Run("id="+id, func(t *testing.T) {
			s := newLeaveScene(t, presence.Options{})
			if id == "own" {
				id = s.alice.ID()
			}
			wantErr(t, s.h.e.Leave(t.Context(), s.alice.Conn, id), nil)
			s.expectAliceGone()
		})
	}
}

func TestLeaveFreesEmptiedChannels(t *testing.T) {
	h := newHarness(t, presence.Options{})
	alice, bob := h.join1("alice"), h.join1("bob")
	h.subscribe(alice, "solo", "shared")
	h.subscribe(bob, "shared")
	wantErr(t, h.e.Leave(t.Context(), alice.Conn, ""), nil)
	h.expect(bob, unsubscribed("shared", alice.m), left(alice.m))
	h.expectCalls(
		"RemoveChannelMember solo alice",
		"RemoveChannel solo",
		"RemoveChannelMember shared alice",
		"RemoveMember alice",
	)
	h.expectChannels(presence.ChannelInfo{Name: "shared", Members: 1})
}

func TestLeaveRefused(t *testing.T) {
	s := newLeaveScene(t, presence.Options{})
	h, ctx := s.h, t.Context()

	// Only one's own member may be removed.
	wantErr(t, h.e.Leave(ctx, s.alice.Conn, s.bob.ID()), presence.ErrNotOwnMember)
	wantErr(t, h.e.Leave(ctx, s.alice.Conn, sessionID(999)), presence.ErrNotOwnMember)
	wantErr(t, h.e.Leave(ctx, s.idle.Conn, ""), presence.ErrMemberNotExists)
	h.expectNothing()
	h.expectCalls()
	h.expectMembers("", s.alice, s.bob, s.carol, s.dave)

	wantErr(t, h.e.Leave(ctx, s.alice.Conn, ""), nil)
	h.drain()
	wantErr(t, h.e.Leave(ctx, s.alice.Conn, ""), presence.ErrMemberNotExists)
	h.expectNothing()
	h.expectCalls()
}

func TestRejoinAfterLeave(t *testing.T) {
	s := newLeaveScene(t, presence.Options{})
	h, ctx := s.h, t.Context()
	wantErr(t, h.e.Leave(ctx, s.alice.Conn, ""), nil)
	h.drain()

	s.alice.m.Name = "alice2"
	wantErr(t, h.e.Join(ctx, s.alice.Conn, s.alice.m), nil)
	for _, c := range []*client{s.alice, s.bob, s.carol, s.dave} {
		h.expect(c, joined(s.alice.m))
	}
	wantErr(t, h.e.Subscribe(ctx, s.alice.Conn, "r1"), nil)
	h.expect(s.alice, subscribed("r1", s.alice.m))
	h.expect(s.bob, subscribed("r1", s.alice.m))
	h.expectMembers("", s.bob, s.carol, s.dave, s.alice)
}

func TestDisconnect(t *testing.T) {
	s := newLeaveScene(t, presence.Options{})
	s.h.e.Disconnect(s.alice.Conn)
	// OnRemoveChannelMember and OnRemoveMember fire on disconnect too.
	s.expectAliceGone()

	// Idempotent.
	s.h.e.Disconnect(s.alice.Conn)
	s.h.expectNothing()
	s.h.expectCalls()
	s.h.expectMembers("", s.bob, s.carol, s.dave)

	// A connection that never joined disconnects silently.
	s.h.e.Disconnect(s.idle.Conn)
	s.h.expectNothing()
	s.h.expectCalls()
}

func TestCallsAfterDisconnect(t *testing.T) {
	calls := []struct {
		name string
		call func(ctx context.Context, e *cluster, c *client, other *client) error
	}{
		{"Join", func(ctx context.Context, e *cluster, c, _ *client) error { return e.Join(ctx, c.Conn, c.m) }},
		{"Leave", func(ctx context.Context, e *cluster, c, _ *client) error { return e.Leave(ctx, c.Conn, "") }},
		{"Subscribe", func(ctx context.Context, e *cluster, c, _ *client) error {
			return e.Subscribe(ctx, c.Conn, "busy")
		}},
		{"Unsubscribe", func(ctx context.Context, e *cluster, c, _ *client) error {
			return e.Unsubscribe(ctx, c.Conn, "busy")
		}},
		{"Publish", func(ctx context.Context, e *cluster, c, _ *client) error {
			return e.Publish(ctx, c.Conn, "", "x")
		}},
		{"PublishChannel", func(ctx context.Context, e *cluster, c, _ *client) error {
			return e.Publish(ctx, c.Conn, "busy", "x")
		}},
		{"SendMembers", func(ctx context.Context, e *cluster, c, _ *client) error {
			return e.SendMembers(ctx, c.Conn, "")
		}},
		{"Invite", func(ctx context.Context, e *cluster, c, o *client) error {
			return e.Invite(ctx, c.Conn, "busy", []string{o.ID()})
		}},
		{"RespondInvitation", func(ctx context.Context, e *cluster, c, o *client) error {
			return e.RespondInvitation(ctx, c.Conn, "busy", o.ID(), nil)
		}},
	}
	for _, joinFirst := range []bool{false, true} {
		for _, tt := range calls {
			name := tt.name + "/never joined"
			if joinFirst {
				name = tt.name + "/joined"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, presence.Options{})
				other := h.join1("other")
				c := h.connect("alice")
				if joinFirst {
					wantErr(t, h.e.Join(t.Context(), c.Conn, c.m), nil)
					h.subscribe(c, "busy")
					// An invitation to answer, were c still connected.
					wantErr(t, h.e.Invite(t.Context(), other.Conn, "busy", []string{c.ID()}), nil)
				}
				h.e.Disconnect(c.Conn)
				h.drain()

				wantErr(t, tt.call(t.Context(), h.e, c, other), presence.ErrClosed)

				h.expectNothing()
				h.expectCalls()
				h.expectMembers("", other)
			})
		}
	}
}
