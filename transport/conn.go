// Package transport runs one server-side WebSocket connection on
// github.com/gobwas/ws: a reader that enforces the frame rules and limits,
// and a bounded outbound queue written by a short-lived writer, so that no
// connection can slow another down. With a Poller, a connection whose peer
// is silent holds no goroutine at all.
package transport

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

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

// Defaults for Options fields left zero.
const (
	DefaultMaxMessageSize = 64 << 10
	DefaultQueueLength    = 4096
	DefaultWriteTimeout   = 10 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	DefaultCloseTimeout   = 2 * time.Second
)

// Options are the limits of one connection. Zero fields take the defaults.
type Options struct {
	// MaxMessageSize is the largest text message accepted, in bytes, after
	// reassembling fragments; larger ones close the connection with 1009.
	MaxMessageSize int64
	// QueueLength is how many outbound frames may wait; a connection whose
	// queue overflows is closed with 1008 ("slow consumer").
	QueueLength int
	// WriteTimeout bounds one write to the socket.
	WriteTimeout time.Duration
	// IdleTimeout closes a connection from which nothing (not even a pong)
	// was read for this long.
	IdleTimeout time.Duration
	// PingInterval, when set, has Serve ping a peer that has been silent
	// for about this long: each connection after 3/4 to all of it, drawn
	// once, and at most once per that time.
	PingInterval time.Duration
	// Counters, when set, count this connection's traffic together with
	// every other connection sharing them.
	Counters *Counters
	// IdleCode and IdleReason are the close code and reason of the idle
	// timeout; zero means 1001 "idle timeout" (Pusher uses 4201).
	IdleCode   ws.StatusCode
	IdleReason string
}

// Counters count the traffic of many connections. Each field is updated
// with one atomic add per message read or per batch written, so that
// counting costs no lock and no allocation.
type Counters struct {
	// MessagesRead counts complete text messages read from peers.
	MessagesRead atomic.Uint64
	// MessagesWritten counts text messages written to sockets.
	MessagesWritten atomic.Uint64
	// BytesRead counts the payload bytes of the text messages read;
	// BytesWritten every byte written to sockets (frames with headers).
	BytesRead, BytesWritten atomic.Uint64
}

func (o *Options) withDefaults() {
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.QueueLength <= 0 {
		o.QueueLength = DefaultQueueLength
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.IdleCode == 0 {
		o.IdleCode, o.IdleReason = CloseGoingAway, "idle timeout"
	}
}

// ErrClosed is returned by Send on a connection that is closing.
var ErrClosed = errors.New("transport: connection closed")

// ErrSlowConsumer is returned by Send when the outbound queue overflowed;
// the connection is being closed with 1008.
var ErrSlowConsumer = errors.New("transport: slow consumer: outbound queue full")

// CloseError is returned by a message handler to close the connection with
// a code and reason.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket close %d: %s", e.Code, e.Reason)
}

// Conn is one server-side WebSocket connection.
type Conn struct {
	nc   net.Conn
	br   *bufio.Reader
	opts Options

	lastRead atomic.Int64 // unix nanos of the last frame read

	mu       sync.Mutex
	queue    []outFrame
	writing  bool
	closing  bool // a close frame is queued or sent; no more frames accepted
	closed   bool // the socket is closed
	sentCode ws.StatusCode
	sentWhy  string
	byPeer   bool          // the peer started the close handshake
	done     chan struct{} // closed when the socket is closed

	// Read state, touched only by the one reader running at a time.
	msg    []byte // the text message being reassembled
	inText bool   // a fragmented text message is unfinished

	// Poll mode (Serve with a Poller); poll is set under mu, the rest
	// before the first reader starts.
	poll      *Poller
	reading   bool // a reader goroutine is running; under mu
	rc        syscall.RawConn
	tok       uint64
	armed     bool // the socket is in the epoll set
	armFailed bool // epoll refused the socket: never park again
	onText    func([]byte) error
	onEnd     func(ws.StatusCode, string)
	idle      *time.Timer // the keepalive timer (Serve); under mu
	pingAfter time.Duration
	lastPing  time.Time // owned by idleCheck
}

type outFrame struct {
	op      ws.OpCode
	payload []byte
}

