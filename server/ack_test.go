package server

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

func ackOptions() Options {
	return Options{Acknowledgment: Acknowledgment{
		Enabled: true, Interval: 20 * time.Millisecond, Timeout: 100 * time.Millisecond, MaxRetries: 3,
	}}
}

// openConns returns how many connections the server has open.
func (s *Server) openConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// TestAckResend: to a connection that acknowledges, a frame whose ack is
// withheld comes again byte-identical with the same id, until the ack
// arrives.
func TestAckResend(t *testing.T) {
	srv, url := startServer(t, ackOptions())
	c := dialAcking(t, url) // acknowledges the session frame
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: c.session, Name: "a"}})
	first := c.readRaw()
	m, err := sgcwire.Decode(first)
	if err != nil || m.Method != sgcwire.MethodNewMember || len(m.ID) != 32 {
		t.Fatalf("join echo without id: %s", first)
	}
	again := c.readRaw()
	if !bytes.Equal(first, again) {
		t.Fatalf("re-send differs:\n%s\n%s", first, again)
	}
	if n := srv.sgc.PendingAcks(); n != 1 {
		t.Fatalf("%d pending", n)
	}
	// Ack it (base64-encoded ids are accepted too).
	c.sendText(sgcwire.AppendAck(nil, sgcwire.EncodeValue(m.ID)))
	// At most one more copy may already be on its way; then silence.
	for {
		b, err := c.next(300 * time.Millisecond)
		if err != nil {
			break
		}
		if !bytes.Equal(b, first) {
			t.Fatalf("unexpected frame %s", b)
		}
	}
	if n := srv.sgc.PendingAcks(); n != 0 {
		t.Fatalf("%d pending after ack", n)
	}
}

// TestAckGivesUp: after MaxRetries re-sends the frame is dropped.
func TestAckGivesUp(t *testing.T) {
	srv, url := startServer(t, ackOptions())
	c := dialAcking(t, url)
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: c.session, Name: "a"}})
	first := c.readRaw()
	for i := 0; i < 3; i++ {
		if b := c.readRaw(); !bytes.Equal(b, first) {
			t.Fatalf("re-send %d differs: %s", i+1, b)
		}
	}
	c.expectNothing(300 * time.Millisecond)
	if n := srv.sgc.PendingAcks(); n != 0 {
		t.Fatalf("%d pending", n)
	}
}

// TestAckOnlyToConnectionsThatAcknowledge: with acknowledgments on, a
// connection that never acknowledges (sgc's browser client) gets every
// frame once, with its id, and no re-send; one that has sent an
// acknowledgment, or a frame with an id, keeps getting re-sends of what it
// does not acknowledge.
func TestAckOnlyToConnectionsThatAcknowledge(t *testing.T) {
	srv, url := startServer(t, ackOptions())
	silent := dialProto(t, url, sgcwire.Subprotocol)
	session := silent.read()
	if session.Method != sgcwire.MethodSession || session.ID == "" {
		t.Fatalf("session frame %+v", session)
	}
	silent.session = session.Text
	// the join as sgc's browser client sends it: no id
	silent.sendText([]byte(`{"jsonrpc":"2.0", "method":"sgc@presence@member@new","member":{"id":"` + silent.session + `","name":"page","info":""}}`))
	if m := silent.read(); m.Method != sgcwire.MethodNewMember || m.Member.Name != "page" || m.ID == "" {
		t.Fatalf("join echo %+v", m)
	}

	// A client that ids its own frames but never sends an acknowledgment
	// is one that acknowledges too.
	ider := dialProto(t, url, sgcwire.Subprotocol)
	ider.session = ider.read().Text
	ider.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: ider.session, Name: "ider"}, ID: "REQ1"})
	if got := string(ider.readRaw()); got != `{"jsonrpc":"2.0","method":"sgc@presence@acknowledgment","id":"REQ1"}` {
		t.Fatalf("ack %s", got)
	}
	ider.expect(sgcwire.MethodNewMember, nil)
	if m := silent.read(); m.Method != sgcwire.MethodNewMember || m.Member.Name != "ider" {
		t.Fatalf("silent heard %+v", m)
	}

	acker := dialAcking(t, url)
	acker.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: acker.session, Name: "acker"}})
	// silent hears acker's join once; acker and ider hear it again and
	// again, up to the retry limit.
	heard := silent.read()
	if heard.Method != sgcwire.MethodNewMember || heard.Member.Name != "acker" {
		t.Fatalf("silent heard %+v", heard)
	}
	for _, c := range []*rawClient{acker, ider} {
		var echo []byte
		copies := 0
		for copies < 1+3 {
			b := c.readRaw()
			m, err := sgcwire.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if m.Method == sgcwire.MethodSession || m.Method == sgcwire.MethodNewMember && m.Member.Name == "ider" {
				continue // ider's re-sends of its session frame and its own join
			}
			if m.Method != sgcwire.MethodNewMember || m.Member.Name != "acker" {
				t.Fatalf("%s: unexpected %s", c.session, b)
			}
			if echo == nil {
				echo = b
			} else if !bytes.Equal(b, echo) {
				t.Fatalf("re-send differs:\n%s\n%s", echo, b)
			}
			copies++
		}
	}
	// Every frame has been acknowledged, given up after its re-sends, or
	// given up without one (silent's): nothing is left to re-send...
	testkit.Poll(t, testTimeout, func() error {
		if n := srv.sgc.PendingAcks(); n > 0 {
			return fmt.Errorf("%d frames still pending", n)
		}
		return nil
	})
	// ...and silent got no copy of anything.
	silent.expectNothing(200 * time.Millisecond)
}

