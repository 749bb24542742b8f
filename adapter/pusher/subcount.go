package pusher

import (
	"sync"
	"time"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// Subscription counts (App.SubscriptionCount): when the number of
// subscribers of a non-presence channel changes, over every node of the
// cluster, the channel's subscribers on this node get
// pusher_internal:subscription_count with the new number (pusher-js raises
// pusher:subscription_count), and the app's webhooks get one
// subscription_count event per change for the whole cluster.
//
// The engine tells every change of a channel's count with its origin
// (Handler.subscriptions, under the channel's lock): a change on
// another node reaches this node's subscribers as soon as its replica
// hears it. The hook only records the count and, when an update is due,
// hands the sending to a goroutine: the frames are never written under the
// engine's lock. The webhook goes from the node whose own socket changed
// the count, as channel_occupied does, and for a dead node's subscribers
// from the one node Config.SendsForLeavers names.
//
// The throttle, as Pusher's: a channel of up to countBigChannel subscribers
// (over the cluster) hears every change at once; a bigger one at most once
// per Config.SubscriptionCountInterval, with the count of the moment it is
// sent (changes in between fold into one, and so do their webhooks). One
// frame is encoded per update and queued to every local subscriber that
// has not heard that count yet.
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

// countedChannel is one counted channel with subscribers on this node.
// Only one goroutine at a time sends its updates (sending), so subscribers
// hear the counts in order; a change during a send (dirty) is sent after
// it.
type countedChannel struct {
	app    *App
	engine string // the engine's name
	name   string // the Pusher name
	// subs are the local subscribers, each with the count it was last
	// sent (-1: none yet).
	subs  map[*session]int
	n     int  // the cluster's count, as the engine last told it
	known bool // n was told (else it is read from the engine)
	// own and forgotten: a change of this node's sockets, or of a dead
	// node's, is not in a webhook yet.
	own, forgotten bool
	last           time.Time   // when an update was last sent
	timer          *time.Timer // a pending update of a big channel
	sending        bool
	dirty          bool
}

// counted reports whether the subscriptions of a channel of app are
// counted: with App.SubscriptionCount, for every channel but presence and
// user channels.
func counted(app *App, typ pusherwire.ChannelType) bool {
	return app.SubscriptionCount && typ.Kind != pusherwire.Presence && typ.Kind != pusherwire.ServerToUser
}

// countSub counts a session in (delta > 0) or out of a channel it
// subscribed to or left, after the engine did. A new subscriber hears the
// count (when the throttle allows); the others heard of the change from
// the engine (countsChanged).
func (h *Handler) countSub(s *session, typ pusherwire.ChannelType, engineName, name string, delta int) {
	if !counted(s.app, typ) {
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
	if delta < 0 {
		if cc == nil {
			c.mu.Unlock()
			return
		}
		delete(cc.subs, s)
		if len(cc.subs) > 0 {
			c.mu.Unlock()
			return
		}
		// Nobody left here to tell; a webhook the throttle held goes now.
		if cc.timer != nil {
			cc.timer.Stop()
		}
		delete(c.chans, engineName)
		q, ok := cc.webhookEvent()
		c.mu.Unlock()
		if ok {
			h.pushCount(cc.app, q)
		}
		return
	}
	if cc == nil {
		cc = &countedChannel{app: s.app, engine: engineName, name: name, subs: make(map[*session]int)}
		c.chans[engineName] = cc
	}
	cc.subs[s] = -1
	if !cc.known {
		// Read after cc is in c.chans: a change from now on is told to
		// cc, and its count is at least as new as this one.
		c.mu.Unlock()
		n := h.engine.Subscriptions(engineName)
		c.mu.Lock()
		if c.chans[engineName] != cc {
			c.mu.Unlock()
			return
		}
		if !cc.known {
			cc.n, cc.known = n, true
		}
	}
	h.countChanged(cc)
}

// countsChanged hears from the engine that a channel's count over the
// cluster became n (Handler.subscriptions, with the channel's lock held:
// it records, and sends from another goroutine).
func (h *Handler) countsChanged(engineName string, n int, from presence.Origin) {
	c := &h.counts
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return
	}
	cc := c.chans[engineName]
	if cc == nil {
		c.mu.Unlock()
		if from == presence.OriginReplica {
			return
		}
		// No subscriber here (this node's first one is not counted in
		// yet): only the webhook.
		app, name := h.appChannel(engineName)
		if app != nil && counted(app, pusherwire.ClassifyChannel(name)) {
			ev := pusherwire.WebhookEvent{Name: pusherwire.WebhookSubscriptionCount, Channel: name, SubscriptionCount: n}
			h.pushCount(app, queued{ev, from == presence.OriginForgotten})
		}
		return
	}
	cc.n, cc.known = n, true
	switch from {
	case presence.OriginLocal:
		cc.own = true
	case presence.OriginForgotten:
		cc.forgotten = true
	}
	h.countChanged(cc)
}

// countChanged marks cc dirty and, when an update may go now, sends it
// from a new goroutine; c.mu is held, and released.
func (h *Handler) countChanged(cc *countedChannel) {
	c := &h.counts
	cc.dirty = true
	if c.stopped || cc.sending || cc.timer != nil || !h.countDue(cc) {
		c.mu.Unlock()
		return
	}
	cc.sending = true
	h.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer h.wg.Done()
		h.sendCounts(cc)
	}()
}

// webhookEvent returns the subscription_count webhook of cc's changes not
// in one yet, and forgets them; c.mu is held.
func (cc *countedChannel) webhookEvent() (queued, bool) {
	if !cc.own && !cc.forgotten {
		return queued{}, false
	}
	q := queued{
		ev:      pusherwire.WebhookEvent{Name: pusherwire.WebhookSubscriptionCount, Channel: cc.name, SubscriptionCount: cc.n},
		leavers: !cc.own,
	}
	cc.own, cc.forgotten = false, false
	return q, true
}

// pushCount queues a subscription_count webhook; it never blocks.
func (h *Handler) pushCount(app *App, q queued) {
	for _, w := range h.hooks[app] {
		w.push(q.ev, q.leavers)
	}
}

// countDue reports whether cc may be sent now, and else schedules it for
// when it may. c.mu is held.
func (h *Handler) countDue(cc *countedChannel) bool {
	if cc.n <= countBigChannel {
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
		n := cc.n
		var to []*session
		for s, heard := range cc.subs {
			if heard != n {
				to = append(to, s)
				cc.subs[s] = n
			}
		}
		q, hook := cc.webhookEvent()
		cc.dirty = false
		cc.last = time.Now()
		c.mu.Unlock()

		if len(to) > 0 {
			frame := pusherwire.AppendSubscriptionCount(nil, cc.name, n)
			for _, s := range to {
				s.send(frame)
			}
		}
		if hook {
			h.pushCount(cc.app, q)
		}

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

// countsAny reports whether an app counts subscriptions.
func (h *Handler) countsAny() bool {
	for _, app := range h.apps {
		if app.SubscriptionCount {
			return true
		}
	}
	return false
}
