package server

import (
	"github.com/rollcall/rollcall/adapter/pusher"
)

// PusherOptions turn on the Pusher Channels protocol (docs/pusher.md):
// WebSocket connections on /app/{key} and the Pusher HTTP API under
// /apps/{id}/, on the same listener and engine as the sgc protocol. No
// apps: Pusher is off. Engine, Poller, Counters and Logger are the
// server's own; the other fields are adapter/pusher's Config.
type PusherOptions = pusher.Config

// setupPusher creates the Pusher handler and its routes, when apps are
// configured.
func (s *Server) setupPusher() error {
	cfg := s.opts.Pusher
	if len(cfg.Apps) == 0 {
		return nil
	}
	cfg.Engine, cfg.Poller, cfg.Counters, cfg.Host, cfg.Logger = s.engine, s.poller, &s.counters.Counters, (*host)(s), s.log
	cfg.MessagesPerSecond, cfg.Burst = s.opts.Limits.MessagesPerSecond, s.opts.Limits.Burst
	if cfg.SendsForLeavers == nil && s.opts.Cluster != nil {
		cfg.SendsForLeavers = s.firstLiveNode
	}
	h, err := pusher.New(cfg)
	if err != nil {
		return err
	}
	s.pusher = h
	// Pusher's own authorization is per channel (and signin): its
	// handshakes are not authenticated.
	s.mux.HandleFunc("GET /app/{key...}", s.serveEndpoint(s.newEndpoint(h, false)))
	h.Routes(s.mux)
	return nil
}

// Pusher returns the Pusher handler, nil when no Pusher app is set up.
func (s *Server) Pusher() *pusher.Handler { return s.pusher }

// firstLiveNode reports whether this node has the lowest name among the
// live nodes of its cluster: the one that sends the Pusher webhooks of the
// channels a dead or departed node vacated.
func (s *Server) firstLiveNode() bool {
	self := s.opts.Cluster.Name()
	for _, n := range s.opts.Cluster.Nodes() {
		if !n.Self && n.State == "alive" && n.Name < self {
			return false
		}
	}
	return true
}
