package server

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the connection and HTTP limits, for the Limits fields left
// zero. docs/security.md says what each protects against.
const (
	DefaultMaxConnections      = 100_000
	DefaultMaxConnectionsPerIP = 1_000
	DefaultMaxDashboardStreams = 16
	DefaultBodyTimeout         = 60 * time.Second
	DefaultAuthFailuresPerMin  = 30
)

// NoLimit as Limits.MaxConnections, MaxConnectionsPerIP,
// MaxDashboardStreams or Auth.FailuresPerMinute turns that cap off.
const NoLimit = -1

// authFailureWindow is the window Auth.FailuresPerMinute counts in.
const authFailureWindow = time.Minute

// orDefault is v, or def when v is zero; NoLimit (any negative) is 0,
// meaning no cap.
func orDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// connLimits counts the WebSocket connections, server-wide and per remote
// IP, from the admission of the handshake to the connection's end.
type connLimits struct {
	max, perIP int // 0: no cap

	mu    sync.Mutex
	total int
	byIP  map[string]int

	refusedMax, refusedPerIP atomic.Uint64
}

func newConnLimits(l Limits) *connLimits {
	return &connLimits{
		max:   orDefault(l.MaxConnections, DefaultMaxConnections),
		perIP: orDefault(l.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP),
		byIP:  make(map[string]int),
	}
}

// acquire takes a slot for a connection from ip, or says why not: the
// status (503 server full, 429 too many from this address) and the text.
func (l *connLimits) acquire(ip string) (status int, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.max > 0 && l.total >= l.max {
		l.refusedMax.Add(1)
		return http.StatusServiceUnavailable, fmt.Sprintf("server is full (%d connections, --max-connections); try again later", l.max)
	}
	if l.perIP > 0 && l.byIP[ip] >= l.perIP {
		l.refusedPerIP.Add(1)
		return http.StatusTooManyRequests, fmt.Sprintf("too many connections from your address (%d, --max-connections-per-ip)", l.perIP)
	}
	l.total++
	l.byIP[ip]++
	return 0, ""
}

// release gives back the slot acquire took for ip.
func (l *connLimits) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.byIP[ip] - 1; n > 0 {
		l.byIP[ip] = n
	} else {
		delete(l.byIP, ip)
	}
}

// admit takes a connection slot for a WebSocket handshake, or answers it
// (503 when the server is full, 429 when its address has too many) before
// any upgrade. The slot is the connection's until release.
func (s *Server) admit(w http.ResponseWriter, r *http.Request) bool {
	status, msg := s.connLimits.acquire(remoteIP(r))
	if status == 0 {
		return true
	}
	s.log.Debug("websocket connection refused", "remote", r.RemoteAddr, "reason", msg)
	s.refusals.refused(r, status, msg)
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "10")
	}
	http.Error(w, "rollcall: "+msg, status)
	return false
}

// release gives back the slot admit took for a connection from addr (a
// request's RemoteAddr or the connection's remote address).
func (s *Server) release(addr string) {
	ip, _, err := net.SplitHostPort(addr)
	if err != nil {
		ip = addr
	}
	s.connLimits.release(ip)
}

// boundBody gives a request that is not a WebSocket upgrade and has a body
// Limits.BodyTimeout from now to be read whole; a client that sends its
// body slower is cut off. Upgrades, whose connection lives on, and
// requests without a body (a dashboard stream) keep no deadline.
func (s *Server) boundBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil || r.Body == http.NoBody || isUpgrade(r) {
		return
	}
	d := s.opts.Limits.BodyTimeout
	if d <= 0 {
		d = DefaultBodyTimeout
	}
	// Not every ResponseWriter can (a test recorder): then unbounded.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(d))
}

// openDashboardStream counts a new /dashboard/events stream, or answers
// 503 when Limits.MaxDashboardStreams are open; closeDashboardStream ends
// it.
func (s *Server) openDashboardStream(w http.ResponseWriter) bool {
	max := orDefault(s.opts.Limits.MaxDashboardStreams, DefaultMaxDashboardStreams)
	if n := s.dashboardStreams.Add(1); max > 0 && n > int64(max) {
		s.dashboardStreams.Add(-1)
		http.Error(w, "rollcall: too many dashboard streams open ("+strconv.Itoa(max)+"); close one and try again", http.StatusServiceUnavailable)
		return false
	}
	return true
}

func (s *Server) closeDashboardStream() { s.dashboardStreams.Add(-1) }

// limitMetrics reports the refusals of the limits for GET /metrics.
type limitMetrics struct {
	s                            *Server
	refused, authFails, authThrt *prometheus.Desc
}

func newLimitMetrics(s *Server) *limitMetrics {
	return &limitMetrics{
		s:         s,
		refused:   prometheus.NewDesc("rollcall_connections_refused_total", "WebSocket handshakes refused by a connection limit, by limit.", []string{"limit"}, nil),
		authFails: prometheus.NewDesc("rollcall_auth_failures_total", "WebSocket handshakes refused for wrong or missing credentials.", nil, nil),
		authThrt:  prometheus.NewDesc("rollcall_auth_throttled_total", "WebSocket handshakes refused (429) because their address failed to authenticate too often.", nil, nil),
	}
}

func (m *limitMetrics) Describe(ch chan<- *prometheus.Desc) { prometheus.DescribeByCollect(m, ch) }

func (m *limitMetrics) Collect(ch chan<- prometheus.Metric) {
	cl, at := m.s.connLimits, m.s.authThrottle
	ch <- prometheus.MustNewConstMetric(m.refused, prometheus.CounterValue, float64(cl.refusedMax.Load()), "max_connections")
	ch <- prometheus.MustNewConstMetric(m.refused, prometheus.CounterValue, float64(cl.refusedPerIP.Load()), "max_connections_per_ip")
	ch <- prometheus.MustNewConstMetric(m.authFails, prometheus.CounterValue, float64(at.failures.Load()))
	ch <- prometheus.MustNewConstMetric(m.authThrt, prometheus.CounterValue, float64(at.throttled.Load()))
}
