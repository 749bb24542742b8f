package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// The kinds of hostile client of `rollcall bench hostile`.
const (
	kindMembers = "get@members" // asks for a member list again and again, never reads
	kindSlow    = "slow reader" // in the busy channel, never reads
	kindAckOnce = "ack once"    // with --ack: acknowledges once, then reads without acknowledging
	kindResub   = "pusher resubscribe"
)

// hostileKinds is the order of the kinds in the report.
var hostileKinds = []string{kindMembers, kindSlow, kindAckOnce, kindResub}

// hostile is one hostile client: a WebSocket whose reading the bench
// controls frame by frame, so that it can stop reading altogether.
type hostile struct {
	kind string
	conn net.Conn
	r    io.Reader // the handshake's leftovers, then conn
	id   string    // sgc session id or Pusher socket id
	sent atomic.Int64

	mu      sync.Mutex
	close   string // how the connection ended, as the client saw it
	errors  int    // sgc error 45 frames / Pusher 4301 errors read
	readErr error
}

// dialHostile opens a WebSocket to url and reads nothing yet.
func dialHostile(ctx context.Context, kind, url string, subprotocols ...string) (*hostile, error) {
	wc, err := dialWS(ctx, url, nil, subprotocols...)
	if err != nil {
		return nil, err
	}
	h := &hostile{kind: kind, conn: wc.conn, r: wc.conn}
	if wc.br != nil {
		h.r = io.MultiReader(wc.br, wc.conn)
	}
	return h, nil
}

// next reads one frame: a text message's payload, or nil with the
// connection's end noted for a close frame or a failed read.
func (h *hostile) next() ([]byte, error) {
	for {
		hd, err := ws.ReadHeader(h.r)
		if err != nil {
			return nil, err
		}
		p := make([]byte, hd.Length)
		if _, err := io.ReadFull(h.r, p); err != nil {
			return nil, err
		}
		switch hd.OpCode {
		case ws.OpText, ws.OpContinuation:
			return p, nil
		case ws.OpClose:
			code, reason := "1005", ""
			if len(p) >= 2 {
				code, reason = strconv.Itoa(int(binary.BigEndian.Uint16(p))), string(p[2:])
			}
			return nil, &closedError{strings.TrimSpace(code + " " + reason)}
		}
	}
}

// closedError is a close frame read from the server.
type closedError struct{ what string }

func (e *closedError) Error() string { return "closed " + e.what }

// expect reads frames until match accepts one, within the deadline.
func (h *hostile) expect(deadline time.Time, what string, match func([]byte) bool) ([]byte, error) {
	_ = h.conn.SetReadDeadline(deadline)
	defer h.conn.SetReadDeadline(time.Time{})
	for {
		p, err := h.next()
		if err != nil {
			return nil, fmt.Errorf("%s: waiting for %s: %w", h.kind, what, err)
		}
		if match(p) {
			return p, nil
		}
	}
}

func (h *hostile) write(p []byte) error {
	h.sent.Add(1)
	return writeClientText(h.conn, p)
}

// writeClientText writes p as one masked text frame.
func writeClientText(w io.Writer, p []byte) error {
	return ws.WriteFrame(w, ws.MaskFrame(ws.NewTextFrame(p)))
}

