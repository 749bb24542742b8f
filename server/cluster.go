package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/rollcall/rollcall/presence"
)

// Cluster connects a server's engine to the other nodes of a cluster
// (cluster/natsbroker's Node implements it through a small adapter in
// cmd/rollcall). New starts it with the engine's receiver; the caller
// closes it (LeaveCluster, or its own Close) after or while shutting down.
type Cluster interface {
	presence.Broker
	// Name is this node's name.
	Name() string
	// Start begins receiving from the other nodes into r.
	Start(r presence.Receiver) error
	// Ready reports whether this node has synced every node it hears and
	// is connected to the cluster's messaging.
	Ready() bool
	// Nodes lists this node first, then the others it knows of.
	Nodes() []ClusterNode
	// Leave tells the others this node leaves (they forget its members at
	// once) and stops it.
	Leave() error
}

// ClusterReach is implemented by a Cluster that knows the peers it was
// given (an embedded NATS server's routes): /readyz and /api/stats report
// them, and the server is not ready while fewer than Required are reached.
type ClusterReach interface {
	Reach() PeerReach
}

// ClusterReadiness is implemented by a Cluster that can say why it is not
// ready: /readyz shows the reason as its status.
type ClusterReadiness interface {
	// NotReadyReason returns why the node is not ready, "" when it is.
	NotReadyReason() string
}

// PeerReach is how much of the cluster a node reaches.
type PeerReach struct {
	// Configured is how many peers the node was given (its own address
	// not counted).
	Configured int `json:"configured"`
	// Reached is how many other nodes it has a route to (routes are
	// gossiped: one live peer leads to all, so it may exceed Configured).
	Reached int `json:"reached"`
	// Required is how many it must reach to be ready (0: none).
	Required int `json:"required,omitempty"`
}

// peerReach is the cluster's PeerReach, nil without a cluster, when the
// cluster does not know its peers, or when it is all zero.
func (s *Server) peerReach() *PeerReach {
	cr, ok := s.opts.Cluster.(ClusterReach)
	if !ok {
		return nil
	}
	r := cr.Reach()
	if r == (PeerReach{}) {
		return nil // no peers given, none reached, none required
	}
	return &r
}

// ClusterNode is one node as /api/stats and the dashboard show it.
type ClusterNode struct {
	Name          string    `json:"name"`
	Incarnation   string    `json:"incarnation,omitempty"`
	State         string    `json:"state"` // alive, dead, left
	Self          bool      `json:"self,omitempty"`
	Synced        bool      `json:"synced"`
	Entries       int       `json:"entries"` // its presence entries: one per member, one per membership of a channel and one per subscription without presence
	LastHeartbeat time.Time `json:"last_heartbeat"`
}

// clusterOptions sets the engine's Node and Broker from Options.Cluster.
func (o *Options) clusterOptions(p *presence.Options) {
	if o.Cluster != nil {
		p.Node, p.Broker = o.Cluster.Name(), o.Cluster
	}
}

// startCluster starts the cluster with the engine's receiver.
func (s *Server) startCluster() error {
	if s.opts.Cluster == nil {
		return nil
	}
	if err := s.opts.Cluster.Start(s.engine.Receiver()); err != nil {
		return fmt.Errorf("server: start cluster: %w", err)
	}
	return nil
}

// Ready reports whether the server can take clients: not shutting down and,
// in a cluster, synced with the other nodes. A single node is ready at once.
func (s *Server) Ready() bool {
	if s.shuttingDown() {
		return false
	}
	if s.opts.Cluster == nil {
		return true
	}
	if r := s.peerReach(); r != nil && r.Reached < r.Required {
		return false
	}
	return s.opts.Cluster.Ready()
}

// readiness is the body of GET /readyz.
type readiness struct {
	Ready  bool       `json:"ready"`
	Status string     `json:"status"`
	Peers  *PeerReach `json:"peers,omitempty"`
}

// serveReady answers GET /readyz: 200 when ready, 503 otherwise, with a
// JSON body saying why and, in a cluster that knows its peers, how many
// of them this node reaches.
func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	body := readiness{Ready: true, Status: "ready"}
	if s.opts.Cluster != nil {
		body.Peers = s.peerReach()
	}
	switch {
	case s.shuttingDown():
		body.Ready, body.Status = false, "shutting down"
	case body.Peers != nil && body.Peers.Reached < body.Peers.Required:
		body.Ready, body.Status = false, fmt.Sprintf("waiting for cluster peers: %d reached, %d required", body.Peers.Reached, body.Peers.Required)
	case s.opts.Cluster != nil && !s.opts.Cluster.Ready():
		body.Ready, body.Status = false, "not synced with the cluster"
		if cr, ok := s.opts.Cluster.(ClusterReadiness); ok {
			if r := cr.NotReadyReason(); r != "" {
				body.Status = r
			}
		}
	}
	status := http.StatusOK
	if !body.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

// LeaveCluster tells the other nodes this node leaves, so that they drop
// its members at once; call it first on a graceful shutdown, then
// Shutdown. Without a cluster it does nothing.
func (s *Server) LeaveCluster() error {
	if s.opts.Cluster == nil {
		return nil
	}
	return s.opts.Cluster.Leave()
}

// clusterNodes is the node list of Stats (nil on a single node).
func (s *Server) clusterNodes() []ClusterNode {
	if s.opts.Cluster == nil {
		return nil
	}
	return s.opts.Cluster.Nodes()
}