// New wraps an upgraded connection. br holds whatever the HTTP server had
// already buffered from the peer; it may be nil.
func New(nc net.Conn, br *bufio.Reader, opts Options) *Conn {
	opts.withDefaults()
	if br == nil || br.Buffered() == 0 {
		br = getReader(nc)
	}
	c := &Conn{nc: nc, br: br, opts: opts, done: make(chan struct{})}
	c.lastRead.Store(time.Now().UnixNano())
	return c
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LastRead returns when a frame was last read from the peer.
func (c *Conn) LastRead() time.Time { return time.Unix(0, c.lastRead.Load()) }

// Done is closed once the socket is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Send queues a text frame. It never blocks; payload must not be modified
// afterwards (the same slice may be queued to many connections).
func (c *Conn) Send(payload []byte) error {
	return c.enqueue(ws.OpText, payload)
}

// Ping queues a ping frame.
func (c *Conn) Ping() error {
	return c.enqueue(ws.OpPing, nil)
}

func (c *Conn) enqueue(op ws.OpCode, payload []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.closed {
		return ErrClosed
	}
	if len(c.queue) >= c.opts.QueueLength {
		c.closeLocked(ClosePolicyViolation, "slow consumer: outbound queue full", true)
		return ErrSlowConsumer
	}
	c.queue = append(c.queue, outFrame{op, payload})
	c.startWriterLocked()
	return nil
}

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
		c.queue = c.queue[:0]
		_ = c.nc.SetWriteDeadline(time.Now().Add(DefaultCloseTimeout))
	}
	c.queue = append(c.queue, outFrame{ws.OpClose, ws.NewCloseFrameBody(code, reason)})
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
	c.queue = nil
	_ = c.nc.Close()
	close(c.done)
	c.kickLocked()
}

func (c *Conn) startWriterLocked() {
	if c.writing || c.closed {
		return
	}
	c.writing = true
	go c.writeLoop()
}

// writeLoop writes what is queued, then exits; the next Send starts a new
// one. An idle connection therefore holds no writer goroutine.
//
// Frames are copied into a pooled buffer and written with one write per
// batch: writev (net.Buffers) would leave each socket holding a cached
// iovec array for as long as it lives, which an idle connection should not.
func (c *Conn) writeLoop() {
	// Let the goroutines that are ready to run go first: in a storm they
	// queue more frames for this connection, and the batch below takes
	// them all in one write instead of a write each. On an idle server
	// nothing is waiting and this returns at once.
	runtime.Gosched()
	for {
		c.mu.Lock()
		batch := c.queue
		c.queue = nil
		if len(batch) == 0 || c.closed {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()

		sentClose, err := c.writeBatch(batch)
		if err != nil || sentClose {
			c.mu.Lock()
			if err != nil {
				c.terminateLocked()
			} else if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
				// Half-close: the peer reads our close frame, then EOF.
				_ = tc.CloseWrite()
			}
			c.writing = false
			c.queue = nil
			c.mu.Unlock()
			return
		}
	}
}

// flushSize is how much a batch buffer holds before it is written.
const flushSize = 32 << 10

var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// writeBatch writes frames up to and including a close frame; it reports
// whether it wrote one.
func (c *Conn) writeBatch(batch []outFrame) (sentClose bool, err error) {
	bp := writeBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= 4*flushSize {
			*bp = buf[:0]
			writeBufs.Put(bp)
		}
	}()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.opts.WriteTimeout))
	texts := 0
	for _, f := range batch {
		buf = appendHeader(buf, f.op, len(f.payload))
		buf = append(buf, f.payload...)
		if f.op == ws.OpText {
			texts++
		}
		if f.op == ws.OpClose {
			sentClose = true
			break
		}
		if len(buf) >= flushSize {
			if _, err := c.nc.Write(buf); err != nil {
				return false, err
			}
			if c.opts.Counters != nil {
				c.opts.Counters.BytesWritten.Add(uint64(len(buf)))
			}
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		if _, err := c.nc.Write(buf); err != nil {
			return false, err
		}
	}
	if c.opts.Counters != nil {
		c.opts.Counters.BytesWritten.Add(uint64(len(buf)))
		c.opts.Counters.MessagesWritten.Add(uint64(texts))
	}
	return sentClose, nil
}

func headerSize(n int) int {
	switch {
	case n <= 125:
		return 2
	case n <= 0xFFFF:
		return 4
	default:
		return 10
	}
}

// appendHeader appends an unmasked, final frame header.
func appendHeader(dst []byte, op ws.OpCode, n int) []byte {
	b0 := 0x80 | byte(op)
	switch {
	case n <= 125:
		return append(dst, b0, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(dst, b0, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(n))
	}
}

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
				_ = c.enqueue(ws.OpPong, append([]byte(nil), p...))
			case ws.OpClose:
				code, why := ws.ParseCloseFrameData(p)
				if code.Empty() {
					code = CloseNoStatus
				}
				reply := code
				if reply == CloseNoStatus || code.IsProtocolReserved() || !utf8.ValidString(why) {
					reply = CloseNormal
				}
				c.mu.Lock()
				c.byPeer = !c.closing
				c.closeLocked(reply, "", false)
				c.mu.Unlock()
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

func (c *Conn) closingNow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
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
