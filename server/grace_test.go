package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// anyUser authenticates every user whose password is "pw", as "u-<user>".
func anyUser(_ context.Context, _ *http.Request, user, password string) (Identity, error) {
	if password != "pw" {
		return Identity{}, errors.New("bad password")
	}
	return Identity{ID: "u-" + user, Name: user}, nil
}

// TestGraceSameUserOverSockets: with a presence grace, an authenticated
// member whose connection drops (no close frame) and who comes back as the
// same user on a new connection is never seen to leave or join; one that
// closes on purpose (1000) leaves at once; one that does not come back
// leaves when the grace passes.
func TestGraceSameUserOverSockets(t *testing.T) {
	srv, u := startServer(t, Options{Auth: Auth{Basic: anyUser}, PresenceGrace: 700 * time.Millisecond})
	obs := dialAuth(t, u, basicHeader("olga", "pw"))
	obs.joinAs("olga")
	obs.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: "room"})
	obs.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool { return m.Member.ID == "u-olga" })

	enter := func(user string) *rawClient {
		c := dialAuth(t, u, basicHeader(user, "pw"))
		c.joinAs(user)
		c.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: "room"})
		c.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool { return m.Member.ID == "u-"+user })
		obs.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool { return m.Member.ID == "u-"+user })
		return c
	}
	alice, bob, carol := enter("alice"), enter("bob"), enter("carol")
	_ = carol

	// alice's network goes: no close frame. She comes back as herself.
	alice.conn.Close()
	testkit.Eventually(t, testTimeout, "alice's connection to be lost", func() bool { return srv.Engine().Ghosts() == 1 })
	again := dialAuth(t, u, basicHeader("alice", "pw"))
	again.joinAs("alice")
	again.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: "room"})
	again.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool { return m.Member.ID == "u-alice" })

	// bob closes on purpose: he leaves now, grace or not.
	bob.sendFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")))
	obs.expect(sgcwire.MethodRemoveChannelMember, func(m *sgcwire.Message) bool { return m.Member.ID == "u-bob" })
	obs.expect(sgcwire.MethodRemoveMember, func(m *sgcwire.Message) bool { return m.Member.ID == "u-bob" })

	// carol's network goes and she does not come back: her leave comes
	// with the grace's end, and alice's never does.
	carol.conn.Close()
	leave := obs.expect(sgcwire.MethodRemoveChannelMember, nil)
	if leave.Member.ID != "u-carol" {
		t.Fatalf("heard %s leave, want carol", leave.Member.ID)
	}
	obs.expect(sgcwire.MethodRemoveMember, func(m *sgcwire.Message) bool { return m.Member.ID == "u-carol" })
	testkit.Eventually(t, testTimeout, "no ghost left", func() bool { return srv.Engine().Ghosts() == 0 })
	obs.expectNothing(300 * time.Millisecond)
	ms, _ := srv.Engine().Members("room")
	if len(ms) != 2 {
		t.Fatalf("room: %v, want olga and alice", ms)
	}
}

