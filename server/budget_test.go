package server

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/transport"
)

// fillChannel joins n members with info bytes of info each into channel
// and returns them.
func fillChannel(t *testing.T, url, channel string, n, info int) []*rawClient {
	t.Helper()
	out := make([]*rawClient, n)
	for i := range out {
		c := dial(t, url)
		c.join(fmt.Sprint("m", i), strings.Repeat("i", info))
		c.subscribe(channel)
		out[i] = c
	}
	return out
}

// TestMemberListSpammerHitsTheByteBudget: a client that asks for a large
// member list again and again and never reads makes the server hold at
// most its queue's byte budget: it is closed with 1008 and a reason that
// names the budget.
func TestMemberListSpammerHitsTheByteBudget(t *testing.T) {
	const budget = 1 << 20
	_, url := startServer(t, Options{Limits: Limits{
		MessagesPerSecond: NoRateLimit, MemberListsPerSecond: NoRateLimit, MaxQueueBytes: budget,
	}})
	fillChannel(t, url, "big", 20, 4000) // an ~80 KB list
	spammer := dial(t, url)
	spammer.join("spammer", "")
	get := spammer.enc.Encode(&sgcwire.Message{Method: sgcwire.MethodGetMembers, Channel: "big", Member: sgcwire.Member{ID: spammer.session}})
	// 400 lists are 32 MB: more than the socket buffers take, far less
	// than the frame-count limit (4,096) would allow.
	for range 400 {
		if err := ws.WriteFrame(spammer.conn, ws.MaskFrame(ws.NewTextFrame(get))); err != nil {
			break // the server closed the connection
		}
	}
	want := fmt.Sprintf("slow consumer: outbound queue over %d bytes", budget)
	if why := spammer.expectClose(transport.ClosePolicyViolation); why != want {
		t.Fatalf("closed with %q, want %q", why, want)
	}
}

// TestMemberListRate: member-list requests have their own rate, below the
// connection's; over it they are answered with error 45.
func TestMemberListRate(t *testing.T) {
	_, url := startServer(t, Options{Limits: Limits{MessagesPerSecond: NoRateLimit, MemberListsPerSecond: 1}})
	c := dial(t, url)
	c.join("a", "")
	for range 51 { // a burst of 50 (the least), then refused
		c.send(&sgcwire.Message{Method: sgcwire.MethodGetMembers, Member: sgcwire.Member{ID: c.session}})
	}
	for range 50 {
		c.expect(sgcwire.MethodSendMembers, nil)
	}
	if m := c.expectError(sgcwire.CodeRateLimited); !strings.Contains(m.Error.Text, "member lists per second") {
		t.Fatalf("error text %q", m.Error.Text)
	}
}

// TestMemberListSharedFrame: every requester of an unchanged channel gets
// the list in the frame Encode writes, whatever the requester, enveloped
// or not.
func TestMemberListSharedFrame(t *testing.T) {
	_, url := startServer(t, Options{})
	cs := fillChannel(t, url, "room", 3, 10)
	env := dialProto(t, url, sgcwire.EnvelopeSubprotocol)
	env.enveloped = true
	env.session = env.read().Text
	env.join("env", "")
	for _, c := range append(cs, env) {
		c.send(&sgcwire.Message{Method: sgcwire.MethodGetMembers, Channel: "room", Member: sgcwire.Member{ID: c.session}})
		var raw []byte
		var got *sgcwire.Message
		for got == nil || got.Method != sgcwire.MethodSendMembers {
			raw = c.readRaw()
			if c.enveloped {
				raw, _, _ = sgcwire.UnwrapEnvelope(raw)
			}
			var err error
			if got, err = sgcwire.Decode(raw); err != nil {
				t.Fatalf("decode %s: %v", raw, err)
			}
		}
		if got.Channel != "room" || got.Member.ID != c.session || len(got.Members) != 3 {
			t.Fatalf("list %+v", got)
		}
		if want := (sgcwire.Encoder{}).Encode(got); string(raw) != string(want) {
			t.Fatalf("list frame\n%s\nwant\n%s", raw, want)
		}
	}
}

