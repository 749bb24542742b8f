// Package server is rollcall's HTTP side: one http.Handler with one mux
// that answers health checks, serves the operator HTTP API, the dashboard's
// data and the web files, authenticates WebSocket handshakes, upgrades
// them, and hands each connection to its protocol's adapter (adapter/sgc on
// any path no other route claims, adapter/pusher on /app/{key}), all over
// one presence engine. It knows no wire protocol's frames or codes: the
// adapters do.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/adapter/sgc"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/transport"
)

// Defaults for Options fields left zero.
const (
	DefaultPingInterval      = 25 * time.Second
	DefaultMessagesPerSecond = 50
	DefaultAckInterval       = time.Second
	DefaultAckTimeout        = 5 * time.Second
	DefaultAckMaxRetries     = 5
	handshakeTimeout         = 10 * time.Second
)

// NoRateLimit as Limits.MessagesPerSecond lets clients send as fast as they
// like.
var NoRateLimit = math.Inf(1)

// Acknowledgment configures the server's acknowledged delivery (sgc
// Acknowledgment option). When Enabled, every frame the server sends gets an
// id; a frame not acknowledged within Timeout is re-sent byte-identical with
// the same id, checked every Interval, at most MaxRetries times, to the
// connections that have acknowledged at least once (sent an acknowledgment
// or a frame with an id); a connection that never does gets each frame once.
type Acknowledgment = sgc.Acknowledgment

// Limits protect the server from its clients. Zero fields take safe
// defaults; the README and docs/protocol.md list them.
type Limits struct {
	// MaxMessageSize is the largest message a client may send, in bytes
	// (close 1009).
	MaxMessageSize int64
	// MaxChannelsPerConn is how many channels one connection may join
	// (error 43).
	MaxChannelsPerConn int
	// MaxMembersPerChannel caps a channel (error 44); 0 means no cap.
	MaxMembersPerChannel int
	// MaxChannelName is the longest channel name in bytes (error 46).
	MaxChannelName int
	// MessagesPerSecond is the sustained rate of frames a client may send;
	// Burst is how many may come at once. Frames over the rate are dropped
	// and answered with error 45. Zero is DefaultMessagesPerSecond;
	// NoRateLimit (+Inf) turns the limit off.
	MessagesPerSecond float64
	Burst             int
	// QueueLength is how many frames may wait for a slow client before it
	// is disconnected with 1008.
	QueueLength int
	// MaxConnections caps the open WebSocket connections of both
	// protocols (past it a handshake gets 503 before the upgrade), and
	// MaxConnectionsPerIP those from one remote IP (429).
	// MaxDashboardStreams caps the open /dashboard/events streams (503).
	// Zero takes DefaultMaxConnections, DefaultMaxConnectionsPerIP and
	// DefaultMaxDashboardStreams; NoLimit turns a cap off.
	MaxConnections      int
	MaxConnectionsPerIP int
	MaxDashboardStreams int
	// BodyTimeout is how long a plain HTTP request (not an upgrade) may
	// take to send its body (DefaultBodyTimeout when zero).
	BodyTimeout time.Duration
	// MaxQueueBytes is how many bytes may wait for a slow client before it
	// is disconnected with 1008 (transport.DefaultMaxQueueBytes when zero).
	MaxQueueBytes int64
	// MemberListsPerSecond limits each sgc connection's member-list
	// requests besides MessagesPerSecond (error 45; zero is
	// sgc.DefaultMemberListsPerSecond), MaxInvitees the distinct invitees
	// of one invitation (error 40; zero is sgc.DefaultMaxInvitees).
	MemberListsPerSecond float64
	MaxInvitees          int
	// MaxMembersPage is the largest page of members the HTTP API answers
	// (limit=N, 400 above it); zero is DefaultMaxMembersPage, NoLimit
	// turns the cap off.
	MaxMembersPage int
	// ListPageSize is the most members of one rollcall@members page, the
	// member lists of sgc connections that asked for diffs (zero is
	// sgc.DefaultListPageSize).
	ListPageSize int
}

