package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// TestChurnLeavesNoState is the guard behind `rollcall bench churn`:
// connections that join, subscribe, publish, invite, sit in groups and
// leave frames unacknowledged, then disconnect, leave no entry behind in
// the server's session maps, the engine's member and channel tables or the
// groups, round after round.
func TestChurnLeavesNoState(t *testing.T) {
	var srv *Server // set before the first connection
	opts := ackOptions()
	opts.OnConnect = func(_ context.Context, c *presence.Conn) {
		_ = srv.Engine().Groups().Add("all", c)
		_ = srv.Engine().Groups().Add("g/"+c.ID()[:1], c)
	}
	srv, url := startServer(t, opts)
	for round := range 3 {
		clients := make([]*rawClient, 8)
		for i := range clients {
			c := dial(t, url)
			c.join(fmt.Sprintf("r%dc%d", round, i), "")
			ch := fmt.Sprintf("churn-%d", i%3)
			c.subscribe(ch)
			c.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Member: sgcwire.Member{ID: c.session}, Channel: ch, Text: "hi", HasText: true})
			c.expect(sgcwire.MethodPublishMsg, func(m *sgcwire.Message) bool { return m.Member.ID == c.session })
			if i > 0 {
				c.send(&sgcwire.Message{Method: sgcwire.MethodChannelInvitation, Member: sgcwire.Member{ID: c.session},
					Channel: ch, Members: []sgcwire.Member{{ID: clients[i-1].session}}})
			}
			clients[i] = c
		}
		if got := srv.Stats().Members; got != len(clients) {
			t.Fatalf("round %d: %d members, want %d", round, got, len(clients))
		}
		for _, c := range clients {
			c.conn.Close()
		}
		testkit.Eventually(t, testTimeout, "the server to see every client go", func() bool { return srv.Stats().Connections == 0 })
		srv.mu.Lock()
		sessions, byID := len(srv.conns), len(srv.byID)
		srv.mu.Unlock()
		st := srv.Stats()
		if st.Connections != 0 || sessions != 0 || byID != 0 || st.Members != 0 || st.Channels != 0 {
			t.Fatalf("round %d: after every client left: %d connections, %d sessions, %d by id, %d members, %d channels",
				round, st.Connections, sessions, byID, st.Members, st.Channels)
		}
		if names := srv.Engine().Groups().Names(); len(names) != 0 {
			t.Fatalf("round %d: groups left: %v", round, names)
		}
	}
}