// TestInvitationBudget: an invitee named 1,000 times gets one invitation;
// more distinct invitees than the cap are refused (error 40); and each
// invitee counts against the sender's rate (error 45).
func TestInvitationBudget(t *testing.T) {
	_, url := startServer(t, Options{Limits: Limits{MessagesPerSecond: 1, Burst: 20, MaxInvitees: 30}})
	inviter, invitee := dial(t, url), dial(t, url)
	inviter.join("inviter", "")
	invitee.join("invitee", "")
	invite := func(ids ...string) {
		m := &sgcwire.Message{Method: sgcwire.MethodChannelInvitation, Channel: "room", Member: sgcwire.Member{ID: inviter.session}}
		for _, id := range ids {
			m.Members = append(m.Members, sgcwire.Member{ID: id})
		}
		inviter.send(m)
	}
	same := `{"id":"` + invitee.session + `"}`
	inviter.sendText([]byte(`{"jsonrpc":"2.0","method":"sgc@presence@channel@invitation","channel":{"name":"room"},"member":{"id":"` +
		inviter.session + `"},"members":[` + strings.Repeat(same+",", 999) + same + `]}`))
	invitee.expect(sgcwire.MethodChannelInvitation, nil)
	invitee.expectNothing(200 * time.Millisecond)

	many := make([]string, 31)
	for i := range many {
		many[i] = fmt.Sprintf("%032X", i)
	}
	invite(many...)
	if m := inviter.expectError(sgcwire.CodeInvalidMessage); !strings.Contains(m.Error.Text, "at most 30") {
		t.Fatalf("error text %q", m.Error.Text)
	}
	// 25 invitees are more tokens than the burst has left.
	invite(many[:25]...)
	inviter.expectError(sgcwire.CodeRateLimited)
	invitee.expectNothing(50 * time.Millisecond)
}

// TestAckPendingBudget: a client that reads but stops acknowledging can
// make the server hold at most MaxPending unacknowledged frames: past it
// it is closed with 1008.
func TestAckPendingBudget(t *testing.T) {
	opts := ackOptions()
	opts.Acknowledgment.Timeout = time.Hour // no re-send in this test
	opts.Acknowledgment.MaxPending = 50
	opts.Limits.MessagesPerSecond = NoRateLimit
	_, url := startServer(t, opts)
	acker := dialAcking(t, url)
	acker.join("acker", "")
	acker.subscribe("room")
	pub := dial(t, url)
	pub.join("pub", "")
	pub.subscribe("room")
	for i := range 100 {
		pub.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: "room", Text: fmt.Sprint(i), Member: sgcwire.Member{ID: pub.session}})
	}
	if why := acker.expectClose(transport.ClosePolicyViolation); why != "acknowledgments: over 50 frames unacknowledged" {
		t.Fatalf("closed with %q", why)
	}
}

// TestAckNoResendWhileBehind: frames still queued to a client that is not
// reading are not re-sent behind themselves: a client that acknowledged
// once and then stopped reading gets no re-send.
func TestAckNoResendWhileBehind(t *testing.T) {
	opts := ackOptions() // re-send after 100 ms
	opts.Limits.MessagesPerSecond = NoRateLimit
	opts.Limits.MaxQueueBytes = 256 << 20
	opts.Acknowledgment.MaxPendingBytes = 256 << 20
	srv, url := startServer(t, opts)
	acker := dialAcking(t, url) // acknowledged once, then never reads
	// A small receive buffer, so that the kernel's buffers do not take
	// in what the client never reads (loopback's can grow to 32 MB).
	if err := acker.conn.(*net.TCPConn).SetReadBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	acker.join("acker", "")
	acker.subscribe("room")
	pub := dial(t, url)
	pub.join("pub", "")
	pub.subscribe("room")
	// pub reads everything it is sent, on its own: its copies of its
	// messages are queued after acker's.
	_ = pub.conn.SetReadDeadline(time.Time{})
	echoed := make(chan struct{})
	var got atomic.Int64
	var rerr atomic.Value
	go func() {
		n := 0
		for n < 200 {
			b, err := wsutil.ReadServerText(struct {
				io.Reader
				io.Writer
			}{pub.br, pub.conn})
			if err != nil {
				rerr.Store(err)
				return
			}
			got.Store(int64(n))
			if m, err := sgcwire.Decode(b); err == nil && m.Method == sgcwire.MethodPublishMsg {
				n++
			}
		}
		close(echoed)
	}()
	text := strings.Repeat("x", 60_000)
	// 200 frames of 60 KB: 12 MB, more than the socket buffers take, so
	// the rest waits in the server's outbound queue.
	for range 200 {
		pub.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: "room", Text: text, Member: sgcwire.Member{ID: pub.session}})
	}
	select {
	case <-echoed:
	case <-time.After(4 * testTimeout):
		t.Fatalf("the publishes were not all delivered: %d, %v", got.Load(), rerr.Load())
	}
	// Several timeouts pass with the frames queued. (The frames acker
	// read before, its join's echo and such, may have been re-sent
	// before.)
	before := srv.counters.AckResends.Load()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if n := srv.counters.AckResends.Load() - before; n > 0 {
			t.Fatalf("%d frames re-sent to a client that had not read them", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