// Options configure a Server. The zero value is a working open server.
type Options struct {
	// EncodeBase64 writes every value the server sends as sgc@b64:.
	EncodeBase64   bool
	Acknowledgment Acknowledgment
	Limits         Limits
	// PingInterval is how often an otherwise silent client is pinged (each
	// client after 3/4 to all of it, drawn once, so that clients that
	// connected together are not pinged in one burst);
	// IdleTimeout closes a client that sent nothing, not even a pong, for
	// that long; WriteTimeout bounds one socket write.
	PingInterval time.Duration
	IdleTimeout  time.Duration
	WriteTimeout time.Duration
	// KeepEmptyChannels keeps a channel after its last member leaves.
	KeepEmptyChannels bool
	// Strict closes a connection (1002) that sends a frame that is not
	// JSON, whose "jsonrpc" is not "2.0" or that has no method, and answers
	// an unknown method with error 41: for developers who want to see their
	// mistakes. By default, as sgc's server, the connection stays open: such
	// a frame is answered with error 40 (not JSON, wrong "jsonrpc") or
	// ignored (no method, an unknown method), and counted in
	// Stats.InvalidFrames. Binary frames, invalid UTF-8 and oversized
	// messages close the connection either way (1003, 1007, 1009).
	Strict bool
	// ReaderPerConn gives every connection a reader goroutine for its whole
	// life instead of parking idle ones in epoll (transport.Poller), as on
	// systems without epoll. It costs about 5.5 KB more per idle
	// connection; it is there to compare the two and to rule the poller
	// out.
	ReaderPerConn bool
	// MemberEvents is who hears server-wide joins and leaves: everyone
	// (default, as sgc) or only the joiner (presence.MemberEventsSelf).
	MemberEvents presence.MemberEvents
	// DiffWindow and CountInterval pace the member changes sent to clients
	// that take diffs or counts (presence.Options; zero: the defaults,
	// 100 ms and 250 ms).
	DiffWindow    time.Duration
	CountInterval time.Duration
	// CountRate is the most count frames per second one channel's counts
	// make on this node (presence.Options.CountRate; zero: 10,000;
	// NoLimit: no limit).
	CountRate int
	// PresenceGrace keeps the presence of an sgc connection lost without
	// a leave for this long, for its client to take over on any node
	// (presence.Options.Grace); zero: it leaves at once, as in sgc.
	PresenceGrace time.Duration
	// PresenceGraceMax caps the lost connections whose presence is kept
	// at once (presence.Options.MaxGhosts; zero is
	// presence.DefaultMaxGhosts): past it a lost connection leaves at once.
	PresenceGraceMax int
	// AllowedOrigins lists the browser origins, besides the server's own
	// host, that may open a WebSocket: "*", full origins
	// ("https://app.example.com") or host patterns ("*.example.com").
	// Others get 403 before the upgrade.
	AllowedOrigins []string
	// PublicOrigins are the origins the server is reached at
	// ("https://presence.example.com"), as browsers see it. Set, a
	// handshake's Origin must be one of them or match AllowedOrigins; the
	// request's Host header no longer counts. Unset, an Origin naming the
	// request's Host passes (fine on loopback; behind a proxy, set it).
	PublicOrigins []string
	// TrustForwardedHost makes the origin check, when PublicOrigins is
	// empty, take the request's X-Forwarded-Host (and X-Forwarded-Proto)
	// for its Host: set it behind a proxy that sets them, and only
	// there, since a client reaching the server directly writes them.
	TrustForwardedHost bool
	// APIKey turns on the HTTP API under /api/ (docs/http-api.md); callers
	// send it as "Authorization: Bearer <key>". Empty: the API is off.
	APIKey string
	// Auth turns on authentication of the WebSocket handshake (HTTP Basic
	// and/or JWT); the zero value leaves the server open.
	Auth Auth
	// OnConnect is called for each new connection, after authentication and
	// after the session frame was sent, on the connection's goroutine
	// before it reads any frame; c.Identity() and c.Data() are set. ctx ends
	// with the connection.
	OnConnect func(ctx context.Context, c *presence.Conn)
	// OnDisconnect is called when a connection has ended and its member has
	// left, with the WebSocket close code (1006 when the peer vanished
	// without a close frame).
	OnDisconnect func(c *presence.Conn, code int)
	// Hooks may veto each step; Events report each change. See package
	// presence.
	Hooks  presence.Hooks
	Events presence.Events
	Logger *slog.Logger
	// Web serves the plain HTTP requests: a GET or HEAD that is not a
	// WebSocket upgrade, /healthz or /api/ goes to it (rollcall serve sets
	// web.Handler(): the demo page and rollcall.js). Nil: such requests get
	// 426 Upgrade Required.
	Web http.Handler
	// Pusher turns on the Pusher Channels protocol for its apps
	// (docs/pusher.md); no apps, no Pusher.
	Pusher PusherOptions
	// Dashboard turns on the live dashboard: its data at /dashboard/data
	// (one JSON snapshot) and /dashboard/events (a snapshot every second as
	// Server-Sent Events), and its page at /dashboard, which Web serves
	// (web.Handler has it). The data needs the API key when APIKey is set;
	// without one it is open, except on a server with Auth, which answers
	// 403 until an API key is set. Off, every path under /dashboard is 404.
	Dashboard bool
	// Cluster, when set, makes this server one node of a cluster: the
	// engine reaches the other nodes through it (see server/cluster.go).
	// New starts it; GET /readyz answers 503 until it is Ready.
	Cluster Cluster
}

