// Package adapter holds what every protocol adapter shares: the counters a
// server reports and the per-connection rate limit. The adapters themselves
// are its subpackages (adapter/sgc); each translates one wire protocol to
// engine calls and engine events to frames, and decides nothing itself.
package adapter

import (
	"context"
	"math"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/transport"
)

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
	Errors        atomic.Uint64 // error replies sent to clients
	RateLimited   atomic.Uint64 // frames dropped by the rate limit
	SlowConsumers atomic.Uint64 // connections closed because their queue overflowed
	// InvalidFrames counts the frames that were not the protocol at all
	// (sgc: not JSON, "jsonrpc" not "2.0", no or an unknown method),
	// whether they were ignored, answered with an error or closed the
	// connection.
	InvalidFrames atomic.Uint64
	AckResends    atomic.Uint64 // frames re-sent for want of an acknowledgment

	// ErrorsByCode counts Errors by protocol error code (codes beyond the
	// array in its last element); CountError keeps both.
	ErrorsByCode [128]atomic.Uint64
}

// CountError counts one error reply with protocol error code code.
func (c *Counters) CountError(code int) {
	c.Errors.Add(1)
	c.ErrorsByCode[min(max(code, 0), len(c.ErrorsByCode)-1)].Add(1)
}

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
