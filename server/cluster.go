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
	return s.opts.Cluster == nil || s.opts.Cluster.Ready()
}

// serveReady answers GET /readyz: 200 "ready", or 503 with the reason.
func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case s.shuttingDown():
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "shutting down")
	case s.opts.Cluster != nil && !s.opts.Cluster.Ready():
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not synced with the cluster")
	default:
		fmt.Fprintln(w, "ready")
	}
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
