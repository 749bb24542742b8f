package server

import (
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/transport"
)

// bystander is a joined member of channel "room" used to show that one
// client's bad input leaves everyone else untouched.
type bystander struct {
	*rawClient
	member sgcwire.Member
}

func newBystander(t *testing.T, url string) *bystander {
	t.Helper()
	c := dial(t, url)
	m := c.join("bystander", "")
	c.subscribe("room")
	return &bystander{c, m}
}

// stillWorks checks the bystander can publish and hears its own message,
// after skipping whatever events the offender caused.
func (b *bystander) stillWorks() {
	b.t.Helper()
	b.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: "room", Text: "still here"})
	m := b.expect(sgcwire.MethodPublishMsg, nil)
	if m.Text != "still here" || m.Member != b.member {
		b.t.Fatalf("bystander got %+v", m)
	}
}

// TestBadInputCloses covers input that ends the connection with a close
// code naming the problem: frames that are not the protocol with
// Options.Strict (otherwise TestLenientFrames), and what is not a valid
// text message in either mode.
func TestBadInputCloses(t *testing.T) {
	tests := []struct {
		name       string
		strictOnly bool
		frame      func(c *rawClient) ws.Frame
		code       ws.StatusCode
		reason     string
	}{
		{"not json", true, func(*rawClient) ws.Frame { return ws.NewTextFrame([]byte("hello?")) },
			transport.CloseProtocolError, "not a JSON object"},
		{"json array", true, func(*rawClient) ws.Frame { return ws.NewTextFrame([]byte(`[1]`)) },
			transport.CloseProtocolError, "not a JSON object"},
		{"unescaped quote", true, func(*rawClient) ws.Frame { return ws.NewTextFrame([]byte(unescapedQuote)) },
			transport.CloseProtocolError, "not a JSON object"},
		{"jsonrpc 1.0", true, func(*rawClient) ws.Frame {
			return ws.NewTextFrame([]byte(`{"jsonrpc":"1.0","method":"sgc@presence@get@members"}`))
		}, transport.CloseProtocolError, `"jsonrpc" must be "2.0"`},
		{"no method", true, func(*rawClient) ws.Frame { return ws.NewTextFrame([]byte(`{"jsonrpc":"2.0"}`)) },
			transport.CloseProtocolError, `"method"`},
		{"binary frame", false, func(*rawClient) ws.Frame { return ws.NewBinaryFrame([]byte(`{"jsonrpc":"2.0"}`)) },
			transport.CloseUnsupportedData, "binary frames are not supported"},
		{"invalid utf-8", false, func(*rawClient) ws.Frame { return ws.NewTextFrame([]byte("{\"jsonrpc\":\"2.0\",\"x\":\"\xff\xfe\"}")) },
			transport.CloseInvalidPayload, "not valid UTF-8"},
		{"oversized", false, func(*rawClient) ws.Frame {
			return ws.NewTextFrame([]byte(`{"jsonrpc":"2.0","method":"x","message":{"text":"` + strings.Repeat("a", 2048) + `"}}`))
		}, transport.CloseMessageTooBig, "message exceeds 1024 bytes"},
		{"reserved bits", false, func(*rawClient) ws.Frame {
			f := ws.NewTextFrame([]byte(`{}`))
			f.Header.Rsv = 4
			return f
		}, transport.CloseProtocolError, "reserved bits"},
	}
	for _, tt := range tests {
		for _, strict := range []bool{true, false} {
			if tt.strictOnly && !strict {
				continue
			}
			t.Run(fmt.Sprintf("%s strict=%v", tt.name, strict), func(t *testing.T) {
				t.Parallel()
				srv, url := startServer(t, Options{Limits: Limits{MaxMessageSize: 1024}, Strict: strict})
				by := newBystander(t, url)
				bad := dial(t, url)
				me := bad.join("offender", "")
				bad.subscribe("room")
				bad.sendFrame(tt.frame(bad))
				if reason := bad.expectClose(tt.code); !strings.Contains(reason, tt.reason) {
					t.Fatalf("close reason %q, want %q", reason, tt.reason)
				}
				// the offender's presence is cleaned up and the bystander hears it
				if m := by.expect(sgcwire.MethodRemoveMember, nil); m.Member != me {
					t.Fatalf("bystander saw %+v", m)
				}
				by.stillWorks()
				if n := srv.Engine().MemberCount(); n != 1 {
					t.Fatalf("%d members", n)
				}
			})
		}
	}
}

