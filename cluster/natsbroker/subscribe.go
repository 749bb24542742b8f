package natsbroker

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// A channel's subscription that NATS refuses (the connection is closed or
// reconnecting, a permission is missing, a limit is reached) is retried by
// the loop with a doubling backoff, from subscribeRetryMin up to
// subscribeRetryMax. While any is failing the node is not Ready, and
// NotReadyReason names the channels.

const (
	subscribeRetryMin = 50 * time.Millisecond
	subscribeRetryMax = 5 * time.Second
)

// retry is a failing subscription's backoff.
type retry struct {
	wait time.Duration // before the next attempt
	at   time.Time     // of the next attempt
	err  error         // of the last attempt
}

// Subscribe starts receiving what other nodes Publish to channel.
// Subscribing to a channel twice is one subscription. A subscription NATS
// refuses is retried until Unsubscribe.
func (n *Node) Subscribe(channel string) {
	n.subsMu.Lock()
	defer n.subsMu.Unlock()
	if _, ok := n.subs[channel]; ok {
		return
	}
	if _, ok := n.failing[channel]; ok {
		return // the loop retries it
	}
	if err := n.subscribeLocked(channel); err != nil {
		n.failing[channel] = &retry{wait: subscribeRetryMin, at: time.Now().Add(subscribeRetryMin), err: err}
		n.log.Warn("cluster subscribe failed: retrying", "channel", channel, "err", err)
	}
}

// subscribeLocked subscribes to channel's subject. n.subsMu is held.
func (n *Node) subscribeLocked(channel string) error {
	if n.failSubs.Load() > 0 && n.failSubs.Add(-1) >= 0 {
		n.subFailures.Add(1)
		return fmt.Errorf("natsbroker: subscribe: test hook")
	}
	sub, err := n.nc.ChanSubscribe(n.pfx+"p."+token(channel), n.msgs)
	if err != nil {
		n.subFailures.Add(1)
		return fmt.Errorf("natsbroker: subscribe: %w", err)
	}
	n.subs[channel] = sub
	return nil
}

// Unsubscribe ends Subscribe.
func (n *Node) Unsubscribe(channel string) {
	n.subsMu.Lock()
	defer n.subsMu.Unlock()
	delete(n.failing, channel)
	if sub, ok := n.subs[channel]; ok {
		_ = sub.Unsubscribe()
		delete(n.subs, channel)
	}
}

// retrySubscribes retries the failing subscriptions that are due.
func (n *Node) retrySubscribes(now time.Time) {
	n.subsMu.Lock()
	defer n.subsMu.Unlock()
	for channel, r := range n.failing {
		if now.Before(r.at) {
			continue
		}
		if err := n.subscribeLocked(channel); err != nil {
			r.err = err
			r.wait = min(2*r.wait, subscribeRetryMax)
			r.at = now.Add(r.wait)
			n.log.Debug("cluster subscribe failed again", "channel", channel, "err", err, "next", r.wait)
			continue
		}
		delete(n.failing, channel)
		n.log.Info("cluster subscribe retried and done", "channel", channel)
	}
}

// subscribesFailing returns how many channels' subscriptions are failing.
func (n *Node) subscribesFailing() int {
	n.subsMu.Lock()
	defer n.subsMu.Unlock()
	return len(n.failing)
}

// subscribeProblem describes the failing subscriptions ("" if none): how
// many, the first few by name, and the last error of the first.
func (n *Node) subscribeProblem() string {
	n.subsMu.Lock()
	defer n.subsMu.Unlock()
	if len(n.failing) == 0 {
		return ""
	}
	names := slices.Sorted(maps.Keys(n.failing))
	err := n.failing[names[0]].err
	return fmt.Sprintf("broker subscription failing, retrying: %d channels %q: %v",
		len(names), names[:min(len(names), 3)], err)
}