// TestAckDroppedOnClose: the pending entries of a closed connection go.
func TestAckDroppedOnClose(t *testing.T) {
	srv, url := startServer(t, ackOptions())
	c := dialProto(t, url)
	c.readRaw()
	c.conn.Close()
	testkit.Eventually(t, testTimeout, "the server to see the connection closed", func() bool { return srv.openConns() == 0 })
	if n := srv.sgc.PendingAcks(); n != 0 {
		t.Fatalf("%d pending after close", n)
	}
}

// TestClientIDsAreAcked: a frame with an id is acknowledged before it is
// processed, even with the server's own acks off.
func TestClientIDsAreAcked(t *testing.T) {
	_, url := startServer(t, Options{})
	c := dial(t, url)
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: c.session, Name: "a"}, ID: "REQ1"})
	if got := string(c.readRaw()); got != `{"jsonrpc":"2.0","method":"sgc@presence@acknowledgment","id":"REQ1"}` {
		t.Fatalf("first frame %s", got)
	}
	if m := c.read(); m.Method != sgcwire.MethodNewMember || m.ID != "" {
		t.Fatalf("then %+v", m)
	}
	// base64 ids are decoded before the ack; acks are never acked.
	c.sendText([]byte(`{"jsonrpc":"2.0","method":"sgc@presence@get@members","id":"sgc@b64:UkVRMg=="}`))
	if got := string(c.readRaw()); got != `{"jsonrpc":"2.0","method":"sgc@presence@acknowledgment","id":"REQ2"}` {
		t.Fatalf("ack %s", got)
	}
	c.expect(sgcwire.MethodSendMembers, nil)
	c.sendText(sgcwire.AppendAck(nil, "NOTHING"))
	c.expectNothing(100 * time.Millisecond)
}

// TestAckFanoutIDs: with acks on each recipient of a fan-out gets its own
// id on the same bytes.
func TestAckFanoutIDs(t *testing.T) {
	_, url := startServer(t, ackOptions())
	a, b := dialAcking(t, url), dialAcking(t, url)
	a.join("a", "")
	b.join("b", "")
	ma := a.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member.Name == "b" })
	mb := b.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member.Name == "b" })
	if ma.ID == "" || mb.ID == "" || ma.ID == mb.ID {
		t.Fatalf("ids %q %q", ma.ID, mb.ID)
	}
}

// dialAcking dials and reads the session frame; callers ack by hand where
// they need to (expect acks nothing, so frames get re-sent; tests that use
// it only look at the first copies).
func dialAcking(t *testing.T, url string) *rawClient {
	t.Helper()
	c := dialProto(t, url)
	m := c.read()
	c.sendText(sgcwire.AppendAck(nil, m.ID))
	c.session = m.Text
	return c
}

// TestAcksAreNotRateLimited: a client acknowledging many frames is not
// throttled for it.
func TestAcksAreNotRateLimited(t *testing.T) {
	_, url := startServer(t, Options{Limits: Limits{MessagesPerSecond: 1, Burst: 2}})
	c := dial(t, url)
	for i := 0; i < 50; i++ {
		c.sendText(sgcwire.AppendAck(nil, sgcwire.NewID()))
	}
	c.join("a", "") // the join is the first limited frame: allowed
	c.expectNothing(100 * time.Millisecond)
}
