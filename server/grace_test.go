package server

import (
	"context"
	"errors"
	"net/http"
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
