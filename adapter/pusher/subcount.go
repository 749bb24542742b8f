package pusher

import (
	"sync"
	"time"

	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// Subscription counts (App.SubscriptionCount): when the number of Pusher
// sockets of this node in a non-presence channel changes, the channel's
// subscribers get pusher_internal:subscription_count with the new number
// (pusher-js raises pusher:subscription_count) and the app's webhooks get a
// subscription_count event.
//
// The throttle, as Pusher's: a channel of up to countBigChannel subscribers
// hears every change at once; a bigger one at most once per
// Config.SubscriptionCountInterval, with the count of the moment it is sent
// (changes in between fold into one). One frame is encoded per update and
// queued to every subscriber.
const countBigChannel = 100

// DefaultSubscriptionCountInterval is the default of
// Config.SubscriptionCountInterval (Pusher's).
const DefaultSubscriptionCountInterval = 5 * time.Second

// subCounts keeps the local subscribers of the counted channels.
type subCounts struct {
	mu      sync.Mutex
	chans   map[string]*countedChannel // by engine name
	stopped bool
}

// countedChannel is one counted channel. Only one goroutine at a time sends
// its updates (sending), so subscribers hear the counts in order; a change
// during a send (dirty) is sent after it.
type countedChannel struct {
	app     *App
	engine  string // the engine's name
	name    string // the Pusher name
	subs    map[*session]struct{}
	last    time.Time   // when an update was last sent
	timer   *time.Timer // a pending update of a big channel
	sending bool
	dirty   bool
}

// countSub counts a session in (delta > 0) or out of a channel it
// subscribed to or left; only apps with SubscriptionCount and
// non-presence channels are counted.
func (h *Handler) countSub(s *session, typ pusherwire.ChannelType, engineName, name string, delta int) {
	if !s.app.SubscriptionCount || typ.Kind == pusherwire.Presence || typ.Kind == pusherwire.ServerToUser {
		return
	}
	c := &h.counts
	c.mu.Lock()
	// An ended session (its ctx is cancelled before it counts itself out)
	// is not counted in.
	if c.stopped || (delta > 0 && s.ctx.Err() != nil) {
		c.mu.Unlock()
		return
	}
	if c.chans == nil {
		c.chans = make(map[string]*countedChannel)
	}
	cc := c.chans[engineName]
	if cc == nil {
		if delta < 0 {
			c.mu.Unlock()
			return
		}
		cc = &countedChannel{app: s.app, engine: engineName, name: name, subs: make(map[*session]struct{})}
		c.chans[engineName] = cc
	}
	if delta > 0 {
		cc.subs[s] = struct{}{}
	} else {
		delete(cc.subs, s)
	}
	if len(cc.subs) == 0 {
		// Nobody left to tell; the webhook hears the 0.
		if cc.timer != nil {
			cc.timer.Stop()
		}
		delete(c.chans, engineName)
		c.mu.Unlock()
		h.webhook(cc.app, pusherwire.WebhookEvent{Name: pusherwire.WebhookSubscriptionCount, Channel: cc.name})
		return
	}
	cc.dirty = true
	if cc.sending || cc.timer != nil || !h.countDue(cc) {
		c.mu.Unlock()
		return
	}
	cc.sending = true
	c.mu.Unlock()
	h.sendCounts(cc)
}

// countDue reports whether cc may be sent now, and else schedules it for
// when it may. c.mu is held.
func (h *Handler) countDue(cc *countedChannel) bool {
	if len(cc.subs) <= countBigChannel {
		return true
	}
	every := h.cfg.SubscriptionCountInterval
	if every <= 0 {
		every = DefaultSubscriptionCountInterval
	}
	wait := every - time.Since(cc.last)
	if wait <= 0 {
		return true
	}
	cc.timer = time.AfterFunc(wait, func() {
		c := &h.counts
		c.mu.Lock()
		cc.timer = nil
		if c.stopped || c.chans[cc.engine] != cc || cc.sending {
			c.mu.Unlock()
			return
		}
		cc.sending = true
		c.mu.Unlock()
		h.sendCounts(cc)
	})
	return false
}

// sendCounts sends cc's updates until no change is left unsent or the
// throttle says wait; the caller has set cc.sending.
func (h *Handler) sendCounts(cc *countedChannel) {
	c := &h.counts
	c.mu.Lock()
	for {
		n := len(cc.subs)
		to := make([]*session, 0, n)
		for s := range cc.subs {
			to = append(to, s)
		}
		cc.dirty = false
		cc.last = time.Now()
		c.mu.Unlock()

		frame := pusherwire.AppendSubscriptionCount(nil, cc.name, n)
		for _, s := range to {
			s.send(frame)
		}
		h.webhook(cc.app, pusherwire.WebhookEvent{Name: pusherwire.WebhookSubscriptionCount, Channel: cc.name, SubscriptionCount: n})

		c.mu.Lock()
		if !cc.dirty || c.stopped || c.chans[cc.engine] != cc || !h.countDue(cc) {
			cc.sending = false
			c.mu.Unlock()
			return
		}
	}
}

// stopCounts stops the pending updates (Handler.Close).
func (h *Handler) stopCounts() {
	c := &h.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	for _, cc := range c.chans {
		if cc.timer != nil {
			cc.timer.Stop()
		}
	}
}
