package presence_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

func TestJoinDeliversNewMemberToEveryMemberIncludingJoiner(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	idle := h.connect("idle") // connected, never joins: hears nothing

	alice := h.connect("alice")
	wantErr(t, h.e.Join(ctx, alice.Conn, alice.m), nil)
	h.expect(alice, joined(alice.m))
	h.expectNothing(idle)
	h.expectCalls("NewMember alice")

	// An empty id means the connection's session id.
	bob := h.connect("bob")
	wantErr(t, h.e.Join(ctx, bob.Conn, presence.Member{Name: bob.m.Name, Info: bob.m.Info}), nil)
	h.expect(alice, joined(bob.m))
	h.expect(bob, joined(bob.m))
	h.expectNothing(idle)
	h.expectCalls("NewMember bob")

	carol := h.connect("carol")
	wantErr(t, h.e.Join(ctx, carol.Conn, carol.m), nil)
	for _, c := range []*client{alice, bob, carol} {
		h.expect(c, joined(carol.m))
	}
	h.expectNothing(idle)

	if got, ok := bob.Member(); !ok || !got.Equal(bob.m) {
		t.Errorf("bob.Member() = %+v, %v; want %+v, true", got, ok, bob.m)
	}
	if _, ok := idle.Member(); ok {
		t.Errorf("idle.Member() reports a member")
	}
	if n := h.e.MemberCount(); n != 3 {
		t.Errorf("MemberCount() = %d, want 3", n)
	}
	h.expectMembers("", alice, bob, carol)
}

func TestJoinRefused(t *testing.T) {
	custom := &presence.Error{Reason: presence.ErrMemberDenied, Text: "custom"}
	tests := []struct {
		name   string
		hook   func(context.Context, *presence.Conn, presence.Member) error
		prep   func(h *harness, c *client)
		member func(c *client) presence.Member // default c.m
		want   error
	}{{
		name: "an id another connection joined as",
		prep: func(h *harness, c *client) {
			taker := h.connect("taker") // over two nodes, on the other node
			wantErr(h.t, h.e.Join(h.t.Context(), taker.Conn, presence.Member{ID: "u-taken"}), nil)
		},
		member: func(c *client) presence.Member { return presence.Member{ID: "u-taken", Name: "mallory"} },
		want:   presence.ErrMemberExists,
	}, {
		name: "already joined",
		prep: func(h *harness, c *client) {
			wantErr(h.t, h.e.Join(h.t.Context(), c.Conn, c.m), nil)
		},
		want: presence.ErrMemberExists,
	}, {
		name: "already joined, empty id",
		prep: func(h *harness, c *client) {
			wantErr(h.t, h.e.Join(h.t.Context(), c.Conn, c.m), nil)
		},
		member: func(c *client) presence.Member { return presence.Member{Name: "again"} },
		want:   presence.ErrMemberExists,
	}, {
		name: "session id already a member on another connection",
		prep: func(h *harness, c *client) {
			twin := h.e.Connect(c.ID(), &recorder{})
			wantErr(h.t, h.e.Join(h.t.Context(), twin, presence.Member{}), nil)
		},
		want: presence.ErrMemberExists,
	}, {
		name: "vetoed with a plain error",
		hook: func(context.Context, *presence.Conn, presence.Member) error { return errors.New("no") },
		want: presence.ErrMemberDenied,
	}, {
		name: "vetoed with a *presence.Error keeps its text",
		hook: func(context.Context, *presence.Conn, presence.Member) error { return custom },
		want: custom,
	}, {
		name: "vetoed with a wrapped *presence.Error keeps its text",
		hook: func(context.Context, *presence.Conn, presence.Member) error {
			return fmt.Errorf("policy: %w", custom)
		},
		want: custom,
	}, {
		name: "vetoed with a code of its own keeps the code",
		hook: func(context.Context, *presence.Conn, presence.Member) error {
			return &presence.Error{Code: 77, Text: "come back later"}
		},
		want: &presence.Error{Reason: presence.ErrMemberDenied, Code: 77, Text: "come back later"},
	}, {
		name: "disconnected",
		prep: func(h *harness, c *client) { h.e.Disconnect(c.Conn) },
		want: presence.ErrClosed,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			armed := false // the hook applies only once the scene is set
			var hooks presence.Hooks
			if tt.hook != nil {
				hooks.BeforeNewMember = func(ctx context.Context, c *presence.Conn, m presence.Member) error {
					if !armed {
						return nil
					}
					return tt.hook(ctx, c, m)
				}
			}
			h := newHarness(t, presence.Options{Hooks: hooks})
			h.join1("other")
			c := h.connect("alice")
			if tt.prep != nil {
				tt.prep(h, c)
			}
			h.drain()
			armed = true
			count := h.e.MemberCount()
			m := c.m
			if tt.member != nil {
				m = tt.member(c)
			}

			wantErr(t, h.e.Join(t.Context(), c.Conn, m), tt.want)

			h.expectNothing()
			h.expectCalls()
			if n := h.e.MemberCount(); n != count {
				t.Errorf("MemberCount() = %d, want %d", n, count)
			}
		})
	}
}