// unescapedQuote is a publish as sgc's browser client builds it, by
// concatenation, for the text `say "hi"`: not JSON.
const unescapedQuote = `{"jsonrpc":"2.0", "method":"sgc@presence@publish@msg", "message":{"text":"say "hi""}, "channel":{"name":"room"}, "member":{"id":"", "name":"", "info":""}}`

// TestLenientFrames: by default a frame that is not JSON (as sgc's browser
// client sends for a text holding a quote or a line break) or whose
// "jsonrpc" is wrong is answered with error 40, and one without a method or
// with an unknown method is ignored (acknowledged if it has an id); the
// connection stays open, keeps its member and channels, and the next
// publish is heard. Each such frame is counted in Stats.InvalidFrames.
func TestLenientFrames(t *testing.T) {
	srv, url := startServer(t, Options{})
	by := newBystander(t, url)
	c := dial(t, url)
	me := c.join("page", "")
	c.subscribe("room")
	by.expect(sgcwire.MethodNewChannelMember, nil)

	for _, tt := range []struct{ name, frame, text string }{
		{"unescaped quote", unescapedQuote,
			`Invalid message: frame is not a JSON object (is a " or a line break inside a value not escaped?).`},
		{"raw line break", "{\"jsonrpc\":\"2.0\", \"method\":\"sgc@presence@publish@msg\", \"message\":{\"text\":\"two\nlines\"}, \"channel\":{\"name\":\"room\"}}",
			`Invalid message: frame is not a JSON object (is a " or a line break inside a value not escaped?).`},
		{"not an object", `"hello"`,
			`Invalid message: frame is not a JSON object (is a " or a line break inside a value not escaped?).`},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","method":"sgc@presence@get@members"}`,
			`Invalid message: "jsonrpc" must be "2.0".`},
	} {
		c.sendText([]byte(tt.frame))
		e := c.expectError(sgcwire.CodeInvalidMessage)
		if e.Error.Text != tt.text || e.Member != me {
			t.Fatalf("%s: error %+v from %+v, want %q from %+v", tt.name, e.Error, e.Member, tt.text, me)
		}
	}
	// Ignored: no reply at all, so the reply to the next request is the
	// next frame; a frame with an id is still acknowledged first.
	for _, frame := range []string{
		`{"jsonrpc":"2.0"}`,
		`{"jsonrpc":"2.0","method":""}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@teleport","channel":{"name":"room"}}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@teleport","id":"T1"}`,
	} {
		c.sendText([]byte(frame))
		if strings.Contains(frame, `"T1"`) {
			if got := string(c.readRaw()); got != `{"jsonrpc":"2.0","method":"sgc@presence@acknowledgment","id":"T1"}` {
				t.Fatalf("after %s: %s, want its ack", frame, got)
			}
		}
		c.send(&sgcwire.Message{Method: sgcwire.MethodGetMembers, Channel: "room"})
		if m := c.read(); m.Method != sgcwire.MethodSendMembers || len(m.Members) != 2 {
			t.Fatalf("after %s: %+v, want the member list of room", frame, m)
		}
	}
	// The connection is open and present: the next publish is heard.
	c.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: "room", Text: `say "hi"`})
	if m := by.expect(sgcwire.MethodPublishMsg, nil); m.Text != `say "hi"` || m.Member != me {
		t.Fatalf("bystander heard %+v", m)
	}
	c.expect(sgcwire.MethodPublishMsg, func(m *sgcwire.Message) bool { return m.Text == `say "hi"` })
	by.stillWorks()
	if st := srv.Stats(); st.InvalidFrames != 8 || st.ClosedForCause != 0 || st.Members != 2 {
		t.Fatalf("invalid frames %d, closed for cause %d, members %d; want 8, 0, 2", st.InvalidFrames, st.ClosedForCause, st.Members)
	}
}

