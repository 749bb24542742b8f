package testkit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// WS is a WebSocket client driven frame by frame, so that a test sees
// exactly what the server writes, pings and close frames included, and
// can leave pings unanswered.
type WS struct {
	Conn net.Conn
	br   *bufio.Reader
	// NoPong leaves the server's pings unanswered (to see an idle timeout).
	NoPong bool
}

// CloseError is the close frame that ended a read.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("close frame %d %q", e.Code, e.Reason)
}

// DialWS opens a WebSocket connection to url with the header and
// subprotocols given, closed at the end of the test.
func DialWS(t testing.TB, url string, h http.Header, protocols ...string) *WS {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	conn, br, _, err := ws.Dialer{Protocols: protocols, Header: ws.HandshakeHeaderHTTP(h)}.Dial(ctx, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if br == nil {
		br = bufio.NewReader(conn)
	}
	t.Cleanup(func() { conn.Close() })
	return &WS{Conn: conn, br: br}
}

// Next returns the payload of the next text frame that comes within d,
// answering pings unless NoPong. A close frame ends it with a *CloseError.
func (c *WS) Next(d time.Duration) ([]byte, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(d))
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
			if !c.NoPong {
				if err := c.WriteFrame(ws.NewPongFrame(p)); err != nil {
					return nil, err
				}
			}
		case ws.OpClose:
			code, reason := ws.ParseCloseFrameData(p)
			return nil, &CloseError{code, reason}
		case ws.OpText:
			if !h.Fin {
				return nil, fmt.Errorf("fragmented text frame")
			}
			return p, nil
		}
	}
}

// WriteFrame masks f and writes it within Timeout.
func (c *WS) WriteFrame(f ws.Frame) error {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(Timeout))
	return ws.WriteFrame(c.Conn, ws.MaskFrameInPlace(f))
}

// ExpectClose reads, skipping text frames, until the server's close frame,
// and returns it; it fails the test if none comes within d.
func (c *WS) ExpectClose(t testing.TB, d time.Duration) *CloseError {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		_, err := c.Next(time.Until(deadline))
		if ce, ok := err.(*CloseError); ok {
			return ce
		}
		if err != nil {
			t.Fatalf("waiting for a close frame: %v", err)
		}
	}
}
