package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// testTimeout bounds every wait in these tests.
const testTimeout = testkit.Timeout

// startServer runs a Server on a loopback port and shuts it down when the
// test ends.
func startServer(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	srv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv, testkit.WSURL(testkit.Serve(t, srv), "/")
}

// rawClient speaks WebSocket frame by frame, so tests can send anything
// and see exactly what the server writes.
type rawClient struct {
	t         *testing.T
	conn      net.Conn
	br        *bufio.Reader
	session   string
	enc       sgcwire.Encoder
	enveloped bool

	// noPong makes the client ignore pings (to test the idle timeout).
	noPong bool

	mu     sync.Mutex
	closed *closeInfo
}

type closeInfo struct {
	code   ws.StatusCode
	reason string
}

// dial connects with the presence subprotocol and reads the session frame.
func dial(t *testing.T, url string) *rawClient {
	t.Helper()
	c := dialProto(t, url, sgcwire.Subprotocol)
	m := c.read()
	if m.Method != sgcwire.MethodSession || len(m.Text) != 32 {
		t.Fatalf("first frame is not a session: %+v", m)
	}
	c.session = m.Text
	return c
}

func dialProto(t *testing.T, url string, protocols ...string) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, br, _, err := ws.Dialer{Protocols: protocols}.Dial(ctx, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if br == nil {
		br = bufio.NewReader(conn)
	}
	c := &rawClient{t: t, conn: conn, br: br}
	t.Cleanup(func() { conn.Close() })
	return c
}

// join sends member@new and reads the echo of its own join.
func (c *rawClient) join(name, info string) sgcwire.Member {
	c.t.Helper()
	me := sgcwire.Member{ID: c.session, Name: name, Info: info}
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: me})
	c.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member.ID == c.session })
	return me
}

func (c *rawClient) send(m *sgcwire.Message) {
	c.t.Helper()
	c.sendText(c.enc.Encode(m))
}

func (c *rawClient) sendText(b []byte) {
	c.t.Helper()
	if c.enveloped {
		b = sgcwire.AppendEnvelope(nil, b)
	}
	c.sendFrame(ws.NewTextFrame(b))
}

func (c *rawClient) sendFrame(f ws.Frame) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(testTimeout))
	if err := ws.WriteFrame(c.conn, ws.MaskFrameInPlace(f)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// readRaw returns the next text frame's payload, answering pings. It
// fails the test on a close frame or timeout.
func (c *rawClient) readRaw() []byte {
	c.t.Helper()
	b, err := c.next(testTimeout)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return b
}

var errClosed = errors.New("close frame received")

// next reads until a text frame arrives, the server closes, or d passes.
func (c *rawClient) next(d time.Duration) ([]byte, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return nil, err
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.br, p); err != nil {
			return nil, err
		}
		switch h.OpCode {
		case ws.OpPing:
			if !c.noPong {
				c.sendFrame(ws.NewPongFrame(p))
			}
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(p)
			c.mu.Lock()
			c.closed = &closeInfo{code, reason}
			c.mu.Unlock()
			return nil, errClosed
		case ws.OpText:
			if h.Fin {
				return p, nil
			}
			c.t.Fatalf("server sent a fragmented frame")
		}
	}
}

// read decodes the next frame (unwrapping the envelope when the
// client negotiated it).
func (c *rawClient) read() *sgcwire.Message {
	c.t.Helper()
	b := c.readRaw()
	if c.enveloped {
		p, ok, err := sgcwire.UnwrapEnvelope(b)
		if err != nil || !ok {
			c.t.Fatalf("bad enveloped frame %q: %v", b, err)
		}
		b = p
	}
	m, err := sgcwire.Decode(b)
	if err != nil {
		c.t.Fatalf("decode %s: %v", b, err)
	}
	return m
}

// expect reads frames until one has method (and passes match, if given);
// other frames are skipped.
func (c *rawClient) expect(method string, match func(*sgcwire.Message) bool) *sgcwire.Message {
	c.t.Helper()
	for {
		m := c.read()
		if m.Method == method && (match == nil || match(m)) {
			return m
		}
	}
}

// expectError reads frames until an error frame arrives and checks its code.
func (c *rawClient) expectError(code int) *sgcwire.Message {
	c.t.Helper()
	m := c.expect(sgcwire.MethodErrorMemberChannel, nil)
	if m.Error.Code != code {
		c.t.Fatalf("error code %d (%q), want %d", m.Error.Code, m.Error.Text, code)
	}
	return m
}

// expectClose reads until the server's close frame and checks its code.
func (c *rawClient) expectClose(code ws.StatusCode) string {
	c.t.Helper()
	for {
		_, err := c.next(testTimeout)
		if errors.Is(err, errClosed) {
			c.mu.Lock()
			got := *c.closed
			c.mu.Unlock()
			if got.code != code {
				c.t.Fatalf("close code %d (%q), want %d", got.code, got.reason, code)
			}
			return got.reason
		}
		if err != nil {
			c.t.Fatalf("waiting for close %d: %v", code, err)
		}
	}
}

// expectNothing checks that no text frame arrives within d.
func (c *rawClient) expectNothing(d time.Duration) {
	c.t.Helper()
	b, err := c.next(d)
	if err == nil {
		c.t.Fatalf("unexpected frame %s", b)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("waiting for silence: %v", err)
	}
}

func (c *rawClient) subscribe(channel string) {
	c.t.Helper()
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Member: sgcwire.Member{ID: c.session}, Channel: channel})
	c.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool {
		return m.Member.ID == c.session && m.Channel == channel
	})
}

// jsonEqual reports whether two frames hold the same JSON.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

func wsText(b []byte) ws.Frame { return ws.NewTextFrame(b) }
