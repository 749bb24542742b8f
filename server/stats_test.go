package server

import (
	"fmt"
	"testing"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// counts is the part of Stats that a test can predict exactly.
type counts struct {
	Conns                     int64
	Total, In, Out, Pubs, Err uint64
	Cause, Limited, Invalid   uint64
	Members, Channels         int
}

func countsOf(s Stats) counts {
	return counts{s.Connections, s.ConnectionsTotal, s.MessagesIn, s.MessagesOut, s.Publishes, s.Errors,
		s.ClosedForCause, s.RateLimited, s.InvalidFrames, s.Members, s.Channels}
}

// waitCounts polls the server's stats until they are want, and fails the
// test with the last stats if they do not get there. Messages are counted
// once written, a moment after the client may have read them: hence the
// polling.
func waitCounts(t *testing.T, srv *Server, want counts) {
	t.Helper()
	testkit.Poll(t, testTimeout, func() error {
		if got := countsOf(srv.Stats()); got != want {
			return fmt.Errorf("stats\n got %+v\nwant %+v", got, want)
		}
		return nil
	})
}

// TestStatsCount: every step of a client moves the counters by exactly
// what it sent and received.
func TestStatsCount(t *testing.T) {
	srv, url := startServer(t, Options{})
	st := srv.Stats()
	if st.Started.IsZero() || st.Uptime < 0 || st.Goroutines <= 0 || countsOf(st) != (counts{}) {
		t.Fatalf("a new server: %+v", st)
	}
	a := dial(t, url) // out: the session frame
	waitCounts(t, srv, counts{Conns: 1, Total: 1, Out: 1})
	a.join("alice", "") // in: member@new; out: its echo
	waitCounts(t, srv, counts{Conns: 1, Total: 1, In: 1, Out: 2, Members: 1})
	a.subscribe("room")
	waitCounts(t, srv, counts{Conns: 1, Total: 1, In: 2, Out: 3, Members: 1, Channels: 1})

	b := dial(t, url)
	b.join("bob", "")
	b.subscribe("room")
	a.expect(sgcwire.MethodNewMember, nil)
	a.expect(sgcwire.MethodNewChannelMember, nil)
	// b: session, 2 echoes; a: 2 events.
	waitCounts(t, srv, counts{Conns: 2, Total: 2, In: 4, Out: 8, Members: 2, Channels: 1})

	a.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Member: sgcwire.Member{ID: a.session}, Channel: "room", Text: "hi"})
	a.expect(sgcwire.MethodPublishMsg, nil)
	b.expect(sgcwire.MethodPublishMsg, nil)
	waitCounts(t, srv, counts{Conns: 2, Total: 2, In: 5, Out: 10, Pubs: 1, Members: 2, Channels: 1})

	if err := srv.Broadcast(t.Context(), "room", "from the server"); err != nil {
		t.Fatal(err)
	}
	a.expect(sgcwire.MethodPublishMsg, nil)
	b.expect(sgcwire.MethodPublishMsg, nil)
	waitCounts(t, srv, counts{Conns: 2, Total: 2, In: 5, Out: 12, Pubs: 2, Members: 2, Channels: 1})

	// A frame that is not the protocol: ignored (an unknown method) or
	// answered with error 40 (not JSON), counted either way.
	a.send(&sgcwire.Message{Method: "nothing@such"})
	a.sendText([]byte(`{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"say "hi""}}`))
	a.expectError(sgcwire.CodeInvalidMessage)
	waitCounts(t, srv, counts{Conns: 2, Total: 2, In: 7, Out: 13, Pubs: 2, Err: 1, Invalid: 2, Members: 2, Channels: 1})

	// A binary frame: the server closes b for cause (1003); b leaves.
	b.sendFrame(ws.NewBinaryFrame([]byte("x")))
	b.expectClose(ws.StatusUnsupportedData)
	a.expect(sgcwire.MethodRemoveChannelMember, nil)
	a.expect(sgcwire.MethodRemoveMember, nil)
	waitCounts(t, srv, counts{Conns: 1, Total: 2, In: 7, Out: 15, Pubs: 2, Err: 1, Cause: 1, Invalid: 2, Members: 1, Channels: 1})

	// A client that closes is not closed for cause.
	a.sendFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")))
	waitCounts(t, srv, counts{Conns: 0, Total: 2, In: 7, Out: 15, Pubs: 2, Err: 1, Cause: 1, Invalid: 2})
}

// TestStatsRateLimited: frames over the rate are counted as rate-limited,
// and the error frame that says so as an error.
func TestStatsRateLimited(t *testing.T) {
	srv, url := startServer(t, Options{Limits: Limits{MessagesPerSecond: 0.001, Burst: 1}})
	a := dial(t, url)
	a.join("alice", "") // the one token of the burst
	for i := range 3 {
		a.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Text: fmt.Sprint(i)})
	}
	a.expectError(sgcwire.CodeRateLimited)
	testkit.Poll(t, testTimeout, func() error {
		st := srv.Stats()
		if st.RateLimited == 3 && st.MessagesIn == 4 && st.Errors >= 1 && st.Publishes == 0 {
			return nil
		}
		return fmt.Errorf("rate limited %d, in %d, errors %d, publishes %d; want 3, 4, ≥1, 0", st.RateLimited, st.MessagesIn, st.Errors, st.Publishes)
	})
}
