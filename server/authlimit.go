package server

import (
	"sync"
	"sync/atomic"
	"time"
)

// authThrottleMax bounds the addresses the throttle remembers. When that
// many failed within the last minute, failures from further addresses are
// counted but not throttled (rather than refusing everyone new).
const authThrottleMax = 1 << 16

// authThrottle counts failed authentications per remote IP in fixed
// one-minute windows; an address that failed max times in its window is
// refused until the window ends.
type authThrottle struct {
	max int              // 0: no throttle
	now func() time.Time // time.Now; tests replace it

	mu     sync.Mutex
	byIP   map[string]*failWindow
	pruned time.Time

	failures, throttled atomic.Uint64
}

type failWindow struct {
	start time.Time
	n     int
}

func newAuthThrottle(perMinute int) *authThrottle {
	return &authThrottle{
		max:  orDefault(perMinute, DefaultAuthFailuresPerMin),
		now:  time.Now,
		byIP: make(map[string]*failWindow),
	}
}

// blocked reports whether ip has used up its failures, and for how long
// it stays refused.
func (t *authThrottle) blocked(ip string) (retryAfter time.Duration, ok bool) {
	if t.max == 0 {
		return 0, false
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.byIP[ip]
	if w == nil || now.Sub(w.start) >= authFailureWindow || w.n < t.max {
		return 0, false
	}
	t.throttled.Add(1)
	return w.start.Add(authFailureWindow).Sub(now), true
}

// failed counts one failed authentication from ip.
func (t *authThrottle) failed(ip string) {
	t.failures.Add(1)
	if t.max == 0 {
		return
	}
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if w := t.byIP[ip]; w != nil && now.Sub(w.start) < authFailureWindow {
		w.n++
		return
	}
	if now.Sub(t.pruned) >= authFailureWindow || len(t.byIP) >= authThrottleMax {
		for k, w := range t.byIP {
			if now.Sub(w.start) >= authFailureWindow {
				delete(t.byIP, k)
			}
		}
		t.pruned = now
	}
	if len(t.byIP) < authThrottleMax {
		t.byIP[ip] = &failWindow{start: now, n: 1}
	}
}
