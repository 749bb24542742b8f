package server

import (
	"bytes"
	"testing"
	"time"

	"github.com/rollcall/rollcall/protocol/sgc"
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

// TestAckResend: a frame whose ack is withheld comes again byte-identical
// with the same id, until the ack arrives.
func TestAckResend(t *testing.T) {
	srv, url := startServer(t, ackOptions())
	c := dialProto(t, url)
	first := c.readRaw()
	m, err := sgc.Decode(first)
	if err != nil || m.Method != sgc.MethodSession || len(m.ID) != 32 {
		t.Fatalf("session frame without id: %s", first)
	}
	again := c.readRaw()
	if !bytes.Equal(first, again) {
		t.Fatalf("re-send differs:\n%s\n%s", first, again)
	}
	if n := srv.sgc.PendingAcks(); n != 1 {
		t.Fatalf("%d pending", n)
	}
	// Ack it (base64-encoded ids are accepted too).
	c.sendText(sgc.AppendAck(nil, sgc.EncodeValue(m.ID)))
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
	c := dialProto(t, url)
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

// TestAckDroppedOnClose: the pending entries of a closed connection go.
func TestAckDroppedOnClose(t *testing.T) {
	srv, url := startServer(t, ackOptions())
	c := dialProto(t, url)
	c.readRaw()
	c.conn.Close()
	deadline := time.Now().Add(testTimeout)
	for srv.openConns() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := srv.sgc.PendingAcks(); n != 0 {
		t.Fatalf("%d pending after close", n)
	}
}

// TestClientIDsAreAcked: a frame with an id is acknowledged before it is
// processed, even with the server's own acks off.
func TestClientIDsAreAcked(t *testing.T) {
	_, url := startServer(t, Options{})
	c := dial(t, url)
	c.send(&sgc.Message{Method: sgc.MethodNewMember, Member: sgc.Member{ID: c.session, Name: "a"}, ID: "REQ1"})
	if got := string(c.readRaw()); got != `{"jsonrpc":"2.0","method":"sgc@presence@acknowledgment","id":"REQ1"}` {
		t.Fatalf("first frame %s", got)
	}
	if m := c.read(); m.Method != sgc.MethodNewMember || m.ID != "" {
		t.Fatalf("then %+v", m)
	}
	// base64 ids are decoded before the ack; acks are never acked.
	c.sendText([]byte(`{"jsonrpc":"2.0","method":"sgc@presence@get@members","id":"sgc@b64:UkVRMg=="}`))
	if got := string(c.readRaw()); got != `{"jsonrpc":"2.0","method":"sgc@presence@acknowledgment","id":"REQ2"}` {
		t.Fatalf("ack %s", got)
	}
	c.expect(sgc.MethodSendMembers, nil)
	c.sendText(sgc.AppendAck(nil, "NOTHING"))
	c.expectNothing(100 * time.Millisecond)
}

// TestAckFanoutIDs: with acks on each recipient of a fan-out gets its own
// id on the same bytes.
func TestAckFanoutIDs(t *testing.T) {
	_, url := startServer(t, ackOptions())
	a, b := dialAcking(t, url), dialAcking(t, url)
	a.join("a", "")
	b.join("b", "")
	ma := a.expect(sgc.MethodNewMember, func(m *sgc.Message) bool { return m.Member.Name == "b" })
	mb := b.expect(sgc.MethodNewMember, func(m *sgc.Message) bool { return m.Member.Name == "b" })
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
	c.sendText(sgc.AppendAck(nil, m.ID))
	c.session = m.Text
	return c
}

// TestAcksAreNotRateLimited: a client acknowledging many frames is not
// throttled for it.
func TestAcksAreNotRateLimited(t *testing.T) {
	_, url := startServer(t, Options{Limits: Limits{MessagesPerSecond: 1, Burst: 2}})
	c := dial(t, url)
	for i := 0; i < 50; i++ {
		c.sendText(sgc.AppendAck(nil, sgc.NewID()))
	}
	c.join("a", "") // the join is the first limited frame: allowed
	c.expectNothing(100 * time.Millisecond)
}