// TestStrictFrames: with Options.Strict an unknown method is answered with
// error 41 (and the frames of TestBadInputCloses close the connection).
func TestStrictFrames(t *testing.T) {
	srv, url := startServer(t, Options{Strict: true})
	c := dial(t, url)
	me := c.join("c", "")
	c.sendText([]byte(`{"jsonrpc":"2.0","method":"sgc@presence@teleport"}`))
	if e := c.expectError(sgcwire.CodeUnknownMethod); e.Error.Text != "Unknown method: sgc@presence@teleport" || e.Member != me {
		t.Fatalf("error frame %+v", e)
	}
	c.sendText([]byte(unescapedQuote))
	c.expectClose(transport.CloseProtocolError)
	if st := srv.Stats(); st.InvalidFrames != 2 {
		t.Fatalf("invalid frames %d, want 2", st.InvalidFrames)
	}
}

// TestUnmaskedFrameCloses: a client frame without a mask is a protocol
// error (RFC 6455 §5.1).
func TestUnmaskedFrameCloses(t *testing.T) {
	_, url := startServer(t, Options{})
	c := dial(t, url)
	if err := ws.WriteFrame(c.conn, ws.NewTextFrame([]byte(`{}`))); err != nil {
		t.Fatal(err)
	}
	if r := c.expectClose(transport.CloseProtocolError); !strings.Contains(r, "masked") {
		t.Fatalf("reason %q", r)
	}
}

// TestBadInputErrorFrames covers input answered with an error frame; the
// connection stays usable.
func TestBadInputErrorFrames(t *testing.T) {
	_, url := startServer(t, Options{})
	by := newBystander(t, url)
	c := dial(t, url)
	me := c.join("c", "")
	by.expect(sgcwire.MethodNewMember, nil)
	tests := []struct {
		name  string
		frame string
		code  int
		text  string
	}{
		{"wrong-typed channel", `{"jsonrpc":"2.0","method":"sgc@presence@channel@member@new","channel":{"name":42}}`,
			sgcwire.CodeInvalidMessage, `Invalid message: field "channel.name" must be a string.`},
		{"member not an object", `{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","member":"me","message":{"text":"x"}}`,
			sgcwire.CodeInvalidMessage, `Invalid message: field "member" must be an object.`},
		{"bad base64", `{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"sgc@b64:%%%"}}`,
			sgcwire.CodeInvalidMessage, `Invalid message: field "message.text" has an invalid sgc@b64: value.`},
		{"server-only method", `{"jsonrpc":"2.0","method":"sgc@presence@session","message":{"text":"x"}}`,
			sgcwire.CodeInvalidMessage, "Invalid message: sgc@presence@session is sent by the server, not to it."},
		{"acting for another member", `{"jsonrpc":"2.0","method":"sgc@presence@member@remove","member":{"id":"` + by.session + `"}}`,
			sgcwire.CodeNotOwnMember, "Member id does not belong to this connection."},
		{"publishing as another member", `{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"fake"},"member":{"id":"` + by.session + `"}}`,
			sgcwire.CodeNotOwnMember, "Member id does not belong to this connection."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.sendText([]byte(tt.frame))
			e := c.expectError(tt.code)
			if e.Error.Text != tt.text {
				t.Fatalf("text %q, want %q", e.Error.Text, tt.text)
			}
			if e.Member != me {
				t.Fatalf("error frame member %+v", e.Member)
			}
		})
	}
	// the bystander was neither removed nor spoken for
	by.stillWorks()
	c.subscribe("room")
}

