package natsbroker

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// The outgoing stream. The engine calls Replicate with a channel lock
// held, and nats.Conn.Publish can block: past its buffer it writes to the
// socket in the caller's goroutine, holding the connection's lock, for up
// to its flusher timeout when the socket does not drain. So the engine's
// calls only append to a bounded buffer, in their order, and one
// publisher goroutine hands it to NATS. Changes and publishes share the
// buffer, so a member's join still reaches the others before its
// publish.
//
// When the buffer is full (Options.MaxOutboxMessages or MaxOutboxBytes),
// what it holds is dropped and counted: the dropped changes leave a gap in
// this node's stream, which the next heartbeat announces (sent jumps past
// them), so every other node asks for a snapshot and resyncs. Dropped
// publishes stay lost, as any message NATS drops.

// outMsg is one message waiting for the publisher.
type outMsg struct {
	subj     string
	data     []byte // the caller's bytes; nil: arena[off:end]
	off, end int
	seq      uint64 // a change's sequence number; 0: not a change
}

// outbox is the bounded buffer of the outgoing stream.
type outbox struct {
	mu       sync.Mutex
	seq      uint64 // last sequence number given to a change
	msgs     []outMsg
	arena    []byte // the changes' bytes, built in place
	bytes    int    // bytes waiting (arena and the callers' bytes)
	maxMsgs  int
	maxBytes int
	// spare are the buffers the publisher gave back, reused so that a
	// change costs no allocation.
	spareMsgs  []outMsg
	spareArena []byte
	wake       chan struct{}
}

func newOutbox(maxMsgs, maxBytes int) outbox {
	return outbox{maxMsgs: maxMsgs, maxBytes: maxBytes, wake: make(chan struct{}, 1)}
}

// maxKeptArena is the largest arena kept for reuse.
const maxKeptArena = 1 << 20

// replicateFunc queues one change of this node's entries (delta: +1 an
// entry added, -1 one gone) for every other node, in order; body appends
// the change to the message. It never waits on NATS.
func (n *Node) replicateFunc(delta int, body func([]byte) []byte) {
	o := &n.out
	o.mu.Lock()
	o.seq++
	seq := o.seq
	n.count.Add(int64(delta))
	if n.dropNext.Load() > 0 && n.dropNext.Add(-1) >= 0 {
		o.mu.Unlock()
		storeMax(&n.sent, seq)
		return // test hook: lost on the way; the next heartbeat shows the gap
	}
	off := len(o.arena)
	b := appendU64(o.arena, n.inc)
	b = binary.AppendUvarint(b, seq)
	o.arena = body(b)
	size := len(o.arena) - off + len(n.chgSubj)
	if n.full(size) {
		// Keep this change, at the start of the emptied arena.
		o.arena = o.arena[:copy(o.arena, o.arena[off:])]
		off = 0
		n.overflow(seq - 1)
	}
	o.msgs = append(o.msgs, outMsg{subj: n.chgSubj, off: off, end: len(o.arena), seq: seq})
	o.bytes += size
	o.mu.Unlock()
	n.wakePublisher()
}

// enqueue queues a message that is not a change (a publish, a send, a
// group broadcast); data is not copied and must not change.
func (n *Node) enqueue(subj string, data []byte) {
	o := &n.out
	size := len(subj) + len(data)
	o.mu.Lock()
	if n.full(size) {
		n.overflow(o.seq)
	}
	o.msgs = append(o.msgs, outMsg{subj: subj, data: data})
	o.bytes += size
	o.mu.Unlock()
	n.wakePublisher()
}

// full reports whether a message of size bytes does not fit beside what
// waits (one message always fits). n.out.mu is held.
func (n *Node) full(size int) bool {
	o := &n.out
	return len(o.msgs) > 0 && (len(o.msgs)+1 > o.maxMsgs || o.bytes+size > o.maxBytes)
}

// overflow drops every waiting message and makes the other nodes resync
// this node: the changes up to last are announced as sent, so a heartbeat
// shows the gap. n.out.mu is held.
func (n *Node) overflow(last uint64) {
	o := &n.out
	dropped := len(o.msgs)
	clear(o.msgs)
	o.msgs = o.msgs[:0]
	o.arena = o.arena[:0]
	o.bytes = 0
	storeMax(&n.sent, last)
	n.overflows.Add(1)
	n.outDropped.Add(uint64(dropped))
	n.log.Warn("cluster outgoing buffer overflowed: messages dropped, the other nodes resync this node",
		"dropped", dropped, "max_messages", o.maxMsgs, "max_bytes", o.maxBytes)
}

func (n *Node) wakePublisher() {
	select {
	case n.out.wake <- struct{}{}:
	default:
	}
}

// take returns what waits, leaving the outbox empty (with the spare
// buffers).
func (o *outbox) take() ([]outMsg, []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	msgs, arena := o.msgs, o.arena
	o.msgs, o.arena, o.bytes = o.spareMsgs, o.spareArena, 0
	o.spareMsgs, o.spareArena = nil, nil
	return msgs, arena
}

// giveBack returns the buffers take returned, once published.
func (o *outbox) giveBack(msgs []outMsg, arena []byte) {
	clear(msgs)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.spareMsgs = msgs[:0]
	if cap(arena) <= maxKeptArena {
		o.spareArena = arena[:0]
	}
}

// publisher hands the outgoing stream to NATS until Close, then what is
// left.
func (n *Node) publisher() {
	defer close(n.pubDone)
	for {
		select {
		case <-n.out.wake:
			n.flushOut()
		case <-n.pubStop:
			n.flushOut()
			return
		}
	}
}

// flushOut publishes what waits in the outbox until it is empty.
func (n *Node) flushOut() {
	for {
		msgs, arena := n.out.take()
		if len(msgs) == 0 {
			n.out.giveBack(msgs, arena)
			return
		}
		for _, m := range msgs {
			if g := n.pubGate.Load(); g != nil {
				select { // test hook: a socket that does not drain
				case <-*g:
				case <-n.pubStop:
				}
			}
			data := m.data
			if data == nil {
				data = arena[m.off:m.end]
			}
			n.msgsOut.Add(1)
			if err := n.nc.Publish(m.subj, data); err != nil {
				n.log.Debug("cluster message dropped", "subject", m.subj, "seq", m.seq, "err", err)
			}
			if m.seq != 0 {
				storeMax(&n.sent, m.seq)
			}
		}
		n.out.giveBack(msgs, arena)
	}
}

// storeMax raises v to x.
func storeMax(v *atomic.Uint64, x uint64) {
	for {
		cur := v.Load()
		if x <= cur || v.CompareAndSwap(cur, x) {
			return
		}
	}
}
