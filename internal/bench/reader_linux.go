package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/internal/epoll"
)

// pollReader reads every connection of a worker from one goroutine: it
// waits on an epoll set and reads each ready socket once. A goroutine per
// connection costs the generator a wake-up and a second read (the one
// that finds the socket empty) per message, which at tens of thousands of
// messages a second made the generator, not the server, the bottleneck.
//
// It lives while connections are registered: the last one to leave closes
// it, and the next one starts a new one.
type pollReader struct {
	set   *epoll.Set
	conns map[uint64]*wsConn // under readerMu
	next  uint64
}

var (
	readerMu sync.Mutex
	reader   *pollReader // the running reader, nil when none
)

// startPolled registers c with the running reader, starting one if needed.
func startPolled(c *wsConn) error {
	readerMu.Lock()
	defer readerMu.Unlock()
	if reader == nil {
		r, err := newPollReader()
		if err != nil {
			return err
		}
		reader = r
	}
	r := reader
	r.next++
	tok := r.next
	var ctlErr error
	err := c.rc.Control(func(fd uintptr) {
		ctlErr = r.set.Ctl(syscall.EPOLL_CTL_ADD, int(fd), syscall.EPOLLIN|syscall.EPOLLRDHUP, tok)
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		if len(r.conns) == 0 {
			r.stopLocked()
		}
		return err
	}
	c.tok, c.reader = tok, r
	r.conns[tok] = c
	return nil
}

func newPollReader() (*pollReader, error) {
	set, err := epoll.New()
	if err != nil {
		return nil, err
	}
	r := &pollReader{set: set, conns: make(map[uint64]*wsConn)}
	go r.loop()
	return r, nil
}

// stopLocked closes the epoll set, which ends the loop.
func (r *pollReader) stopLocked() {
	_ = r.set.Close()
	if reader == r {
		reader = nil
	}
}

// leave unregisters c; the last connection out stops the reader. c's
// socket leaves the epoll set at once: one the server closed stays
// readable (at EOF) until the scenario closes it, and in the set it would
// wake the loop on every wait. (It did: after a crash killed a node of
// 10,000 clients, each generator spun a CPU until the end of the run.)
func (r *pollReader) leave(c *wsConn) {
	_ = c.rc.Control(func(fd uintptr) { _ = r.set.Ctl(syscall.EPOLL_CTL_DEL, int(fd), 0, 0) })
	readerMu.Lock()
	defer readerMu.Unlock()
	delete(r.conns, c.tok)
	if len(r.conns) == 0 {
		r.stopLocked()
	}
}

func (r *pollReader) loop() {
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for {
		n, err := r.set.Wait(events)
		if err != nil {
			return // closed by the last connection out
		}
		for i := range events[:n] {
			tok := epoll.Data(&events[i])
			readerMu.Lock()
			c := r.conns[tok]
			readerMu.Unlock()
			if c != nil {
				c.rmu.Lock()
				if !c.ended {
					c.readOnce(buf)
				}
				c.rmu.Unlock()
			}
		}
	}
}

// readOnce reads what the socket holds (up to len(buf)) and hands each
// complete frame on; a partial frame waits in c.pending for the rest.
func (c *wsConn) readOnce(buf []byte) {
	var n int
	var rerr error
	if err := c.rc.Read(func(fd uintptr) bool {
		n, rerr = syscall.Read(int(fd), buf)
		return true // never wait: epoll said there is something
	}); err != nil {
		c.end(err)
		return
	}
	switch {
	case errors.Is(rerr, syscall.EAGAIN) || errors.Is(rerr, syscall.EINTR):
		return
	case rerr != nil:
		c.end(rerr)
		return
	case n == 0:
		c.end(io.EOF)
		return
	}
	data := buf[:n]
	if len(c.pending) > 0 {
		c.pending = append(c.pending, data...)
		data = c.pending
	}
	used, err := c.frames(data)
	if err != nil {
		c.end(err)
		return
	}
	rest := data[used:]
	switch {
	case len(rest) == 0:
		c.pending = nil
	case len(c.pending) > 0:
		c.pending = append(c.pending[:0], rest...) // copy within: rest is after the start
	default:
		// Room for the whole frame at once: a list page arrives in many
		// reads, and growing the buffer read by read copies it over and over.
		c.pending = append(make([]byte, 0, max(frameSize(rest), len(rest))), rest...)
	}
}

// frameSize is the size of the frame that starts p, header included, or 0
// while its header is incomplete.
func frameSize(p []byte) int {
	if len(p) < 2 {
		return 0
	}
	switch n := int(p[1] & 0x7f); n {
	case 126:
		if len(p) < 4 {
			return 0
		}
		return 4 + int(binary.BigEndian.Uint16(p[2:]))
	case 127:
		if len(p) < 10 {
			return 0
		}
		return 10 + int(min(binary.BigEndian.Uint64(p[2:]), 64<<20))
	default:
		return 2 + n
	}
}

// frames handles the complete server frames at the start of data and
// returns how many bytes they took.
func (c *wsConn) frames(data []byte) (int, error) {
	used := 0
	for {
		p := data[used:]
		if len(p) < 2 {
			return used, nil
		}
		fin, op := p[0]&0x80 != 0, ws.OpCode(p[0]&0x0f)
		if p[1]&0x80 != 0 {
			return used, errors.New("server frame is masked")
		}
		hdr, length := 2, uint64(p[1]&0x7f)
		switch length {
		case 126:
			if len(p) < 4 {
				return used, nil
			}
			hdr, length = 4, uint64(binary.BigEndian.Uint16(p[2:]))
		case 127:
			if len(p) < 10 {
				return used, nil
			}
			hdr, length = 10, binary.BigEndian.Uint64(p[2:])
		}
		if length > 64<<20 {
			return used, fmt.Errorf("server frame of %d bytes", length)
		}
		if uint64(len(p)-hdr) < length {
			return used, nil
		}
		payload := p[hdr : hdr+int(length)]
		used += hdr + int(length)
		switch op {
		case ws.OpPing:
			if err := c.writeControl(ws.OpPong, payload); err != nil {
				return used, err
			}
		case ws.OpPong:
		case ws.OpClose:
			_ = c.writeControl(ws.OpClose, payload)
			return used, io.EOF
		case ws.OpText, ws.OpBinary, ws.OpContinuation:
			if !fin || len(c.msg) > 0 {
				c.msg = append(c.msg, payload...)
				if !fin {
					continue
				}
				payload, c.msg = c.msg, nil
			}
			c.onFrame(payload)
		default:
			return used, fmt.Errorf("unknown opcode %d", op)
		}
	}
}

func (c *wsConn) writeControl(op ws.OpCode, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return ws.WriteFrame(c.conn, ws.MaskFrame(ws.NewFrame(op, true, append([]byte(nil), payload...))))
}

// end stops reading c, under c.rmu: it leaves the reader and reports err
// (nil once close was called) as run does.
func (c *wsConn) end(err error) {
	if c.ended {
		return
	}
	c.ended = true
	c.reader.leave(c)
	if c.closing.Load() {
		err = nil
	}
	c.onFail(err)
	close(c.done)
}

// startPoll hands c to the worker's reader; frames left over from the
// handshake are handled first.
func (c *wsConn) startPoll(frame func([]byte), fail func(error)) error {
	sc, ok := c.conn.(syscall.Conn)
	if !ok {
		return errors.ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	c.rc, c.onFrame, c.onFail = rc, frame, fail
	c.rmu.Lock() // no event is handled before the leftovers
	defer c.rmu.Unlock()
	if err := startPolled(c); err != nil {
		return err
	}
	if c.br != nil {
		left, _ := c.br.Peek(c.br.Buffered())
		c.br = nil
		used, err := c.frames(left)
		if err != nil {
			c.end(err)
			return nil
		}
		c.pending = append([]byte(nil), left[used:]...)
	}
	return nil
}

// stopPoll ends a polled connection whose socket was closed: a closed
// socket leaves the epoll set and would never be read again.
func (c *wsConn) stopPoll() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.end(nil)
}
