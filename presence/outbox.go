package presence

import (
	"slices"
	"sync"
)

// outbox delivers a channel's events to its local subscribers in the order
// they were queued, without holding the channel's lock while it delivers.
// The channel queues under its own lock, which fixes the order; then the
// caller flushes: the first caller to find the outbox idle runs it, and
// later callers wait until their entry has been delivered. So a fan-out to N
// subscribers costs N deliveries but holds the channel's lock for O(1), and
// a storm of joins is delivered by one goroutine in a tight loop instead of
// by every joiner in turn under one lock.
//
// The list of subscribers belongs to whoever runs the outbox: adding and
// removing one are entries of the queue too, so each event reaches exactly
// the subscribers of the moment it was queued.
type outbox struct {
	mu      sync.Mutex
	queue   []delivery
	spare   []delivery // the previous batch's array, reused
	running bool

	subs []*Conn // local subscribers; only the runner reads or writes it
}

type deliveryOp uint8

const (
	deliverAll deliveryOp = iota // ev to every subscriber but ev.Except
	deliverOne                   // ev to conn alone
	addSub                       // conn becomes a subscriber
	removeSub                    // conn is no longer one
)

type delivery struct {
	op   deliveryOp
	ev   *Event
	conn *Conn
	// With deliverAll: record collects the recipients; skip leaves out
	// those of an earlier delivery's record (see outcome.toAll).
	record, skip map[*Conn]struct{}
	wait         *waiter // set when the caller waits for this entry
}

// waiter is a caller waiting for its entry. done is closed once the entry
// was delivered, or, with lead set, when the caller is to run the outbox
// itself (its entry is then still queued).
type waiter struct {
	done chan struct{}
	lead bool
}

// ticket is what push returns: whether the caller is to run the outbox,
// or the waiter to wait on; the zero ticket (nothing was queued) needs
// nothing.
type ticket struct {
	run  bool
	wait *waiter
}

// push queues ds, in order. The caller holds the channel's lock and must
// call flush with the ticket after releasing it: flush returns once the last
// of ds was delivered.
func (o *outbox) push(ds ...delivery) ticket {
	if len(ds) == 0 {
		return ticket{}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.running {
		o.running = true
		o.queue = append(o.queue, ds...)
		return ticket{run: true}
	}
	w := &waiter{done: make(chan struct{})}
	ds[len(ds)-1].wait = w
	o.queue = append(o.queue, ds...)
	return ticket{wait: w}
}

// flush returns once the entries of t were delivered.
func (o *outbox) flush(t ticket) {
	if t.wait != nil {
		<-t.wait.done
		if !t.wait.lead {
			return
		}
	} else if !t.run {
		return
	}
	o.run()
}

// run delivers batches until the queue is empty, or until after the batch
// that held the runner's own entry, when it hands the outbox to the next
// waiting caller: no caller delivers other callers' events for long.
func (o *outbox) run() {
	own := true // the runner's entry is in the first batch
	for {
		o.mu.Lock()
		if len(o.queue) == 0 {
			o.running = false
			o.mu.Unlock()
			return
		}
		if !own {
			// Hand over to the first waiting caller.
			if w := o.queue[0].wait; w != nil {
				w.lead = true
				o.queue[0].wait = nil
				close(w.done)
				o.mu.Unlock()
				return
			}
		}
		batch := o.queue
		o.queue, o.spare = o.spare[:0], nil
		o.mu.Unlock()
		for i := range batch {
			o.apply(&batch[i])
			batch[i] = delivery{}
		}
		o.mu.Lock()
		if o.spare == nil {
			o.spare = batch[:0]
		}
		o.mu.Unlock()
		own = false
	}
}

// apply delivers one entry and releases its waiter.
func (o *outbox) apply(d *delivery) {
	switch d.op {
	case deliverAll:
		for _, c := range o.subs {
			if d.ev.Except != "" && c.id == d.ev.Except {
				continue
			}
			if d.skip != nil {
				if _, done := d.skip[c]; done {
					continue
				}
			}
			if d.record != nil {
				d.record[c] = struct{}{}
			}
			c.sink.Deliver(d.ev)
		}
	case deliverOne:
		d.conn.sink.Deliver(d.ev)
	case addSub:
		o.subs = append(o.subs, d.conn)
	case removeSub:
		if i := slices.Index(o.subs, d.conn); i >= 0 {
			o.subs = slices.Delete(o.subs, i, i+1)
		}
	}
	if d.wait != nil {
		close(d.wait.done)
	}
}
