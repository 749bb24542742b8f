package transport

import (
	"bufio"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// Serve reads messages as ReadLoop does, but returns at once: onText is
// called with each message on a reader goroutine, and onEnd once with how
// the connection ended, after the socket is closed.
//
// With a Poller, the reader runs only while the peer has something to say
// and parks between messages; the connection then holds no goroutine and
// no read buffer, and the idle timeout is kept by a timer. Without one (p
// nil, or a socket that cannot be polled), Serve runs ReadLoop on a
// goroutine of its own.
//
// Either way a timer per connection pings a silent peer (Options.
// PingInterval) and closes it after IdleTimeout.
func (c *Conn) Serve(p *Poller, onText func([]byte) error, onEnd func(code ws.StatusCode, reason string)) {
	if c.opts.PingInterval > 0 {
		// Drawn once per connection, so that peers that connected together
		// are not pinged, and do not answer, in one burst.
		c.pingAfter = c.opts.PingInterval - rand.N(c.opts.PingInterval/4+1)
	}
	c.mu.Lock()
	c.idle = time.AfterFunc(c.nextCheck(0), c.idleCheck)
	c.mu.Unlock()
	var rc syscall.RawConn
	if sc, ok := c.nc.(syscall.Conn); ok && p != nil {
		rc, _ = sc.SyscallConn()
	}
	if rc == nil {
		go func() {
			code, reason := c.ReadLoop(onText)
			c.stopTimer()
			onEnd(code, reason)
		}()
		return
	}
	c.rc, c.onText, c.onEnd = rc, onText, onEnd
	c.tok = p.register(c)
	c.mu.Lock()
	c.poll = p
	c.reading = true
	c.mu.Unlock()
	if c.br.Buffered() > 0 || !c.park() {
		go c.pollRead()
	}
}

// readable is called by the Poller when the socket has data (or an error)
// to read.
func (c *Conn) readable() {
	c.mu.Lock()
	if c.reading {
		c.mu.Unlock()
		return
	}
	c.reading = true
	c.mu.Unlock()
	go c.pollRead()
}

// kickLocked starts a reader on a parked connection that is closing, so
// that the close handshake is read (or times out) and onEnd runs: a closed
// socket leaves the epoll set and would never wake it.
func (c *Conn) kickLocked() {
	if c.poll == nil || c.reading {
		return
	}
	c.reading = true
	go c.pollRead()
}

// pollRead is one reader run in poll mode.
func (c *Conn) pollRead() {
	if c.br == nil {
		c.br = getReader(c.nc)
	}
	code, reason, parked := c.readLoop(c.onText, true)
	if parked {
		return
	}
	if c.armed {
		_ = c.rc.Control(func(fd uintptr) { c.poll.disarm(int(fd)) })
	}
	c.poll.unregister(c.tok)
	code, reason = c.finish(code, reason)
	c.stopTimer()
	c.onEnd(code, reason)
}

// stopTimer stops the keepalive timer of an ended connection; once the
// connection is closed idleCheck no longer re-arms it.
func (c *Conn) stopTimer() {
	c.mu.Lock()
	c.idle.Stop()
	c.mu.Unlock()
}

// park hands the connection back to the Poller when nothing is buffered
// and it is not closing: it returns the read buffer to the pool, marks the
// reader gone and re-arms the socket. It reports false when the reader
// must go on (the connection is closing, or the socket cannot be armed).
func (c *Conn) park() bool {
	if c.armFailed {
		return false // read on as ReadLoop does
	}
	first := !c.armed
	c.armed = true
	br := c.br
	c.br = nil
	putReader(br)
	c.mu.Lock()
	if c.closing || c.closed {
		c.mu.Unlock()
		c.br = getReader(c.nc)
		return false
	}
	c.reading = false
	c.mu.Unlock()
	// From here on another reader may start as soon as the socket is
	// armed: this one touches nothing of c's read state after arming.
	var armErr error
	err := c.rc.Control(func(fd uintptr) { armErr = c.poll.arm(int(fd), c.tok, first) })
	if err == nil && armErr == nil {
		return true
	}
	// The socket was closed under us, or epoll refused it.
	c.mu.Lock()
	if c.reading {
		// Closing kicked another reader, which owns the connection now.
		c.mu.Unlock()
		return true
	}
	c.reading = true
	c.mu.Unlock()
	c.armFailed = true // this reader keeps the connection from now on
	c.br = getReader(c.nc)
	return false
}

// idleCheck runs when the keepalive timer fires: it closes a connection
// from which nothing was read for IdleTimeout, pings one that has been
// silent for its ping threshold (at most once per threshold), and sets the
// timer for the next of these.
func (c *Conn) idleCheck() {
	now := time.Now()
	quiet := now.Sub(c.LastRead())
	if quiet >= c.opts.IdleTimeout {
		c.Close(c.opts.IdleCode, c.opts.IdleReason)
		return
	}
	if c.pingAfter > 0 && quiet >= c.pingAfter && now.Sub(c.lastPing) >= c.pingAfter {
		c.lastPing = now
		_ = c.Ping()
	}
	c.mu.Lock()
	if !c.closed {
		c.idle.Reset(c.nextCheck(quiet))
	}
	c.mu.Unlock()
}

// nextCheck is how long after now the keepalive timer must look again, for
// a connection silent for quiet: when the idle timeout or the next ping is
// due, whichever comes first.
func (c *Conn) nextCheck(quiet time.Duration) time.Duration {
	next := c.opts.IdleTimeout - quiet
	if c.pingAfter > 0 {
		if quiet < c.pingAfter {
			next = min(next, c.pingAfter-quiet)
		} else {
			next = min(next, c.pingAfter-time.Since(c.lastPing))
		}
	}
	return max(next, time.Millisecond)
}

// readBufSize is the read buffer of a connection: enough for a typical
// message and its header in one read.
const readBufSize = 512

var readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, readBufSize) }}

func getReader(nc net.Conn) *bufio.Reader {
	br := readers.Get().(*bufio.Reader)
	br.Reset(nc)
	return br
}

// putReader returns br to the pool if it is one of the pool's own (the
// HTTP server's leftover reader is not).
func putReader(br *bufio.Reader) {
	if br == nil || br.Size() != readBufSize {
		return
	}
	br.Reset(nil)
	readers.Put(br)
}
