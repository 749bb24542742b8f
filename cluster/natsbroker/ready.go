package natsbroker

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Ready reports whether this node has synced the entries of every live
// node it hears, is connected to NATS and has every channel subscription
// it was asked for. A starting node is not ready before it had a
// heartbeat's time to hear the others (unless its embedded server has no
// route: it is alone); with an embedded server, it is not ready either
// while a node it has a route to is not synced. A node alone is ready.
func (n *Node) Ready() bool { return n.NotReadyReason() == "" }

// NotReadyReason says why the node is not Ready, or returns "" when it is.
func (n *Node) NotReadyReason() string {
	if !n.nc.IsConnected() || (n.srv != nil && !n.srv.Running()) {
		return "not connected to NATS"
	}
	if p := n.subscribeProblem(); p != "" {
		return p
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.recv == nil || n.closed {
		return "not started"
	}
	if time.Since(n.started) < n.o.Heartbeat && !(n.srv != nil && n.srv.NumRoutes() == 0) {
		return "not synced with the cluster"
	}
	for _, p := range n.peers {
		if p.state == StateAlive && !p.synced {
			return "not synced with the cluster"
		}
	}
	for name, inc := range n.routed {
		if p := n.peers[name]; p == nil || p.inc != inc || !p.synced {
			return "not synced with the cluster" // routed to, not (yet) heard and synced
		}
	}
	return ""
}

// WaitReady waits until Ready or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !n.Ready() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsbroker: not ready: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// disconnected and reconnected follow an external NATS connection: lost,
// the node is not ready; back, it asks every node for a snapshot (it may
// have missed changes) and for a heartbeat.
func (n *Node) disconnected(_ *nats.Conn, err error) {
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return // our own Close
	}
	n.log.Warn("cluster NATS connection lost", "err", err)
}

// asyncError logs what NATS reports on its own, such as messages dropped
// because the dispatcher fell behind (a slow consumer): a lost change is
// repaired by a snapshot, a lost publish stays lost.
func (n *Node) asyncError(_ *nats.Conn, _ *nats.Subscription, err error) {
	n.log.Debug("cluster NATS error", "err", err)
}

func (n *Node) reconnected(*nats.Conn) {
	n.log.Info("cluster NATS connection back")
	now := time.Now()
	n.mu.Lock()
	for _, p := range n.peers {
		if p.state == StateAlive {
			n.unsync(p, now)
		}
	}
	n.mu.Unlock()
	n.hello()
	n.askHeartbeat()
}