// TestFloodIsRateLimited: frames over the rate are dropped and answered
// with error 45 once; the bystander keeps working and the offender recovers.
func TestFloodIsRateLimited(t *testing.T) {
	_, url := startServer(t, Options{Limits: Limits{MessagesPerSecond: 5, Burst: 10}})
	by := newBystander(t, url)
	c := dial(t, url)
	c.join("flooder", "")
	c.subscribe("room")
	by.expect(sgcwire.MethodNewChannelMember, nil)
	const sent = 200
	for i := 0; i < sent; i++ {
		c.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: "room", Text: "flood"})
	}
	c.expectError(sgcwire.CodeRateLimited)
	// At most the burst (plus what refilled meanwhile) got through.
	got := 0
	for {
		b, err := by.next(300 * time.Millisecond)
		if err != nil {
			break
		}
		if m, _ := sgcwire.Decode(b); m != nil && m.Text == "flood" {
			got++
		}
	}
	if got == 0 || got > 20 {
		t.Fatalf("bystander received %d of %d flood messages; want between 1 and 20", got, sent)
	}
	by.stillWorks()
	// The flooder may speak again once its bucket has a token back (a
	// fifth of a second at this rate): it says sorry until it is heard.
	testkit.Eventually(t, testTimeout, "the flooder to be heard again", func() bool {
		c.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: "room", Text: "sorry"})
		for {
			b, err := by.next(100 * time.Millisecond)
			if err != nil {
				return false // refused: its bucket is still empty
			}
			if m, _ := sgcwire.Decode(b); m != nil && m.Method == sgcwire.MethodPublishMsg {
				if m.Text != "sorry" {
					t.Fatalf("got %+v", m)
				}
				return true
			}
		}
	})
}

// TestSlowConsumerIsDisconnected: a client that never reads is closed when
// its queue overflows, and the others see it leave.
func TestSlowConsumerIsDisconnected(t *testing.T) {
	srv, url := startServer(t, Options{Limits: Limits{QueueLength: 8, MessagesPerSecond: 1e6, Burst: 1e6}})
	by := newBystander(t, url)
	slow := dial(t, url)
	me := slow.join("slow", "")
	by.expect(sgcwire.MethodNewMember, nil)
	slow.subscribe("feed")
	// The slow client stops reading; the server broadcasts big messages to
	// its channel until the kernel buffers and then the queue of 8 frames
	// are full. The bystander is not in that channel: it hears only the
	// slow member's leave, and cannot fall behind itself however loaded
	// the machine is.
	text := strings.Repeat("x", 60<<10)
	deadline := time.Now().Add(testTimeout)
	left := false
	for !left && time.Now().Before(deadline) {
		for range 4 {
			if err := srv.Broadcast(t.Context(), "feed", text); err != nil {
				t.Fatal(err)
			}
		}
		for {
			b, err := by.next(50 * time.Millisecond)
			if err != nil {
				break
			}
			if m, _ := sgcwire.Decode(b); m != nil && m.Method == sgcwire.MethodRemoveMember && m.Member == me {
				left = true
			}
		}
	}
	if !left {
		t.Fatal("slow consumer was never disconnected")
	}
	by.stillWorks()
	if n := srv.Engine().MemberCount(); n != 1 {
		t.Fatalf("%d members", n)
	}
	if st := srv.Stats(); st.SlowConsumers != 1 || st.ClosedForCause != 1 {
		t.Fatalf("slow consumers %d, closed for cause %d; want 1 and 1", st.SlowConsumers, st.ClosedForCause)
	}
}

