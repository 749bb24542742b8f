package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// wsConn is a client WebSocket connection with one read goroutine and
// serialized writes, kept small: the generator holds thousands of them.
type wsConn struct {
	conn    net.Conn
	br      *bufio.Reader // handshake leftovers, nil when none
	wmu     sync.Mutex
	done    chan struct{}
	closing atomic.Bool

	// Read by the worker's epoll reader (reader_linux.go), under rmu.
	rmu     sync.Mutex
	polled  bool
	rc      syscall.RawConn
	reader  *pollReader
	tok     uint64
	ended   bool
	pending []byte // a partial frame
	msg     []byte // a fragmented message
	onFrame func([]byte)
	onFail  func(error)
}

// start reads c, calling frame with each text message and fail once at
// the end (see run): on the worker's epoll reader where there is one,
// else on a goroutine of its own.
func (c *wsConn) start(frame func([]byte), fail func(error)) {
	if c.startPoll(frame, fail) == nil {
		c.polled = true
		return
	}
	go c.run(frame, fail)
}

// dialWS opens a WebSocket to url from laddr (nil: any) offering
// subprotocols.
func dialWS(ctx context.Context, url string, laddr *net.TCPAddr, subprotocols ...string) (*wsConn, error) {
	d := ws.Dialer{
		Protocols: subprotocols,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{}
			if laddr != nil {
				nd.LocalAddr = laddr
			}
			return nd.DialContext(ctx, network, addr)
		},
		Header: ws.HandshakeHeaderHTTP(http.Header{"User-Agent": {"rollcall-bench"}}),
	}
	conn, br, _, err := d.Dial(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	return &wsConn{conn: conn, br: br, done: make(chan struct{})}, nil
}

// run reads text frames and hands each to frame until the connection
// fails or is closed; it answers pings and reports the read error (nil
// after close) to fail. It runs on its own goroutine.
func (c *wsConn) run(frame func([]byte), fail func(error)) {
	defer close(c.done)
	fail = func(report func(error)) func(error) {
		return func(err error) {
			if c.closing.Load() {
				err = nil
			}
			report(err)
		}
	}(fail)
	var src io.Reader = c.conn
	if c.br != nil {
		src = io.MultiReader(c.br, c.conn)
		c.br = nil
	}
	// A small buffer lets one read syscall bring several frames.
	r := bufio.NewReaderSize(src, 2048)
	rd := wsutil.Reader{
		Source:          r,
		State:           ws.StateClientSide,
		CheckUTF8:       false,
		SkipHeaderCheck: false,
		OnIntermediate: func(h ws.Header, r io.Reader) error {
			return wsutil.ControlFrameHandler(c.lockedWriter(), ws.StateClientSide)(h, r)
		},
	}
	var buf []byte
	for {
		h, err := rd.NextFrame()
		if err != nil {
			fail(err)
			return
		}
		if h.OpCode.IsControl() {
			if err := c.control(h, &rd); err != nil {
				fail(err)
				return
			}
			continue
		}
		buf = buf[:0]
		if int64(cap(buf)) < h.Length {
			buf = make([]byte, 0, h.Length)
		}
		buf, err = readAll(&rd, buf)
		if err != nil {
			fail(err)
			return
		}
		if h.OpCode == ws.OpText || h.OpCode == ws.OpContinuation {
			frame(buf)
		}
		if cap(buf) > 64<<10 {
			buf = nil // do not hold a large buffer on an idle connection
		}
	}
}

func (c *wsConn) control(h ws.Header, rd *wsutil.Reader) error {
	err := wsutil.ControlFrameHandler(c.lockedWriter(), ws.StateClientSide)(h, rd)
	if _, ok := err.(wsutil.ClosedError); ok {
		return io.EOF
	}
	return err
}

func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// lockedWriter serializes control-frame replies with ordinary writes.
func (c *wsConn) lockedWriter() io.Writer { return lockedWriter{c} }

type lockedWriter struct{ c *wsConn }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.c.wmu.Lock()
	defer w.c.wmu.Unlock()
	return w.c.conn.Write(p)
}

// write sends one text frame.
func (c *wsConn) write(p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return wsutil.WriteClientText(c.conn, p)
}

// close sends a close frame, closes the socket and waits for run to end.
func (c *wsConn) close() error {
	c.closing.Store(true)
	c.wmu.Lock()
	_ = ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))))
	c.wmu.Unlock()
	err := c.conn.Close()
	if c.polled {
		c.stopPoll()
	}
	<-c.done
	return err
}
