package sgc

import (
	"fmt"
	"sync"
	"time"

	"github.com/rollcall/rollcall/transport"
)

// ackQueue holds the frames sent to one client that await acknowledgment,
// at most maxFrames of them and maxBytes in all (zero: no limit).
type ackQueue struct {
	sess      *session
	maxFrames int
	maxBytes  int64

	mu      sync.Mutex
	pending map[string]*pendingFrame
	bytes   int64 // the frames' bytes in pending
	closed  bool
}

// pendingFrame is a frame sent with an id, in the parts it was queued in:
// its body may be shared with other recipients, its tail is its own.
type pendingFrame struct {
	head, body, tail []byte
	sent             time.Time
	retries          int
}

func (p *pendingFrame) size() int64 { return int64(len(p.head) + len(p.body) + len(p.tail)) }

// add records f, sent with id (add sets its time). When the frame would take the
// connection over its budget of unacknowledged frames, add records nothing,
// lets go of the frames it holds and says why, once: the caller closes the
// connection (frames sent after that go nowhere, the connection closing).
func (q *ackQueue) add(id string, f *pendingFrame) (over string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ""
	}
	switch {
	case q.maxFrames > 0 && len(q.pending) >= q.maxFrames:
		over = fmt.Sprintf("over %d frames unacknowledged", q.maxFrames)
	case q.maxBytes > 0 && q.bytes+f.size() > q.maxBytes:
		over = fmt.Sprintf("over %d bytes unacknowledged", q.maxBytes)
	}
	if over != "" {
		q.closed = true
		q.pending, q.bytes = nil, 0
		return over
	}
	if q.pending == nil {
		q.pending = make(map[string]*pendingFrame)
	}
	f.sent = time.Now()
	q.pending[id] = f
	q.bytes += f.size()
	return ""
}

func (q *ackQueue) remove(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.removeLocked(id)
}

func (q *ackQueue) removeLocked(id string) {
	if p, ok := q.pending[id]; ok {
		q.bytes -= p.size()
		delete(q.pending, id)
	}
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
	q.pending, q.bytes = nil, 0
}

// resend re-queues every frame unacknowledged for longer than the timeout,
// byte-identical, and gives up on a frame after MaxRetries re-sends. A
// connection that has never acknowledged (sgc's browser client never does)
// gets no re-send: its frames are given up once past the timeout, since
// each copy would only fire the client's event again. Nor does a
// connection that has not read what was already sent to it: its frames are
// still on their way (in its outbound queue), so a copy would only pile up
// behind them; their time starts again once it has caught up.
func (q *ackQueue) resend(now time.Time) {
	opts := q.sess.h.cfg.Acknowledgment
	acking := q.sess.acking.Load()
	behind, _ := q.sess.tc.Queued()
	q.mu.Lock()
	var due []*pendingFrame
	for id, p := range q.pending {
		if now.Sub(p.sent) < opts.Timeout {
			continue
		}
		switch {
		case !acking:
			q.removeLocked(id)
		case behind > 0:
			p.sent = now
		case p.retries >= opts.MaxRetries:
			q.removeLocked(id)
			q.sess.log.Debug("frame never acknowledged, given up", "id", id)
		default:
			p.retries++
			p.sent = now
			due = append(due, p)
		}
	}
	q.mu.Unlock()
	q.sess.h.counters.AckResends.Add(uint64(len(due)))
	for _, f := range due {
		q.sess.queue(f.head, f.body, f.tail)
	}
}

// overBudget closes a connection whose unacknowledged frames would go over
// their budget.
func (sess *session) overBudget(why string) {
	sess.h.counters.SlowConsumers.Add(1)
	sess.h.log.Info("slow consumer disconnected", "session", sess.id, "reason", why)
	sess.tc.Close(transport.ClosePolicyViolation, "acknowledgments: "+why)
}