// TestIdleTimeout: a client that answers no pings is closed with 1001; one
// that does stays connected.
func TestIdleTimeout(t *testing.T) {
	_, url := startServer(t, Options{PingInterval: 50 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	alive := dial(t, url)
	mute := dial(t, url)
	mute.noPong = true
	// alive answers pings while it waits, for twice the idle timeout
	alive.expectNothing(600 * time.Millisecond)
	alive.join("alive", "")
	// mute read nothing meanwhile; its close frame is waiting
	if r := mute.expectClose(transport.CloseGoingAway); r != "idle timeout" {
		t.Fatalf("reason %q", r)
	}
}

// TestShutdownClosesWith1001 checks the graceful shutdown close frame.
func TestShutdownClosesWith1001(t *testing.T) {
	srv, url := startServer(t, Options{})
	c := dial(t, url)
	c.join("x", "")
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(t.Context()) }()
	if r := c.expectClose(transport.CloseGoingAway); r != "server shutting down" {
		t.Fatalf("reason %q", r)
	}
	c.conn.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestFragmentedMessages: fragments are reassembled, and the size limit
// counts the whole message; framing mistakes close with 1002.
func TestFragmentedMessages(t *testing.T) {
	_, url := startServer(t, Options{Limits: Limits{MaxMessageSize: 1024}})
	c := dial(t, url)
	frame := (&sgcwire.Encoder{}).Encode(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: c.session, Name: "frag"}})
	half := len(frame) / 2
	c.sendFrame(ws.NewFrame(ws.OpText, false, frame[:half]))
	c.sendFrame(ws.NewPingFrame([]byte("mid-message ping"))) // control frames may interleave
	c.sendFrame(ws.NewFrame(ws.OpContinuation, true, frame[half:]))
	if m := c.expect(sgcwire.MethodNewMember, nil); m.Member.Name != "frag" {
		t.Fatalf("got %+v", m)
	}

	big := dial(t, url)
	chunk := []byte(strings.Repeat("a", 600))
	big.sendFrame(ws.NewFrame(ws.OpText, false, chunk))
	big.sendFrame(ws.NewFrame(ws.OpContinuation, true, chunk))
	big.expectClose(transport.CloseMessageTooBig)

	stray := dial(t, url)
	stray.sendFrame(ws.NewFrame(ws.OpContinuation, true, []byte("{}")))
	if r := stray.expectClose(transport.CloseProtocolError); !strings.Contains(r, "continuation") {
		t.Fatalf("reason %q", r)
	}

	ctl := dial(t, url)
	ctl.sendFrame(ws.NewFrame(ws.OpPing, false, []byte("x")))
	if r := ctl.expectClose(transport.CloseProtocolError); !strings.Contains(r, "control frames") {
		t.Fatalf("reason %q", r)
	}
}

// TestClientPingGetsPong: the server answers a ping with the same payload.
func TestClientPingGetsPong(t *testing.T) {
	_, url := startServer(t, Options{})
	c := dial(t, url)
	c.sendFrame(ws.NewPingFrame([]byte("hello")))
	_ = c.conn.SetReadDeadline(time.Now().Add(testTimeout))
	h, err := ws.ReadHeader(c.br)
	if err != nil || h.OpCode != ws.OpPong || h.Length != 5 {
		t.Fatalf("got %+v %v", h, err)
	}
	p := make([]byte, 5)
	if _, err := io.ReadFull(c.br, p); err != nil || string(p) != "hello" {
		t.Fatalf("pong payload %q %v", p, err)
	}
}

// TestNoRateLimit: with MessagesPerSecond NoRateLimit a client may send far
// more than the default burst at once; every frame is delivered and none is
// refused with error 45.
func TestNoRateLimit(t *testing.T) {
	_, url := startServer(t, Options{Limits: Limits{MessagesPerSecond: NoRateLimit}})
	c := dial(t, url)
	c.join("fast", "")
	c.subscribe("room")
	const sent = 5 * 2 * DefaultMessagesPerSecond // five default bursts
	for i := range sent {
		c.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: "room", Text: fmt.Sprint(i)})
	}
	for i := range sent {
		m := c.read()
		if m.Method != sgcwire.MethodPublishMsg || m.Text != fmt.Sprint(i) {
			t.Fatalf("frame %d: %+v, want publish %d", i, m, i)
		}
	}
	if _, err := New(Options{Limits: Limits{MessagesPerSecond: math.NaN()}}); err == nil {
		t.Fatal("a NaN rate was accepted")
	}
}
