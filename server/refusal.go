package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Refused handshakes (401, 403) are logged at info level, at most once per
// remote IP per refusalLogEvery, so that an operator sees why a page cannot
// connect without a misbehaving client filling the log.
const (
	refusalLogEvery = time.Minute
	// refusalLogMax bounds the addresses remembered. When that many were
	// refused within the last refusalLogEvery, refusals from further
	// addresses are counted and summed up in one line per refusalLogEvery.
	refusalLogMax = 4096
)

// refusalLog is the rate-limited logger of refused handshakes.
type refusalLog struct {
	log *slog.Logger
	now func() time.Time // time.Now; tests replace it

	mu         sync.Mutex
	last       map[string]time.Time // IP -> when its last refusal was logged
	pruned     time.Time            // when last was last swept
	unlogged   int                  // refusals not logged because last was full
	summarized time.Time            // when unlogged was last reported
}

func newRefusalLog(log *slog.Logger) *refusalLog {
	return &refusalLog{log: log, now: time.Now, last: make(map[string]time.Time)}
}

// remoteIP is the IP of r's peer (the whole address when it has no port).
func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// refused logs one refused handshake unless its address was logged within
// the last refusalLogEvery. attrs must never hold credentials.
func (l *refusalLog) refused(r *http.Request, status int, reason string, attrs ...slog.Attr) {
	ip := remoteIP(r)
	now := l.now()
	l.mu.Lock()
	if t, ok := l.last[ip]; ok && now.Sub(t) < refusalLogEvery {
		l.mu.Unlock()
		return
	}
	if now.Sub(l.pruned) >= refusalLogEvery || len(l.last) >= refusalLogMax {
		for k, t := range l.last {
			if now.Sub(t) >= refusalLogEvery {
				delete(l.last, k)
			}
		}
		l.pruned = now
	}
	if _, ok := l.last[ip]; !ok && len(l.last) >= refusalLogMax {
		l.unlogged++
		n := 0
		if now.Sub(l.summarized) >= refusalLogEvery {
			n, l.unlogged, l.summarized = l.unlogged, 0, now
		}
		l.mu.Unlock()
		if n > 0 {
			l.log.Info("websocket handshakes refused from too many addresses to log each", "unlogged", n, "addresses", refusalLogMax)
		}
		return
	}
	l.last[ip] = now
	l.mu.Unlock()
	all := append([]slog.Attr{slog.String("remote", ip), slog.Int("status", status), slog.String("reason", reason)}, attrs...)
	l.log.LogAttrs(context.Background(), slog.LevelInfo, "websocket handshake refused", all...)
}

// size is how many addresses are remembered (for tests).
func (l *refusalLog) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.last)
}