// Server is an http.Handler speaking the sgc Presence protocol, and the
// Pusher Channels protocol when it has Pusher apps.
type Server struct {
	opts   Options
	log    *slog.Logger
	engine *presence.Engine
	sgc    *sgc.Handler
	topts  transport.Options // the server's; each endpoint's adapter adjusts them
	mux    *http.ServeMux

	pusher *pusher.Handler // nil: no Pusher apps

	sgcEndpoint *endpoint // any path no other route claims

	started  time.Time
	counters counters

	dashboardStreams atomic.Int64 // open /dashboard/events streams

	metricsOnce    sync.Once
	metricsHandler http.Handler // GET /metrics, built on first use

	refusals *refusalLog // refused handshakes, logged at info at most once per IP a minute

	connLimits   *connLimits   // Limits.MaxConnections and MaxConnectionsPerIP
	authThrottle *authThrottle // Auth.FailuresPerMinute

	mu     sync.Mutex
	conns  map[*transport.Conn]openConn // every open connection
	byID   map[string]*transport.Conn
	closed bool
	wg     sync.WaitGroup // one per connection
	stop   chan struct{}

	// poller wakes a connection's reader only when its client has sent
	// something; nil where epoll is not available (a goroutine per
	// connection then).
	poller *transport.Poller
}

