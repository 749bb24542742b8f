package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// crashChannel is the channel of the cluster crash.
const crashChannel = "room"

// crash is a worker's part of the cluster crash (bench cluster with
// generators): Conns members join crashChannel over Targets (connection i
// on node i % len(Targets)); the Observers among them (all when 0) note
// every leave they hear, per event or in diffs, the rest join counts-only.
// After "ready" the coordinator names the node it will kill and its
// members' ids; after "armed" it kills the node and sends the time; the
// worker then awaits, up to Duration, every victim's leave at each observer
// on a surviving node and reports what they heard at "left".
func (w *worker) crash(ctx context.Context, l *link) error {
	if len(w.p.Targets) == 0 {
		return fmt.Errorf("crash: no nodes to spread over")
	}
	idx := w.mine(w.p.Conns)
	var armed atomic.Bool
	var victim atomic.Int64 // the killed node's index, once armed
	var falseLeaves atomic.Int64
	views := make([]*leaveView[uint64], w.p.Conns)
	h := func(i int) *Handler {
		h := w.handler()
		// The clients of the killed node lose their connection: that is the
		// scenario, not an error.
		fail := h.Error
		h.Error = func(err error) {
			if armed.Load() && int64(i%len(w.p.Targets)) == victim.Load() {
				return
			}
			fail(err)
		}
		if !w.observes(i) {
			return h
		}
		v := newLeaveView[uint64]()
		views[i] = v
		leave := func(keys ...uint64) {
			if !armed.Load() {
				falseLeaves.Add(int64(len(keys)))
			}
			v.leaveAll(keys, time.Now())
		}
		h.Leave = func(ch, id string) {
			if ch == crashChannel {
				leave(key(id))
			}
		}
		h.DiffKeys = func(ch string, _, _ uint64, _, left []uint64) {
			if ch == crashChannel && len(left) > 0 {
				leave(left...)
			}
		}
		return h
	}
	clients := w.dialAll(ctx, idx, h)
	defer closeAll(clients)
	w.joinAll(clients, crashChannel)
	r := w.tally.take()
	r.Conns = opened(clients)
	r.IDs = make([]string, len(clients))
	for k, c := range clients {
		if c != nil {
			r.IDs[k] = c.ID()
		}
	}
	o, err := l.sync("ready", r)
	if err != nil {
		return err
	}
	victims := idKeys(o.Victims)
	victim.Store(int64(o.Victim))
	// The observers may still be reading what the servers wrote them in the
	// joins (lists and diffs of every member): the kill waits until nothing
	// has arrived for a while, so that its leaves do not queue behind that.
	if !w.quiet(ctx, 300*time.Millisecond) {
		return fmt.Errorf("crash: the observers still read frames %v after the joins", w.p.Timeout)
	}
	for _, v := range views {
		if v != nil {
			v.expect(len(victims))
		}
	}
	armed.Store(true)
	if o, err = l.sync("armed", w.tally.take()); err != nil {
		return err
	}
	cpu0 := processCPU()
	killed := time.Unix(0, o.Start)
	var survivors []*leaveView[uint64]
	for k, c := range clients {
		if i := idx[k]; c != nil && views[i] != nil && int64(i%len(w.p.Targets)) != victim.Load() {
			survivors = append(survivors, views[i])
		}
	}
	awaitLeaves(ctx, survivors, victims, killed.Add(w.p.Duration))
	t := tallyLeaves(survivors, victims, killed, int(falseLeaves.Load()))
	r = w.tally.take()
	r.CPU = processCPU() - cpu0
	r.Latency = &t.lat
	r.Subscribers, r.Complete, r.Missing, r.Extra, r.False = t.subscribers, t.complete, t.missing, t.extra, t.falseLeaves
	_, err = l.sync("left", r)
	return err
}

// quiet waits until the worker's connections have received nothing for d,
// at most Params.Timeout, and reports whether they fell quiet.
func (w *worker) quiet(ctx context.Context, d time.Duration) bool {
	last, since := w.tally.bytes.Load(), time.Now()
	return waitFor(ctx, w.p.Timeout, func() bool {
		if b := w.tally.bytes.Load(); b != last {
			last, since = b, time.Now()
		}
		return time.Since(since) >= d
	})
}
