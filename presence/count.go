package presence

import (
	"math"
	"time"
)

// DefaultCountInterval is the least time between two member counts sent to
// a channel's ModeCounts subscribers (Options.CountInterval).
const DefaultCountInterval = 250 * time.Millisecond

// countState paces the member counts of a channel with ModeCounts
// subscribers: the first change of a quiet channel is told at once, the
// changes within the interval that follows in one count at its end.
// Guarded by the channel's mu.
type countState struct {
	open  bool // an interval runs
	held  bool // open without an interval: a batch is applied (channel.hold)
	dirty bool // the count changed during it
	timer *time.Timer
}

// DefaultCountRate is the most count frames per second one channel's
// counts make on a node (Options.CountRate).
const DefaultCountRate = 10000

// countInterval is the time between two counts of ch: the interval, or
// longer when ch has more ModeCounts subscribers than the node's count
// rate lets it tell that often (every count is a frame to each of them,
// and at tens of thousands the writes are the node's work). ch.mu must be
// held.
func (e *Engine) countInterval(ch *channel) time.Duration {
	d := e.opts.CountInterval
	if d <= 0 {
		d = DefaultCountInterval
	}
	rate := e.opts.CountRate
	if rate == 0 {
		rate = DefaultCountRate
	}
	if rate > 0 {
		d = max(d, time.Duration(ch.countSubs)*time.Second/time.Duration(rate))
	}
	return d
}

// noteCountSub counts a ModeCounts subscriber in or out (delta ±1). ch.mu
// must be held.
func (ch *channel) noteCountSub(delta int) {
	ch.countSubs += delta
	switch {
	case ch.countSubs > 0 && ch.count == nil:
		ch.count = &countState{}
	case ch.countSubs == 0 && ch.count != nil:
		if ch.count.timer != nil {
			ch.count.timer.Stop()
		}
		ch.count = nil
	}
}

// countEvent is the channel's member count now.
func (ch *channel) countEvent() *Event {
	return &Event{Kind: KindCount, Channel: ch.wireName(), Count: int32(min(len(ch.members), math.MaxInt32)), Version: ch.version}
}

// countDue returns the count to send now that the member count changed,
// if no interval runs (opening one); ok is false otherwise. ch.mu must be
// held.
func (e *Engine) countDue(ch *channel) (delivery, bool) {
	s := ch.count
	if s == nil {
		return delivery{}, false
	}
	if s.open {
		s.dirty = true
		return delivery{}, false
	}
	s.open = true
	if s.timer == nil {
		s.timer = time.AfterFunc(e.countInterval(ch), func() { e.countEnd(ch, s) })
	} else {
		s.timer.Reset(e.countInterval(ch))
	}
	return delivery{op: deliverAll, to: toCounts, ev: ch.countEvent()}, true
}

// countEnd sends the count if it changed during s's interval, and opens
// another if it did.
func (e *Engine) countEnd(ch *channel, s *countState) {
	ch.mu.Lock()
	if ch.dead || ch.count != s || !s.dirty {
		if ch.count == s {
			s.open = false
		}
		ch.mu.Unlock()
		return
	}
	s.dirty = false
	s.timer.Reset(e.countInterval(ch))
	t := ch.out.push(delivery{op: deliverAll, to: toCounts, ev: ch.countEvent()})
	ch.mu.Unlock()
	ch.out.flush(t)
}
