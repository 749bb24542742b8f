package natsbroker

import (
	"net"
	"os"
	"strings"
	"time"
)

// peerWarnEvery is how often a node that reaches fewer nodes than it was
// given peers says so in its log.
const peerWarnEvery = 10 * time.Second

// Reach is how much of the cluster a node with an embedded server reaches:
// the peers it was configured with, and the other rollcall nodes its
// server has a route to.
type Reach struct {
	// Configured is the number of Options.Peers, not counting this node's
	// own cluster address (every node may be given the same list).
	Configured int
	// Reached is the number of other rollcall nodes routed to. Routes are
	// gossiped, so a node given one live peer reaches the whole cluster:
	// Reached may be more than Configured.
	Reached int
}

// Reach reports the node's configured peers and the nodes it has a route
// to (zero on an external NATS, where there are no routes).
func (n *Node) Reach() Reach {
	if n.srv == nil {
		return Reach{}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return Reach{Configured: n.configuredPeers(), Reached: len(n.routed)}
}

// configuredPeers counts Options.Peers other than this node itself: an
// address with this node's route port at its listen or advertised host,
// its host name or a loopback address. Every node may be given the same
// list.
func (n *Node) configuredPeers() int {
	if n.configured >= 0 {
		return n.configured
	}
	_, port, _ := net.SplitHostPort(n.ClusterAddr())
	self := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	for _, a := range []string{n.o.ClusterListen, n.o.ClusterAdvertise, n.ClusterAddr()} {
		if h, _, err := net.SplitHostPort(a); err == nil {
			self[h] = true
		}
	}
	if h, err := os.Hostname(); err == nil {
		self[h] = true
	}
	c := 0
	for _, p := range n.o.Peers {
		if _, rest, ok := strings.Cut(p, "://"); ok {
			p = rest
		}
		if i := strings.LastIndexByte(p, '@'); i >= 0 {
			p = p[i+1:]
		}
		h, pp, err := net.SplitHostPort(p)
		if err != nil || pp != port || !self[h] {
			c++
		}
	}
	n.configured = c
	return c
}

// checkReach runs every tick, with n.mu held: while the node reaches fewer
// nodes than it was given peers (after JoinTimeout from the start), it
// logs a warning every peerWarnEvery, and once when they are reached.
func (n *Node) checkReach(now time.Time) {
	if n.srv == nil || len(n.o.Peers) == 0 || now.Sub(n.started) < n.o.JoinTimeout {
		return
	}
	r := Reach{Configured: n.configuredPeers(), Reached: len(n.routed)}
	switch {
	case r.Reached >= r.Configured && n.peerWarned.IsZero():
	case r.Reached >= r.Configured:
		n.log.Info("cluster peers reached", "configured", r.Configured, "reached", r.Reached)
		n.peerWarned = time.Time{}
	case now.Sub(n.peerWarned) >= peerWarnEvery:
		n.log.Warn("cluster peers unreachable: check --cluster-peers, that those nodes run, and the route secret and TLS",
			"configured", r.Configured, "reached", r.Reached, "peers", strings.Join(n.o.Peers, ","))
		n.peerWarned = now
	}
}