// New returns a server; call Shutdown to stop it.
func New(opts Options) (*Server, error) {
	if opts.Limits.MaxMessageSize < 0 || opts.Limits.QueueLength < 0 || opts.Limits.MessagesPerSecond < 0 || math.IsNaN(opts.Limits.MessagesPerSecond) {
		return nil, errors.New("server: limits must not be negative")
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = DefaultPingInterval
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = transport.DefaultIdleTimeout
	}
	if opts.IdleTimeout <= opts.PingInterval {
		return nil, fmt.Errorf("server: idle timeout %v must be longer than the ping interval %v", opts.IdleTimeout, opts.PingInterval)
	}
	if opts.Limits.MessagesPerSecond == 0 {
		opts.Limits.MessagesPerSecond = DefaultMessagesPerSecond
	}
	if opts.Limits.Burst <= 0 && !math.IsInf(opts.Limits.MessagesPerSecond, 1) {
		opts.Limits.Burst = int(2 * opts.Limits.MessagesPerSecond)
	}
	ack := &opts.Acknowledgment
	if ack.Interval <= 0 {
		ack.Interval = DefaultAckInterval
	}
	if ack.Timeout <= 0 {
		ack.Timeout = DefaultAckTimeout
	}
	if ack.MaxRetries <= 0 {
		ack.MaxRetries = DefaultAckMaxRetries
	}
	if err := checkPublicOrigins(opts.PublicOrigins); err != nil {
		return nil, err
	}
	if opts.Auth.JWT != nil {
		if _, err := opts.Auth.JWT.method(); err != nil {
			return nil, err
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opts:    opts,
		log:     log,
		started: time.Now(),
		conns:   make(map[*transport.Conn]openConn),
		byID:    make(map[string]*transport.Conn),
		stop:    make(chan struct{}),

		refusals: newRefusalLog(log),

		connLimits:   newConnLimits(opts.Limits),
		authThrottle: newAuthThrottle(opts.Auth.FailuresPerMinute),
	}
	s.topts = transport.Options{
		MaxMessageSize: opts.Limits.MaxMessageSize,
		QueueLength:    opts.Limits.QueueLength,
		MaxQueueBytes:  opts.Limits.MaxQueueBytes,
		WriteTimeout:   opts.WriteTimeout,
		IdleTimeout:    opts.IdleTimeout,
		PingInterval:   opts.PingInterval,
		Counters:       &s.counters.transport,
	}
	popts := presence.Options{
		Hooks:                opts.Hooks,
		Events:               opts.Events,
		KeepEmptyChannels:    opts.KeepEmptyChannels,
		MemberEvents:         opts.MemberEvents,
		DiffWindow:           opts.DiffWindow,
		CountInterval:        opts.CountInterval,
		CountRate:            opts.CountRate,
		Grace:                opts.PresenceGrace,
		MaxGhosts:            opts.PresenceGraceMax,
		MaxChannelsPerConn:   opts.Limits.MaxChannelsPerConn,
		MaxMembersPerChannel: opts.Limits.MaxMembersPerChannel,
		MaxChannelName:       opts.Limits.MaxChannelName,
		RefuseNameMismatch:   opts.Auth.RefuseNameMismatch,
		AppMemberIDs:         opts.Auth.AppMemberIDs,
		Logger:               log,
	}
	opts.clusterOptions(&popts)
	if err := s.guardReserved(&popts); err != nil {
		return nil, err
	}
	s.engine = presence.New(popts)
	if !opts.ReaderPerConn {
		if p, err := transport.NewPoller(); err == nil {
			s.poller = p
		} else {
			log.Debug("one reader goroutine per connection", "reason", err)
		}
	}
	s.sgc = sgc.New(sgc.Config{
		Engine:               s.engine,
		EncodeBase64:         opts.EncodeBase64,
		Acknowledgment:       opts.Acknowledgment,
		MessagesPerSecond:    opts.Limits.MessagesPerSecond,
		Burst:                opts.Limits.Burst,
		MemberListsPerSecond: opts.Limits.MemberListsPerSecond,
		MaxInvitees:          opts.Limits.MaxInvitees,
		ListPageSize:         opts.Limits.ListPageSize,
		Strict:               opts.Strict,
		Poller:               s.poller,
		Counters:             &s.counters.Counters,
		Host:                 (*host)(s),
		Logger:               log,
	})
	s.sgcEndpoint = s.newEndpoint(s.sgc, true)
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	if err := s.setupPusher(); err != nil {
		s.sgc.Close()
		return nil, err
	}
	s.mux.HandleFunc("GET /readyz", s.serveReady)
	s.routeMetrics(s.mux)
	s.routeAPI(s.mux)
	s.routeDashboard(s.mux)
	s.mux.HandleFunc("/", s.serveRoot)
	if err := s.startCluster(); err != nil {
		s.sgc.Close()
		if s.poller != nil {
			_ = s.poller.Close()
		}
		return nil, err
	}
	return s, nil
}

// Engine returns the presence engine, for reading state and for
// server-side actions.
func (s *Server) Engine() *presence.Engine { return s.engine }

// Broadcast sends text from the server to a channel's members, or to every
// member when channel is "" (sgc Server.Broadcast). Clients receive a
// publish@msg with an empty member.
func (s *Server) Broadcast(ctx context.Context, channel, text string) error {
	if err := s.engine.Broadcast(ctx, channel, text); err != nil {
		return err
	}
	s.counters.Publishes.Add(1)
	return nil
}

// ServeHTTP answers GET /healthz, serves the HTTP API under /api/ and the
// dashboard under /dashboard, hands other plain requests to Options.Web,
// and upgrades WebSocket requests on any other path to the Presence
// protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.boundBody(w, r)
	if isUpgrade(r) {
		collapseLeadingSlashes(r.URL)
	}
	s.mux.ServeHTTP(w, r)
}