func TestJoinVetoLeavesNoTraceAndHookSeesSessionID(t *testing.T) {
	deny := true
	var seen []presence.Member
	var h *harness
	h = newHarness(t, presence.Options{Hooks: presence.Hooks{
		BeforeNewMember: func(ctx context.Context, c *presence.Conn, m presence.Member) error {
			seen = append(seen, m)
			if c.ID() != m.ID {
				t.Errorf("hook: conn %s, member %+v", c.ID(), m)
			}
			if deny {
				return errors.New("not now")
			}
			return nil
		},
	}})
	ctx := t.Context()
	alice := h.connect("alice")

	wantErr(t, h.e.Join(ctx, alice.Conn, presence.Member{Name: "alice", Info: alice.m.Info}), presence.ErrMemberDenied)
	if len(seen) != 1 || !seen[0].Equal(alice.m) {
		t.Fatalf("hook saw %+v, want [%+v]", seen, alice.m)
	}
	if _, ok := alice.Member(); ok {
		t.Errorf("vetoed connection has a member")
	}
	wantErr(t, h.e.Subscribe(ctx, alice.Conn, "room"), presence.ErrMemberNotExists)
	h.expectNothing()
	h.expectCalls()

	deny = false
	wantErr(t, h.e.Join(ctx, alice.Conn, alice.m), nil)
	h.expect(alice, joined(alice.m))
	h.expectCalls("NewMember alice")
}

