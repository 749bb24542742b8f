package transport

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// ReadLoop reads messages until the connection ends, calling onText with
// each complete text message (the slice is the handler's to keep). A
// handler returning a *CloseError closes the connection with that code; any
// other error closes it with 1011. ReadLoop closes the socket before it
// returns, and reports how the connection ended: the close code and reason
// this side sent, or the peer's, or 1006 when there was no close handshake.
//
// ReadLoop holds its goroutine for the connection's life; Serve with a
// Poller does not.
func (c *Conn) ReadLoop(onText func([]byte) error) (code ws.StatusCode, reason string) {
	code, reason, _ = c.readLoop(onText, false)
	return c.finish(code, reason)
}

// readLoop reads frames until the connection must end, or, when mayPark,
// until the peer has nothing more to say for now: then the reader parks
// (see park) and readLoop reports parked.
func (c *Conn) readLoop(onText func([]byte) error, mayPark bool) (code ws.StatusCode, reason string, parked bool) {
	var control [125]byte
	// A reader woken by the Poller reads at least one frame before it may
	// park again: the data that woke it is in the socket, not the buffer.
	for first := true; ; first = false {
		if mayPark && !first && c.br.Buffered() == 0 && c.park() {
			return 0, "", true
		}
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if !closing {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.opts.IdleTimeout))
		}
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			code, reason = c.readFailed(err)
			return code, reason, false
		}
		c.lastRead.Store(time.Now().UnixNano())
		if code, why := c.checkHeader(h, c.inText); code != 0 {
			c.Close(code, why)
			return code, why, false
		}
		if h.OpCode.IsControl() {
			p := control[:h.Length]
			if _, err := io.ReadFull(c.br, p); err != nil {
				code, reason = c.readFailed(err)
				return code, reason, false
			}
			ws.Cipher(p, h.Mask, 0)
			switch h.OpCode {
			case ws.OpPing:
				_ = c.enqueue(outFrame{op: ws.OpPong, head: append([]byte(nil), p...)})
			case ws.OpClose:
				code, why := ws.ParseCloseFrameData(p)
				reply, replyWhy := code, ""
				switch {
				case code.Empty():
					code, reply = CloseNoStatus, CloseNormal
				case !validCloseCode(code):
					reply, replyWhy = CloseProtocolError, fmt.Sprintf("close code %d is not allowed on the wire", code)
				case !utf8.ValidString(why):
					reply = CloseNormal
				}
				c.mu.Lock()
				c.byPeer = !c.closing
				c.closeLocked(reply, replyWhy, false)
				c.mu.Unlock()
				if replyWhy != "" {
					return reply, replyWhy, false
				}
				return code, why, false
			}
			continue
		}
		if h.OpCode == ws.OpText {
			c.inText = true
			c.msg = nil
		}
		if c.closingNow() {
			// Discard data frames after we decided to close.
			if _, err := io.CopyN(io.Discard, c.br, h.Length); err != nil {
				code, reason = c.readFailed(err)
				return code, reason, false
			}
			continue
		}
		if int64(len(c.msg))+h.Length > c.opts.MaxMessageSize {
			why := fmt.Sprintf("message exceeds %d bytes", c.opts.MaxMessageSize)
			c.Close(CloseMessageTooBig, why)
			return CloseMessageTooBig, why, false
		}
		start := len(c.msg)
		c.msg = append(c.msg, make([]byte, h.Length)...)
		if _, err := io.ReadFull(c.br, c.msg[start:]); err != nil {
			code, reason = c.readFailed(err)
			return code, reason, false
		}
		ws.Cipher(c.msg[start:], h.Mask, 0)
		if !h.Fin {
			continue
		}
		c.inText = false
		msg := c.msg
		c.msg = nil
		if !utf8.Valid(msg) {
			const why = "text message is not valid UTF-8"
			c.Close(CloseInvalidPayload, why)
			return CloseInvalidPayload, why, false
		}
		if c.opts.Counters != nil {
			c.opts.Counters.MessagesRead.Add(1)
			c.opts.Counters.BytesRead.Add(uint64(len(msg)))
		}
		if err := onText(msg); err != nil {
			ce := &CloseError{Code: CloseInternalError, Reason: "internal error"}
			errors.As(err, &ce)
			c.Close(ce.Code, ce.Reason)
			return ce.Code, ce.Reason, false
		}
	}
}

// checkHeader applies RFC 6455's rules for a client frame; a non-zero code
// means the connection must close.
func (c *Conn) checkHeader(h ws.Header, inText bool) (ws.StatusCode, string) {
	switch {
	case h.Rsv != 0:
		return CloseProtocolError, "reserved bits set (no extension was negotiated)"
	case !h.Masked:
		return CloseProtocolError, "client frames must be masked"
	case h.OpCode.IsControl() && (!h.Fin || h.Length > 125):
		return CloseProtocolError, "control frames must be final and at most 125 bytes"
	case h.OpCode.IsControl():
		if h.OpCode != ws.OpPing && h.OpCode != ws.OpPong && h.OpCode != ws.OpClose {
			return CloseProtocolError, "unknown control opcode"
		}
	case h.OpCode == ws.OpBinary:
		return CloseUnsupportedData, "binary frames are not supported: send JSON text frames"
	case h.OpCode == ws.OpText && inText:
		return CloseProtocolError, "new message before the previous one was finished"
	case h.OpCode == ws.OpContinuation && !inText:
		return CloseProtocolError, "continuation frame without a message"
	case h.OpCode != ws.OpText && h.OpCode != ws.OpContinuation:
		return CloseProtocolError, "unknown opcode"
	}
	return 0, ""
}

// readFailed turns a read error into how the connection ended.
func (c *Conn) readFailed(err error) (ws.StatusCode, string) {
	if errors.Is(err, os.ErrDeadlineExceeded) && !c.closingNow() {
		c.Close(c.opts.IdleCode, c.opts.IdleReason)
		return c.opts.IdleCode, c.opts.IdleReason
	}
	return CloseAbnormal, ""
}

// validCloseCode reports whether a peer may send code in a close frame
// (RFC 6455 §7.4): 1000-1003 and 1007-1014 of the protocol's own (1004 is
// reserved, 1005 and 1006 are never sent, 1015 is TLS's), and 3000-4999
// for libraries and applications. Any other code is a protocol error.
func validCloseCode(code ws.StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}
