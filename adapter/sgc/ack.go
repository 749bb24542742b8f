package sgc

import (
	"sync"
	"time"
)

// ackQueue holds the frames sent to one client that await acknowledgment.
type ackQueue struct {
	sess    *session
	mu      sync.Mutex
	pending map[string]*pendingFrame
	closed  bool
}

type pendingFrame struct {
	frame   []byte
	sent    time.Time
	retries int
}

func (q *ackQueue) add(id string, frame []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.pending == nil {
		q.pending = make(map[string]*pendingFrame)
	}
	q.pending[id] = &pendingFrame{frame: frame, sent: time.Now()}
}

func (q *ackQueue) remove(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.pending, id)
}

// Len returns how many frames await acknowledgment.
func (q *ackQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

func (q *ackQueue) drop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.pending = nil
}

// resend re-queues every frame unacknowledged for longer than the timeout,
// byte-identical, and gives up on a frame after MaxRetries re-sends. A
// connection that has never acknowledged (sgc's browser client never does)
// gets no re-send: its frames are given up once past the timeout, since
// each copy would only fire the client's event again.
func (q *ackQueue) resend(now time.Time) {
	opts := q.sess.h.cfg.Acknowledgment
	acking := q.sess.acking.Load()
	q.mu.Lock()
	var due [][]byte
	for id, p := range q.pending {
		if now.Sub(p.sent) < opts.Timeout {
			continue
		}
		if !acking {
			delete(q.pending, id)
			continue
		}
		if p.retries >= opts.MaxRetries {
			delete(q.pending, id)
			q.sess.log.Debug("frame never acknowledged, given up", "id", id)
			continue
		}
		p.retries++
		p.sent = now
		due = append(due, p.frame)
	}
	q.mu.Unlock()
	q.sess.h.counters.AckResends.Add(uint64(len(due)))
	for _, f := range due {
		q.sess.queue(f)
	}
}
