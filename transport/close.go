package transport

import (
	"io"
	"time"

	"github.com/gobwas/ws"
)

// Close codes used by the transport (RFC 6455 §7.4.1).
const (
	CloseNormal          = ws.StatusNormalClosure           // 1000
	CloseGoingAway       = ws.StatusGoingAway               // 1001: server shutdown, idle timeout
	CloseProtocolError   = ws.StatusProtocolError           // 1002
	CloseUnsupportedData = ws.StatusUnsupportedData         // 1003: binary frames
	CloseNoStatus        = ws.StatusNoStatusRcvd            // 1005
	CloseAbnormal        = ws.StatusAbnormalClosure         // 1006: no close frame
	CloseInvalidPayload  = ws.StatusInvalidFramePayloadData // 1007: invalid UTF-8
	ClosePolicyViolation = ws.StatusPolicyViolation         // 1008: slow consumer
	CloseMessageTooBig   = ws.StatusMessageTooBig           // 1009
	CloseInternalError   = ws.StatusInternalServerError     // 1011
)

// Close sends a close frame with code and reason after the frames already
// queued, then closes the socket once the peer answers or CloseTimeout
// passes. It is safe to call more than once; only the first counts.
func (c *Conn) Close(code ws.StatusCode, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, reason, false)
}

func (c *Conn) closeLocked(code ws.StatusCode, reason string, dropQueued bool) {
	if c.closing || c.closed {
		return
	}
	c.closing = true
	c.sentCode, c.sentWhy = code, reason
	if dropQueued {
		// The peer is not reading: what is queued will never arrive in
		// time. Give the blocked write a short deadline.
		c.queue, c.queueBytes = c.queue[:0], 0
		_ = c.nc.SetWriteDeadline(time.Now().Add(DefaultCloseTimeout))
	}
	c.queue = append(c.queue, outFrame{op: ws.OpClose, head: ws.NewCloseFrameBody(code, reason)})
	c.startWriterLocked()
	// Whatever the peer does, the socket is closed after the grace period:
	// the reader stops at this deadline.
	_ = c.nc.SetReadDeadline(time.Now().Add(DefaultCloseTimeout))
	c.kickLocked()
}

// CloseStatus returns the code and reason of the close frame this side sent,
// if any.
func (c *Conn) CloseStatus() (ws.StatusCode, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sentCode, c.sentWhy
}

// ClosedByPeer reports whether the peer started the close handshake (as
// opposed to this side closing, or the connection just dropping).
func (c *Conn) ClosedByPeer() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byPeer
}

// Terminate closes the socket at once, without a close frame.
func (c *Conn) Terminate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.terminateLocked()
}

func (c *Conn) terminateLocked() {
	if c.closed {
		return
	}
	c.closed = true
	c.closing = true
	c.queue, c.queueBytes = nil, 0
	_ = c.nc.Close()
	close(c.done)
	c.kickLocked()
}

// finish ends a connection whose reader has stopped: it drains until the
// close handshake completes, closes the socket and returns how the
// connection ended.
func (c *Conn) finish(code ws.StatusCode, reason string) (ws.StatusCode, string) {
	if c.closingNow() {
		// Lingering close: read and drop what the peer still sends until it
		// closes its side or the close deadline passes, so that closing our
		// socket does not reset the connection before our close frame was
		// read.
		_, _ = io.Copy(io.Discard, c.br)
	}
	c.Terminate()
	putReader(c.br)
	c.br = nil
	if sent, why := c.CloseStatus(); sent != 0 {
		return sent, why
	}
	return code, reason
}

func (c *Conn) closingNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}