// collapseLeadingSlashes turns a WebSocket path that starts with several
// slashes into one that starts with one. sgc's base library joins its host
// and path as given, so a host with a trailing slash ("ws://h:8080/") opens
// "//sgc/auth/url/…"; the mux would answer such a path with a redirect,
// which a browser's WebSocket cannot follow (the page sees 1006).
func collapseLeadingSlashes(u *url.URL) {
	if !strings.HasPrefix(u.Path, "//") {
		return
	}
	u.Path = "/" + strings.TrimLeft(u.Path, "/")
	if u.RawPath != "" {
		u.RawPath = "/" + strings.TrimLeft(u.RawPath, "/")
	}
}

// serveRoot takes every path no other route claims: WebSocket upgrades
// to the sgc protocol, then the web files, then 426.
func (s *Server) serveRoot(w http.ResponseWriter, r *http.Request) {
	if isUpgrade(r) {
		s.upgrade(w, r, s.sgcEndpoint)
		return
	}
	if s.opts.Web != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		s.opts.Web.ServeHTTP(w, r)
		return
	}
	upgradeRequired(w, s.sgcEndpoint)
}

// host is the server as its adapters see it (adapter.Host): one value for
// every connection, so that none costs a callback of its own.
type host Server

// Begin registers the connection under its session id and runs
// Options.OnConnect.
func (h *host) Begin(ctx context.Context, tc *transport.Conn, c *presence.Conn) {
	s := (*Server)(h)
	s.mu.Lock()
	if oc, ok := s.conns[tc]; ok {
		oc.id = c.ID()
		s.conns[tc] = oc
	}
	s.byID[c.ID()] = tc
	s.mu.Unlock()
	if f := s.opts.OnConnect; f != nil {
		f(ctx, c)
	}
}

// End forgets the connection, whatever its protocol.
func (h *host) End(tc *transport.Conn, c *presence.Conn, code ws.StatusCode) {
	(*Server)(h).ended(tc, c, code)
}

// ended forgets a connection that has ended, whatever its protocol.
func (s *Server) ended(tc *transport.Conn, c *presence.Conn, code ws.StatusCode) {
	if sent, _ := tc.CloseStatus(); sent != 0 && !tc.ClosedByPeer() && !s.shuttingDown() {
		s.counters.closedForCause.Add(1)
	}
	if f := s.opts.OnDisconnect; f != nil && c != nil {
		f(c, int(code))
	}
	s.mu.Lock()
	if id := s.conns[tc].id; id != "" && s.byID[id] == tc {
		delete(s.byID, id)
	}
	delete(s.conns, tc)
	s.mu.Unlock()
	s.counters.open.Add(-1)
	s.release(tc.RemoteAddr().String())
	s.wg.Done()
}

// Shutdown asks each connection's adapter to close it the way of its
// protocol (sgc: close 1001 "server shutting down"; Pusher: pusher:error
// and close 4200, on which pusher-js reconnects at once), waits for them
// to end or for ctx, and stops the background loops. The http.Server that
// carries the handler is the caller's to shut down.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.stop)
	}
	for tc, oc := range s.conns {
		oc.adapter.Goodbye(tc)
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for tc := range s.conns {
			tc.Terminate()
		}
		s.mu.Unlock()
		<-done
		err = fmt.Errorf("server shutdown: %w", ctx.Err())
	}
	s.sgc.Close()
	if s.pusher != nil {
		s.pusher.Close()
	}
	if s.poller != nil {
		_ = s.poller.Close() // every connection has ended
	}
	return err
}

// Drain returns once no lost connection keeps its presence (each was taken
// over, here or on another node, or its grace passed), or when ctx is
// done. A cluster node stopping under a grace calls it after Shutdown and
// before LeaveCluster, so that its clients move without anyone seeing them
// leave.
func (s *Server) Drain(ctx context.Context) error { return s.engine.Drain(ctx) }

// conn returns the open connection with session id id, or nil.
func (s *Server) conn(id string) *transport.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byID[id]
}

// shuttingDown reports whether Shutdown was called.
func (s *Server) shuttingDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
