package transport

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/gobwas/ws"
)

// outFrame is one queued frame; its payload is head, body and tail in
// that order (body and tail are nil for most frames).
type outFrame struct {
	op   ws.OpCode
	head []byte
	body []byte
	tail []byte
}

func (f outFrame) size() int64 { return int64(len(f.head) + len(f.body) + len(f.tail)) }

// Send queues a text frame. It never blocks; payload must not be modified
// afterwards (the same slice may be queued to many connections).
func (c *Conn) Send(payload []byte) error {
	return c.enqueue(outFrame{op: ws.OpText, head: payload})
}

// SendJoined queues one text frame whose payload is head, body and tail
// in that order, without joining them: a large body shared by many
// recipients (a member list, a fan-out's frame) is written from the same
// bytes to each, between a small head and tail of each one's own (its
// request, its acknowledgment id). None of the slices may be modified
// afterwards; any may be nil.
func (c *Conn) SendJoined(head, body, tail []byte) error {
	return c.enqueue(outFrame{op: ws.OpText, head: head, body: body, tail: tail})
}

// Ping queues a ping frame.
func (c *Conn) Ping() error {
	return c.enqueue(outFrame{op: ws.OpPing})
}

// Queued returns how many frames, and how many payload bytes, wait to be
// written to the peer, the batch being written included.
func (c *Conn) Queued() (frames int, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue) + c.flightFrames, c.queueBytes + c.flightBytes
}

func (c *Conn) enqueue(f outFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing || c.closed {
		return ErrClosed
	}
	if len(c.queue) >= c.opts.QueueLength {
		c.closeLocked(ClosePolicyViolation, "slow consumer: outbound queue full", true)
		return ErrSlowConsumer
	}
	// A frame shared by many connections counts for each: each pins it
	// until it is written.
	if n := c.queueBytes + c.flightBytes + f.size(); n > c.opts.MaxQueueBytes {
		c.closeLocked(ClosePolicyViolation, fmt.Sprintf("slow consumer: outbound queue over %d bytes", c.opts.MaxQueueBytes), true)
		return ErrSlowConsumer
	}
	c.queue = append(c.queue, f)
	c.queueBytes += f.size()
	c.startWriterLocked()
	return nil
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
		c.flightFrames, c.flightBytes = len(batch), c.queueBytes
		c.queueBytes = 0
		c.mu.Unlock()

		sentClose, err := c.writeBatch(batch)
		c.mu.Lock()
		c.flightFrames, c.flightBytes = 0, 0
		c.mu.Unlock()
		if err != nil || sentClose {
			c.mu.Lock()
			if err != nil {
				c.terminateLocked()
			} else if tc, ok := c.nc.(interface{ CloseWrite() error }); ok {
				// Half-close: the peer reads our close frame, then EOF.
				_ = tc.CloseWrite()
			}
			c.writing = false
			c.queue, c.queueBytes = nil, 0
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
		buf = appendHeader(buf, f.op, int(f.size()))
		buf = append(buf, f.head...)
		buf = append(buf, f.body...)
		buf = append(buf, f.tail...)
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