// joinSGC reads the session frame (acknowledging it when ackOnce), joins
// as a member and subscribes to channel, and returns once the server has
// echoed the subscription.
func (h *hostile) joinSGC(deadline time.Time, channel string, ackOnce bool) error {
	var enc sgcwire.Encoder
	p, err := h.expect(deadline, "the session frame", func(p []byte) bool { return bytes.Contains(p, []byte(sgcwire.MethodSession)) })
	if err != nil {
		return err
	}
	m, err := sgcwire.Decode(p)
	if err != nil {
		return fmt.Errorf("%s: session frame: %w", h.kind, err)
	}
	h.id = m.Text
	if ackOnce && m.ID != "" {
		if err := h.write(sgcwire.AppendAck(nil, m.ID)); err != nil {
			return err
		}
	}
	me := sgcwire.Member{ID: h.id, Name: h.kind}
	if err := h.write(enc.Encode(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: me})); err != nil {
		return err
	}
	if err := h.write(enc.Encode(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: channel, Member: me})); err != nil {
		return err
	}
	_, err = h.expect(deadline, "the subscription to "+channel, func(p []byte) bool {
		m, err := sgcwire.Decode(p)
		if err == nil && m.Method == sgcwire.MethodErrorMemberChannel {
			h.readErr = fmt.Errorf("refused: %d %s", m.Error.Code, m.Error.Text)
			return true
		}
		return err == nil && m.Method == sgcwire.MethodNewChannelMember && m.Member.ID == h.id
	})
	if err == nil {
		err, h.readErr = h.readErr, nil
	}
	return err
}

// establishPusher reads connection_established and keeps the socket id.
func (h *hostile) establishPusher(deadline time.Time) error {
	p, err := h.expect(deadline, "connection_established", func(p []byte) bool {
		return bytes.Contains(p, []byte(pusherwire.EventConnectionEstablished))
	})
	if err != nil {
		return err
	}
	f, err := pusherwire.DecodeFrame(p)
	if err != nil {
		return fmt.Errorf("%s: %w", h.kind, err)
	}
	var d struct {
		SocketID string `json:"socket_id"`
	}
	if err := json.Unmarshal(f.DataJSON(), &d); err != nil || d.SocketID == "" {
		return fmt.Errorf("%s: bad connection_established %s", h.kind, p)
	}
	h.id = d.SocketID
	return nil
}

// presenceSubscribe is a subscription to the presence channel ch, signed
// as an auth endpoint would sign it, for user id user.
func presenceSubscribe(socketID, ch, user string) []byte {
	cd := `{"user_id":"` + user + `"}`
	b, _ := json.Marshal(map[string]any{"event": pusherwire.EventSubscribe, "data": map[string]string{
		"channel": ch, "auth": pusherwire.PresenceAuth(PusherAppKey, PusherAppSecret, socketID, ch, cd), "channel_data": cd,
	}})
	return b
}

// hammer writes frame rate times a second until stop is closed or a write
// fails.
func (h *hostile) hammer(stop <-chan struct{}, rate float64, frame []byte) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if err := h.write(frame); err != nil {
				return
			}
		}
	}
}

// drain reads what the server sent, counting the rate-limit errors, until
// the connection ends, until nothing has come for quiet (it is still open),
// or until the deadline; it notes how the connection ended.
func (h *hostile) drain(quiet time.Duration, deadline time.Time) {
	var end string
	for end == "" {
		next := time.Now().Add(quiet)
		if next.After(deadline) {
			next = deadline
		}
		_ = h.conn.SetReadDeadline(next)
		p, err := h.next()
		var ce *closedError
		var ne net.Error
		switch {
		case errors.As(err, &ce):
			end = ce.what
		case errors.As(err, &ne) && ne.Timeout():
			end = "open"
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			end = "EOF without a close frame"
		case err != nil:
			end = "reset (" + shortErr(err) + ")"
		case isRateLimited(p):
			h.mu.Lock()
			h.errors++
			h.mu.Unlock()
		}
	}
	h.mu.Lock()
	h.close = end
	h.mu.Unlock()
}

// isRateLimited tells a rate-limit error frame: sgc error 45, or Pusher's
// pusher:error 4301.
func isRateLimited(p []byte) bool {
	return bytes.Contains(p, []byte(`"error":{"code":45,`)) || bytes.Contains(p, []byte(`\"code\":4301,`))
}

func shortErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// ended returns how the connection ended and the rate-limit errors read.
func (h *hostile) ended() (string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.close, h.errors
}
