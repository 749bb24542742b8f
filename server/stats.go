package server

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/rollcall/rollcall/adapter"
	"github.com/rollcall/rollcall/transport"
)

// Stats is a snapshot of a server's counters and state, as Server.Stats
// returns it and GET /api/stats and the dashboard show it. Counters count
// from the server's start; rates are the differences between two snapshots
// divided by the difference of their Uptime.
type Stats struct {
	// Started is when the server was created.
	Started time.Time `json:"started"`
	// Uptime is how long the server has run, in seconds.
	Uptime float64 `json:"uptime_seconds"`
	// Connections is how many WebSocket connections are open now.
	Connections int64 `json:"connections"`
	// ConnectionsTotal counts every connection accepted (upgraded).
	ConnectionsTotal uint64 `json:"connections_total"`
	// ClosedForCause counts the connections the server closed because of
	// the client: protocol errors, bad data, oversized messages, slow
	// consumers, idle timeouts, and disconnects through the HTTP API. It
	// leaves out the closes the client started and those of a shutdown.
	ClosedForCause uint64 `json:"closed_for_cause"`
	// SlowConsumers counts the connections closed (1008) because their
	// outbound queue overflowed; they are counted in ClosedForCause too.
	SlowConsumers uint64 `json:"slow_consumers"`
	// Members is how many members have joined, and Channels how many
	// channels exist, now.
	Members  int `json:"members"`
	Channels int `json:"channels"`
	// MessagesIn counts the text messages received from clients, and
	// MessagesOut those written to clients' sockets.
	MessagesIn  uint64 `json:"messages_in"`
	MessagesOut uint64 `json:"messages_out"`
	// Publishes counts the messages published: by clients (accepted by the
	// engine) and by the server (Broadcast, the HTTP API).
	Publishes uint64 `json:"publishes"`
	// Errors counts the error frames sent to clients (refused requests,
	// invalid messages, rate limiting).
	Errors uint64 `json:"errors"`
	// RateLimited counts the messages dropped by the per-connection rate
	// limit.
	RateLimited uint64 `json:"rate_limited"`
	// InvalidFrames counts the client frames that were not the protocol:
	// not JSON, "jsonrpc" not "2.0", no or an unknown method. By default
	// they are ignored or answered with error 40 (those replies count in
	// Errors too); with Options.Strict they close the connection (counted
	// in ClosedForCause too) or get error 41.
	InvalidFrames uint64 `json:"invalid_frames"`
	// Goroutines is the number of goroutines of the whole process.
	Goroutines int `json:"goroutines"`
	// Nodes lists the cluster's nodes, this one first (absent on a single
	// node).
	Nodes []ClusterNode `json:"nodes,omitempty"`
	// Peers is how many of its configured peers this node reaches (absent
	// on a single node and on an external NATS).
	Peers *PeerReach `json:"peers,omitempty"`
}

// counters are the server's own counters; each is one atomic add on its
// path, with no lock and no allocation.
type counters struct {
	transport        transport.Counters // messages read and written, counted by the transport
	adapter.Counters                    // publishes, errors…, counted by the protocol adapters

	open           atomic.Int64
	accepted       atomic.Uint64
	closedForCause atomic.Uint64
}

// Stats returns the server's counters and the size of its state now.
func (s *Server) Stats() Stats {
	c := &s.counters
	return Stats{
		Started:          s.started,
		Uptime:           time.Since(s.started).Seconds(),
		Connections:      c.open.Load(),
		ConnectionsTotal: c.accepted.Load(),
		ClosedForCause:   c.closedForCause.Load(),
		SlowConsumers:    c.SlowConsumers.Load(),
		Members:          s.engine.MemberCount(),
		Channels:         s.engine.ChannelCount(),
		MessagesIn:       c.transport.MessagesRead.Load(),
		MessagesOut:      c.transport.MessagesWritten.Load(),
		Publishes:        c.Publishes.Load(),
		Errors:           c.Errors.Load(),
		RateLimited:      c.RateLimited.Load(),
		InvalidFrames:    c.InvalidFrames.Load(),
		Goroutines:       runtime.NumGoroutine(),
		Nodes:            s.clusterNodes(),
		Peers:            s.peerReach(),
	}
}
