// Package transport runs one server-side WebSocket connection on
// github.com/gobwas/ws: a reader that enforces the frame rules and limits,
// and a bounded outbound queue written by a short-lived writer, so that no
// connection can slow another down. With a Poller, a connection whose peer
// is silent holds no goroutine at all.
package transport

import (
	"bufio"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// Conn is one server-side WebSocket connection.
type Conn struct {
	nc   net.Conn
	br   *bufio.Reader
	opts Options

	lastRead atomic.Int64 // unix nanos of the last frame read

	mu    sync.Mutex
	queue []outFrame
	// queueBytes counts the payload bytes in queue; flightFrames and
	// flightBytes the batch the writer has taken and is writing.
	queueBytes   int64
	flightFrames int
	flightBytes  int64
	writing      bool
	closing      bool // a close frame is queued or sent; no more frames accepted
	closed       bool // the socket is closed
	sentCode     ws.StatusCode
	sentWhy      string
	byPeer       bool          // the peer started the close handshake
	done         chan struct{} // closed when the socket is closed

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