// TestResumeTokenOverSockets: a client of the rollcall extension gets a
// resume token after its join; when its socket drops it comes back on a
// new connection with that token, takes its presence over (the same
// member, nobody hears a leave or a join) and gets a token of its own.
// The token is good once: presented again, or forged, it is refused with
// error 51 and the connection joins as a new member.
func TestResumeTokenOverSockets(t *testing.T) {
	srv, u := startServer(t, Options{PresenceGrace: 5 * time.Second})
	obs := dial(t, u)
	obs.join("olga", "")
	obs.subscribe("room")

	hello := func(c *rawClient, token string) *sgcwire.Message {
		c.send(&sgcwire.Message{Method: sgcwire.MethodHello, Extensions: []string{sgcwire.ExtResume}, Token: token})
		return c.expect(sgcwire.MethodHello, nil)
	}
	alice := dial(t, u)
	if got := hello(alice, ""); !slices.Equal(got.Extensions, []string{sgcwire.ExtResume}) || got.Resumed {
		t.Fatalf("hello answer %+v, want resume accepted", got)
	}
	me := alice.join("alice", "in")
	token := alice.expect(sgcwire.MethodResume, nil).Token
	if len(token) < 22+2 {
		t.Fatalf("token %q", token)
	}
	alice.subscribe("room")
	obs.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool { return m.Member.ID == me.ID })

	// The network goes: no close frame. alice comes back with her token.
	alice.conn.Close()
	testkit.Eventually(t, testTimeout, "alice's connection to be lost", func() bool { return srv.Engine().Ghosts() == 1 })
	// A token forged for her (her session and node, another secret) is
	// refused while she is lost, and its connection joins as a new member.
	refused := func(bad, name string) {
		c := dial(t, u)
		if got := hello(c, bad); got.Resumed {
			t.Fatalf("token %q resumed", bad)
		}
		c.expectError(sgcwire.CodeResumeRefused)
		if m := c.join(name, ""); m.ID == me.ID {
			t.Fatalf("a refused token took alice's member")
		}
		obs.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member.Name == name })
	}
	refused("AAAAAAAAAAAAAAAAAAAAAA"+token[22:], "eve")
	again := dial(t, u)
	if got := hello(again, token); !got.Resumed {
		t.Fatalf("hello answer %+v, want resumed", got)
	}
	again.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{Name: "alice", Info: "in"}})
	if m := again.expect(sgcwire.MethodNewMember, nil); m.Member.ID != me.ID {
		t.Fatalf("resumed as %+v, want %s", m.Member, me.ID)
	}
	if fresh := again.expect(sgcwire.MethodResume, nil).Token; fresh == token || fresh == "" {
		t.Fatalf("the resumed connection's token %q, the old one %q", fresh, token)
	}
	again.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: "room"})
	again.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool { return m.Member.ID == me.ID })

	// The same token again: refused, and a new member.
	refused(token, "mallory")
	testkit.Eventually(t, testTimeout, "the taken-over ghost to go", func() bool { return srv.Engine().Ghosts() == 0 })
	obs.expectNothing(300 * time.Millisecond)
	if ms, _ := srv.Engine().Members("room"); len(ms) != 2 {
		t.Fatalf("room: %v, want olga and alice", ms)
	}
}

// TestResumeNeedsGrace: a server without a grace does not accept the
// resume extension and gives no token.
func TestResumeNeedsGrace(t *testing.T) {
	_, u := startServer(t, Options{})
	c := dial(t, u)
	c.send(&sgcwire.Message{Method: sgcwire.MethodHello, Extensions: []string{sgcwire.ExtResume, sgcwire.ExtUpdates}})
	if got := c.expect(sgcwire.MethodHello, nil); !slices.Equal(got.Extensions, []string{sgcwire.ExtUpdates}) {
		t.Fatalf("hello answer %+v", got)
	}
	c.join("alice", "")
	c.subscribe("room")
	c.expectNothing(200 * time.Millisecond)
}

// TestPresenceGraceMax: past PresenceGraceMax kept presences, a lost
// connection leaves at once; /metrics counts both.
func TestPresenceGraceMax(t *testing.T) {
	srv, u := startServer(t, Options{PresenceGrace: time.Minute, PresenceGraceMax: 1, APIKey: "k"})
	obs := dial(t, u)
	obs.join("olga", "")
	a, b := dial(t, u), dial(t, u)
	a.join("alice", "")
	b.join("bob", "")
	a.conn.Close()
	testkit.Eventually(t, testTimeout, "alice to be kept", func() bool { return srv.Engine().Ghosts() == 1 })
	b.conn.Close()
	obs.expect(sgcwire.MethodRemoveMember, func(m *sgcwire.Message) bool { return m.Member.Name == "bob" })
	if kept, refused := scrape(t, srv, "rollcall_presence_grace_kept"), scrape(t, srv, "rollcall_presence_grace_refused_total"); kept != 1 || refused != 1 {
		t.Fatalf("kept %v, refused %v; want 1 and 1", kept, refused)
	}
}
