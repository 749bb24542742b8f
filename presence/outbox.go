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

	// The local subscribers, by how they hear member changes (Mode); only
	// the runner reads or writes them.
	events, diffs, counts []*Conn
}

type deliveryOp uint8

const (
	deliverAll deliveryOp = iota // ev to every subscriber but ev.Except
	deliverOne                   // ev to conn alone
	addSub                       // conn becomes a subscriber
	removeSub                    // conn is no longer one
)

// audience picks the subscribers a deliverAll reaches by their Mode; zero
// is all of them (a publish).
type audience uint8

const (
	toAll    audience = 0
	toEvents audience = 1 << iota // member events: ModeEvents (and self)
	toDiffs                       // diffs and lists: ModeDiffs
	toCounts                      // counts: ModeCounts
)

type delivery struct {
	op deliveryOp
	// to picks the subscribers of a deliverAll. self is a subscriber
	// outside that audience that hears the event too: the connection whose
	// own change a member event reports (its subscribe's or join's
	// confirmation), when it hears the others' changes as diffs or counts.
	to   audience
	mode Mode // addSub: how conn hears member changes
	ev   *Event
	conn *Conn
	self *Conn
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
		if d.to == toAll || d.to&toEvents != 0 {
			o.deliver(d, o.events)
		}
		if d.to == toAll || d.to&toDiffs != 0 {
			o.deliver(d, o.diffs)
		}
		if d.to == toAll || d.to&toCounts != 0 {
			o.deliver(d, o.counts)
		}
		if d.self != nil {
			d.self.sink.Deliver(d.ev)
		}
	case deliverOne:
		d.conn.sink.Deliver(d.ev)
	case addSub:
		switch d.mode {
		case ModeDiffs:
			o.diffs = append(o.diffs, d.conn)
		case ModeCounts:
			o.counts = append(o.counts, d.conn)
		default:
			o.events = append(o.events, d.conn)
		}
	case removeSub:
		o.events = drop(o.events, d.conn)
		o.diffs = drop(o.diffs, d.conn)
		o.counts = drop(o.counts, d.conn)
	}
	if d.wait != nil {
		close(d.wait.done)
	}
}

// deliver hands d's event to each of subs but the event's Except.
func (o *outbox) deliver(d *delivery, subs []*Conn) {
	for _, c := range subs {
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
}

// drop removes c from subs, if it is there.
func drop(subs []*Conn, c *Conn) []*Conn {
	if i := slices.Index(subs, c); i >= 0 {
		return slices.Delete(subs, i, i+1)
	}
	return subs
}