func TestMemberEventsSelf(t *testing.T) {
	h := newHarness(t, presence.Options{MemberEvents: presence.MemberEventsSelf})
	ctx := t.Context()
	alice, bob := h.connect("alice"), h.connect("bob")
	wantErr(t, h.e.Join(ctx, alice.Conn, alice.m), nil)
	h.expect(alice, joined(alice.m))
	wantErr(t, h.e.Join(ctx, bob.Conn, bob.m), nil)
	h.expect(bob, joined(bob.m)) // the joiner's own echo only
	h.expectNothing(alice)
	h.expectMembers("", alice, bob)

	// Channel presence is unchanged.
	wantErr(t, h.e.Subscribe(ctx, alice.Conn, "room"), nil)
	h.expect(alice, subscribed("room", alice.m))
	wantErr(t, h.e.Subscribe(ctx, bob.Conn, "room"), nil)
	h.expect(alice, subscribed("room", bob.m))
	h.expect(bob, subscribed("room", bob.m))

	// An unsubscribe tells the channel and the leaver, not the server.
	carol := h.connect("carol")
	wantErr(t, h.e.Join(ctx, carol.Conn, carol.m), nil)
	h.expect(carol, joined(carol.m))
	wantErr(t, h.e.Subscribe(ctx, carol.Conn, "room"), nil)
	h.expect(alice, subscribed("room", carol.m))
	h.expect(bob, subscribed("room", carol.m))
	h.expect(carol, subscribed("room", carol.m))
	wantErr(t, h.e.Subscribe(ctx, carol.Conn, "side"), nil)
	h.expect(carol, subscribed("side", carol.m))
	wantErr(t, h.e.Unsubscribe(ctx, carol.Conn, "side"), nil)
	h.expect(carol, unsubscribed("side", carol.m))
	h.expectNothing(alice)
	h.expectNothing(bob)
	wantErr(t, h.e.Leave(ctx, carol.Conn, ""), nil)
	h.expect(alice, unsubscribed("room", carol.m))
	h.expect(bob, unsubscribed("room", carol.m))

	// Leaving tells the channel, not the server.
	wantErr(t, h.e.Leave(ctx, bob.Conn, ""), nil)
	h.expect(alice, unsubscribed("room", bob.m))
	h.expectNothing(alice)
	h.expectNothing(bob)
	h.expectMembers("", alice)

	for _, s := range []string{"all", "self"} {
		if m, err := presence.ParseMemberEvents(s); err != nil || m.String() != s {
			t.Errorf("ParseMemberEvents(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := presence.ParseMemberEvents("none"); err == nil {
		t.Error("ParseMemberEvents accepted none")
	}
}

// TestJoinWithAppChosenID: an open connection joins under an id of its own
// choosing (sgc's newmember(id, name, info)); the id is bound to it while
// it is a member: nobody else can take it or act for it, and it may name
// that id, its session id or none.
func TestJoinWithAppChosenID(t *testing.T) {
	h := newHarness(t, presence.Options{})
	ctx := t.Context()
	alice, bob, carol := h.connect("alice"), h.connect("bob"), h.connect("carol")
	alice.m.ID = "u-42"
	wantErr(t, h.e.Join(ctx, alice.Conn, alice.m), nil)
	h.expect(alice, joined(alice.m))
	h.expectCalls("NewMember alice(conn " + alice.ID() + ")")
	if m, _ := alice.Member(); !m.Equal(alice.m) {
		t.Fatalf("alice.Member() = %+v, want %+v", m, alice.m)
	}
	wantErr(t, h.e.Join(ctx, bob.Conn, bob.m), nil)
	h.expect(alice, joined(bob.m))
	h.expect(bob, joined(bob.m))
	h.expectCalls("NewMember bob")

	// First come: the id is taken, here or on the other node.
	wantErr(t, h.e.Join(ctx, carol.Conn, presence.Member{ID: "u-42", Name: "mallory"}), presence.ErrMemberExists)
	h.expectNothing()
	h.expectCalls()

	// Which ids each connection may name.
	for _, tt := range []struct {
		c    *client
		id   string
		want error
	}{
		{alice, "u-42", nil}, {alice, alice.ID(), nil}, {alice, "", nil},
		{alice, bob.ID(), presence.ErrNotOwnMember}, {alice, "u-43", presence.ErrNotOwnMember},
		{bob, "u-42", presence.ErrNotOwnMember}, {bob, bob.ID(), nil},
		{carol, "u-42", presence.ErrNotOwnMember}, {carol, carol.ID(), nil}, {carol, "", nil},
	} {
		if err := tt.c.CheckMemberID(tt.id); !errors.Is(err, tt.want) && (err != nil || tt.want != nil) {
			t.Errorf("%s.CheckMemberID(%q) = %v, want %v", tt.c.m.Name, tt.id, err, tt.want)
		}
	}
	wantErr(t, h.e.Leave(ctx, bob.Conn, "u-42"), presence.ErrNotOwnMember)
	h.expectMembers("", alice, bob)

	// The member acts as itself, under its own id.
	wantErr(t, h.e.Subscribe(ctx, alice.Conn, "room"), nil)
	h.expect(alice, subscribed("room", alice.m))
	wantErr(t, h.e.Subscribe(ctx, bob.Conn, "room"), nil)
	h.expect(alice, subscribed("room", bob.m))
	h.expect(bob, subscribed("room", bob.m))
	wantErr(t, h.e.Publish(ctx, alice.Conn, "room", "hi"), nil)
	h.expect(alice, published("room", alice.m, "hi"))
	h.expect(bob, published("room", alice.m, "hi"))
	// and is found by it
	wantErr(t, h.e.Invite(ctx, bob.Conn, "side", []string{"u-42"}), nil)
	h.expect(alice, invited("side", bob))
	wantErr(t, h.e.RespondInvitation(ctx, alice.Conn, "side", bob.ID(), nil), nil)
	h.expect(bob, answered("side", alice, bob, nil))
	h.drain()

	// Leaving frees the id: alice may no longer name it, carol may take it.
	wantErr(t, h.e.Leave(ctx, alice.Conn, "u-42"), nil)
	h.expect(bob, unsubscribed("room", alice.m), left(alice.m))
	wantErr(t, alice.CheckMemberID("u-42"), presence.ErrNotOwnMember)
	carol.m.ID = "u-42"
	wantErr(t, h.e.Join(ctx, carol.Conn, carol.m), nil)
	h.expect(bob, joined(carol.m))
	h.expect(carol, joined(carol.m))
	h.expectMembers("", bob, carol)
	h.drain()

	// A disconnect removes a member by its connection, whatever its id.
	h.e.Disconnect(carol.Conn)
	h.expect(bob, left(carol.m))
	h.expectMembers("", bob)
	for i, e := range h.e.nodes {
		if n := e.MemberCount(); n != 1 {
			t.Errorf("node %d: %d members, want 1", i, n)
		}
	}
}
