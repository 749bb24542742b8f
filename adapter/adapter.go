// Package adapter holds what every protocol adapter shares: the contract
// between the server's one upgrade path and an adapter (Handler, Peer,
// Host), the counters a server reports and the per-connection rate limit.
// The adapters themselves are its subpackages (adapter/sgc, adapter/pusher);
// each translates one wire protocol to engine calls and engine events to
// frames, and decides nothing itself.
package adapter

import (
	"context"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/transport"
)

// Handler is a protocol adapter as the server's upgrade path sees it: the
// server checks the origin, authenticates, upgrades and registers the
// connection the same way for every protocol, and asks the adapter only
// what is its protocol's.
type Handler interface {
	// Subprotocol reports whether the adapter speaks the WebSocket
	// subprotocol p that a client offers; the first one it accepts is
	// negotiated.
	Subprotocol(p string) bool
	// Transport returns the transport options of the adapter's
	// connections, given the server's.
	Transport(base transport.Options) transport.Options
	// Serve runs the protocol on tc until the connection ends, calling
	// Host.End once when it has (also when the adapter refuses the
	// connection). With a poller it may return at once.
	Serve(tc *transport.Conn, p Peer)
	// Goodbye closes tc the protocol's way because the server is shutting
	// down.
	Goodbye(tc *transport.Conn)
	// UpgradeRequired is what a plain HTTP request to the adapter's
	// endpoint is told with 426 Upgrade Required: which protocol it speaks
	// and how to connect.
	UpgradeRequired() string
}

// Peer is what the server knows of a connection it hands to an adapter.
type Peer struct {
	// Request is the upgrade request (its path values, its query). It is
	// valid during Serve only.
	Request *http.Request
	// Subprotocol is the WebSocket subprotocol negotiated, "" for none.
	Subprotocol string
	// Identity is who the handshake authenticated as (nil: not
	// authenticated), Data the application value to attach to the
	// connection, Groups the groups to file it into once it is set up.
	Identity *presence.Member
	Data     any
	Groups   []string
}

// Host is the server an adapter's connections belong to. One Host serves
// every connection of a handler, so that a connection costs the server no
// callback of its own.
type Host interface {
	// Begin is called once the engine knows connection c on tc, before
	// its first frame is read; ctx ends with the connection.
	Begin(ctx context.Context, tc *transport.Conn, c *presence.Conn)
	// End is called once after the connection on tc ended and its member
	// left, with the close code; c is nil when the adapter refused the
	// connection before the engine knew it.
	End(tc *transport.Conn, c *presence.Conn, code ws.StatusCode)
}

// Counters are the protocol-level counters of a server, shared by its
// adapters. Each is one atomic add on its path.
type Counters struct {
	Publishes     atomic.Uint64 // messages published, by clients and by the server
	Errors        atomic.Uint64 // error replies sent to clients, of every protocol
	RateLimited   atomic.Uint64 // frames dropped by the rate limit
	SlowConsumers atomic.Uint64 // connections closed because their queue overflowed
	// InvalidFrames counts the frames that were not the protocol at all
	// (sgc: not JSON, "jsonrpc" not "2.0", no or an unknown method),
	// whether they were ignored, answered with an error or closed the
	// connection.
	InvalidFrames atomic.Uint64
	AckResends    atomic.Uint64 // frames re-sent for want of an acknowledgment

	errors errorCounts // Errors by kind
}

// CountError counts one error reply of a protocol ("sgc", "pusher") in
// Errors and by its kind: reason, a snake_case name (the presence.Reason
// it answers, or the protocol's own name), and the protocol's code sent.
func (c *Counters) CountError(protocol, reason string, code int) {
	c.Errors.Add(1)
	c.errors.add(errorKind{protocol: protocol, reason: reason, code: code})
}

// ErrorCounts returns the error replies counted by kind, ordered by
// protocol and code.
func (c *Counters) ErrorCounts() []ErrorCount { return c.errors.snapshot() }

// RateLimiter is a token bucket for one connection's frames. It is not safe
// for concurrent use: a connection's reader alone uses it.
type RateLimiter struct {
	// Rate is the sustained rate in frames per second, Burst how many may
	// come at once. A Rate of +Inf means no limit.
	Rate, Burst float64

	tokens float64
	last   time.Time
	warned time.Time
}

// Allow takes a token at now and reports whether there was one.
func (l *RateLimiter) Allow(now time.Time) bool { return l.AllowN(now, 1) }

// AllowN takes n tokens at now and reports whether there were that many;
// when there were not, it takes none.
func (l *RateLimiter) AllowN(now time.Time, n int) bool {
	if math.IsInf(l.Rate, 1) {
		return true
	}
	if l.last.IsZero() {
		l.tokens = l.Burst
	} else {
		l.tokens = min(l.Burst, l.tokens+now.Sub(l.last).Seconds()*l.Rate)
	}
	l.last = now
	if l.tokens < float64(n) {
		return false
	}
	l.tokens -= float64(n)
	return true
}

// ShouldWarn limits the warnings about a refused frame to one a second; it
// is asked right after Allow refused one.
func (l *RateLimiter) ShouldWarn() bool {
	if l.last.Sub(l.warned) < time.Second {
		return false
	}
	l.warned = l.last
	return true
}
