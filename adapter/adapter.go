// Package adapter holds what every protocol adapter shares: the counters a
// server reports and the per-connection rate limit. The adapters themselves
// are its subpackages (adapter/sgc); each translates one wire protocol to
// engine calls and engine events to frames, and decides nothing itself.
package adapter

import (
	"math"
	"sync/atomic"
	"time"
)

// Counters are the protocol-level counters of a server, shared by its
// adapters. Each is one atomic add on its path.
type Counters struct {
	Publishes     atomic.Uint64 // messages published, by clients and by the server
	Errors        atomic.Uint64 // error replies sent to clients
	RateLimited   atomic.Uint64 // frames dropped by the rate limit
	SlowConsumers atomic.Uint64 // connections closed because their queue overflowed
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
func (l *RateLimiter) Allow(now time.Time) bool {
	if math.IsInf(l.Rate, 1) {
		return true
	}
	if l.last.IsZero() {
		l.tokens = l.Burst
	} else {
		l.tokens = min(l.Burst, l.tokens+now.Sub(l.last).Seconds()*l.Rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
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
