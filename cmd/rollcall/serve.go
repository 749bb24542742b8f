package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/adapter/sgc"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/server"
	"github.com/rollcall/rollcall/transport"
	"github.com/rollcall/rollcall/web"
)

// config is everything `rollcall serve` can be told, from the YAML file,
// the environment and flags (later ones win).
type config struct {
	Addr              string        `yaml:"addr"`
	LogLevel          string        `yaml:"log_level"`
	Base64            bool          `yaml:"base64"`
	KeepEmptyChannels bool          `yaml:"keep_empty_channels"`
	Strict            bool          `yaml:"strict"`
	NoWeb             bool          `yaml:"no_web"`
	ReaderPerConn     bool          `yaml:"reader_per_conn"`
	Debug             bool          `yaml:"debug"`
	MemberEvents      string        `yaml:"member_events"`
	DiffWindow        time.Duration `yaml:"diff_window"`
	PresenceGrace     time.Duration `yaml:"presence_grace"`
	PresenceGraceMax  int           `yaml:"presence_grace_max"`
	CountInterval     time.Duration `yaml:"count_interval"`
	CountRate         int           `yaml:"count_rate"`
	PingInterval      time.Duration `yaml:"ping_interval"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	ShutdownTimeout   time.Duration `yaml:"shutdown_timeout"`
	APIKey            string        `yaml:"api_key"`
	AllowedOrigins    []string      `yaml:"allowed_origins"`
	PublicOrigins     []string      `yaml:"public_origins"`
	TrustForwarded    bool          `yaml:"trust_forwarded_host"`
	HTTPReadTimeout   time.Duration `yaml:"http_read_timeout"`
	HTTPIdleTimeout   time.Duration `yaml:"http_idle_timeout"`
	TLSCert           string        `yaml:"tls_cert"`
	TLSKey            string        `yaml:"tls_key"`
	Cluster           clusterConfig `yaml:",inline"`
	Auth              struct {
		Mode               string        `yaml:"mode"`
		UsersFile          string        `yaml:"users_file"`
		JWTSecret          string        `yaml:"jwt_secret"`
		JWTPublicKey       string        `yaml:"jwt_public_key"`
		JWTAudience        string        `yaml:"jwt_audience"`
		JWTIssuer          string        `yaml:"jwt_issuer"`
		RefuseNameMismatch bool          `yaml:"refuse_name_mismatch"`
		AppMemberIDs       bool          `yaml:"app_member_ids"`
		JWTMaxAge          time.Duration `yaml:"jwt_max_age"`
		JWTNameClaim       string        `yaml:"jwt_name_claim"`
		FailuresPerMinute  int           `yaml:"failures_per_minute"`
	} `yaml:"auth"`
	Ack struct {
		Enabled    bool          `yaml:"enabled"`
		Interval   time.Duration `yaml:"interval"`
		Timeout    time.Duration `yaml:"timeout"`
		MaxRetries int           `yaml:"max_retries"`
		// MaxPending and MaxPendingBytes bound a connection's
		// unacknowledged frames (1008 past either).
		MaxPending      int   `yaml:"max_pending"`
		MaxPendingBytes int64 `yaml:"max_pending_bytes"`
	} `yaml:"ack"`
	Limits struct {
		MaxMessageSize       int64   `yaml:"max_message_size"`
		MaxChannelsPerConn   int     `yaml:"max_channels_per_conn"`
		MaxMembersPerChannel int     `yaml:"max_members_per_channel"`
		MaxChannelName       int     `yaml:"max_channel_name"`
		MessagesPerSecond    float64 `yaml:"messages_per_second"`
		Burst                int     `yaml:"burst"`
		QueueLength          int     `yaml:"queue_length"`
		MaxConnections       int     `yaml:"max_connections"`
		MaxConnectionsPerIP  int     `yaml:"max_connections_per_ip"`
		MaxDashboardStreams  int     `yaml:"max_dashboard_streams"`
		MaxQueueBytes        int64   `yaml:"max_queue_bytes"`
		MemberListsPerSecond float64 `yaml:"member_lists_per_second"`
		MaxInvitees          int     `yaml:"max_invitees"`
		MaxMembersPage       int     `yaml:"max_members_page"`
		ListPageSize         int     `yaml:"list_page_size"`
	} `yaml:"limits"`
	Pusher pusherConfig `yaml:"pusher"`
}

// HTTP bounds of `rollcall serve`: the request line and headers must
// arrive within readHeaderTimeout; an idle keep-alive connection is closed
// after --http-idle-timeout.
const (
	readHeaderTimeout      = 10 * time.Second
	defaultHTTPIdleTimeout = 120 * time.Second
)

func defaultConfig() config {
	var c config
	c.Addr = ":8080"
	c.LogLevel = "info"
	c.MemberEvents = "all"
	c.DiffWindow = presence.DefaultDiffWindow
	c.CountInterval = presence.DefaultCountInterval
	c.CountRate = presence.DefaultCountRate
	c.Auth.Mode = "none"
	c.PingInterval = server.DefaultPingInterval
	c.IdleTimeout = transport.DefaultIdleTimeout
	c.WriteTimeout = transport.DefaultWriteTimeout
	c.ShutdownTimeout = 10 * time.Second
	c.HTTPReadTimeout = server.DefaultBodyTimeout
	c.HTTPIdleTimeout = defaultHTTPIdleTimeout
	c.Auth.JWTNameClaim = "name"
	c.Auth.FailuresPerMinute = server.DefaultAuthFailuresPerMin
	c.Ack.Interval = server.DefaultAckInterval
	c.Ack.Timeout = server.DefaultAckTimeout
	c.Ack.MaxRetries = server.DefaultAckMaxRetries
	c.Limits.MaxMessageSize = transport.DefaultMaxMessageSize
	c.Limits.MaxChannelsPerConn = presence.DefaultMaxChannelsPerConn
	c.Limits.MaxChannelName = presence.DefaultMaxChannelName
	c.Limits.MessagesPerSecond = server.DefaultMessagesPerSecond
	c.Limits.Burst = 2 * server.DefaultMessagesPerSecond
	c.Limits.QueueLength = transport.DefaultQueueLength
	c.Limits.MaxConnections = server.DefaultMaxConnections
	c.Limits.MaxConnectionsPerIP = server.DefaultMaxConnectionsPerIP
	c.Limits.MaxDashboardStreams = server.DefaultMaxDashboardStreams
	c.Limits.MaxQueueBytes = transport.DefaultMaxQueueBytes
	c.Limits.MemberListsPerSecond = sgc.DefaultMemberListsPerSecond
	c.Limits.MaxInvitees = sgc.DefaultMaxInvitees
	c.PresenceGraceMax = presence.DefaultMaxGhosts
	c.Limits.MaxMembersPage = server.DefaultMaxMembersPage
	c.Limits.ListPageSize = sgc.DefaultListPageSize
	c.Ack.MaxPending = sgc.DefaultMaxPending
	c.Ack.MaxPendingBytes = sgc.DefaultMaxPendingBytes
	c.Pusher.ActivityTimeout = pusher.DefaultActivityTimeout
	c.Cluster = defaultClusterConfig()
	return c
}

func (c *config) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen address (env ROLLCALL_ADDR)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "turn on the HTTP API under /api/ with this bearer key (env ROLLCALL_API_KEY)")
	fs.Func("allowed-origins", "comma-separated browser origins allowed besides the server's own host: *, https://app.example.com, *.example.com", func(v string) error {
		c.AllowedOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
		return nil
	})
	publicGiven := false // the first --public-origin replaces the file's list; more add to it
	fs.Func("public-origin", "the server's public origin as browsers reach it (https://presence.example.com), repeatable or comma-separated; set, a browser Origin must be one of them or in --allowed-origins, instead of naming the request's Host (set it behind a proxy)", func(v string) error {
		if !publicGiven {
			c.PublicOrigins, publicGiven = nil, true
		}
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.PublicOrigins = append(c.PublicOrigins, o)
			}
		}
		return nil
	})
	fs.BoolVar(&c.TrustForwarded, "trust-forwarded-host", c.TrustForwarded, "without --public-origin, a browser Origin must name the proxy's X-Forwarded-Host (and X-Forwarded-Proto's scheme) instead of the request's Host: set it behind a proxy that sets them, and only there (docs/deploy.md)")
	durationVar(fs, &c.HTTPReadTimeout, "http-read-timeout", "a plain HTTP request (not a WebSocket upgrade) must send its body within this")
	durationVar(fs, &c.HTTPIdleTimeout, "http-idle-timeout", "close an idle keep-alive HTTP connection after this")
	fs.IntVar(&c.Limits.MaxConnections, "max-connections", c.Limits.MaxConnections, "WebSocket connections (both protocols) open at once, 0 = no limit (past it: 503 before the upgrade)")
	fs.IntVar(&c.Limits.MaxConnectionsPerIP, "max-connections-per-ip", c.Limits.MaxConnectionsPerIP, "WebSocket connections from one IP, 0 = no limit (past it: 429 before the upgrade)")
	fs.IntVar(&c.Limits.MaxDashboardStreams, "max-dashboard-streams", c.Limits.MaxDashboardStreams, "open /dashboard/events streams, 0 = no limit (past it: 503)")
	fs.StringVar(&c.Auth.Mode, "auth", c.Auth.Mode, "authenticate WebSocket handshakes: none, basic (with --users) or jwt (with --jwt-secret or --jwt-public-key)")
	fs.StringVar(&c.Auth.UsersFile, "users", c.Auth.UsersFile, "users file for --auth basic: login:bcrypt-hash[:name[:info[:group1,group2]]] per line")
	fs.StringVar(&c.Auth.JWTSecret, "jwt-secret", c.Auth.JWTSecret, "HS256 secret for --auth jwt (env ROLLCALL_JWT_SECRET)")
	fs.StringVar(&c.Auth.JWTPublicKey, "jwt-public-key", c.Auth.JWTPublicKey, "PEM public key file (RSA: RS256, ECDSA: ES256) for --auth jwt")
	fs.StringVar(&c.Auth.JWTAudience, "jwt-audience", c.Auth.JWTAudience, "required aud claim for --auth jwt")
	fs.StringVar(&c.Auth.JWTIssuer, "jwt-issuer", c.Auth.JWTIssuer, "required iss claim for --auth jwt")
	durationVar(fs, &c.Auth.JWTMaxAge, "jwt-max-age", "refuse tokens issued (iat) longer ago than this, and tokens without iat (0: no limit)")
	fs.StringVar(&c.Auth.JWTNameClaim, "jwt-name-claim", c.Auth.JWTNameClaim, "the JWT claim holding the member's display name")
	fs.IntVar(&c.Auth.FailuresPerMinute, "auth-failures-per-minute", c.Auth.FailuresPerMinute, "failed logins one IP may make in a minute before its handshakes get 429, 0 = no limit")
	fs.BoolVar(&c.Auth.RefuseNameMismatch, "refuse-name-mismatch", c.Auth.RefuseNameMismatch, "refuse (error 48) a join whose name differs from the authenticated user's, instead of correcting it")
	fs.BoolVar(&c.Auth.AppMemberIDs, "app-member-ids", c.Auth.AppMemberIDs, "let an authenticated connection join under a member id of its own choosing (any free id, first come), as sgc's server does; the user stays the connection's")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate file (PEM); with --tls-key serves https and wss")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key file (PEM)")
	fs.BoolVar(&c.Base64, "base64", c.Base64, "encode every value the server sends as sgc@b64:")
	fs.BoolVar(&c.NoWeb, "no-web", c.NoWeb, "do not serve the demo page at /, the browser client /rollcall.js and the dashboard at /dashboard")
	fs.StringVar(&c.MemberEvents, "member-events", c.MemberEvents, "who hears server-wide joins and leaves: all (as sgc) or self (presence per channel only; for many thousands of members)")
	durationVar(fs, &c.DiffWindow, "diff-window", "merge the member changes that follow a diff for this long before the next one goes to clients that take diffs (0: send each change at once)")
	fs.IntVar(&c.PresenceGraceMax, "presence-grace-max", c.PresenceGraceMax, "most lost connections whose presence is kept at once under --presence-grace; past it a lost connection leaves at once")
	durationVar(fs, &c.PresenceGrace, "presence-grace", "keep the presence of an sgc connection lost without a leave this long, for its client to come back (resume token, or the same user) on any node without anyone seeing it leave; a node stopped with SIGTERM keeps it until its clients moved (0: leave at once, as sgc)")
	durationVar(fs, &c.CountInterval, "count-interval", "the least time between two member counts sent to counts-only subscribers")
	fs.IntVar(&c.CountRate, "count-rate", c.CountRate, "most count frames per second one channel's counts make on this node: a channel with more counts-only subscribers than this × --count-interval hears its count less often (0: no limit)")
	fs.BoolVar(&c.Debug, "debug", c.Debug, "serve the profiler at /debug/pprof/ and runtime figures at /debug/stats (for benchmarks; do not expose)")
	fs.BoolVar(&c.KeepEmptyChannels, "keep-empty-channels", c.KeepEmptyChannels, "keep channels after their last member leaves")
	fs.BoolVar(&c.Strict, "strict", c.Strict, "close (1002) a connection that sends a frame that is not JSON, has the wrong jsonrpc or no method, and answer unknown methods with error 41 (default: error 40 or ignored, the connection stays open)")
	fs.BoolVar(&c.ReaderPerConn, "reader-per-conn", c.ReaderPerConn, "give every connection a reader goroutine instead of parking idle ones in epoll (for comparison)")
	durationVar(fs, &c.PingInterval, "ping-interval", "ping clients silent for this long")
	durationVar(fs, &c.IdleTimeout, "idle-timeout", "close clients silent (no pong either) for this long")
	durationVar(fs, &c.WriteTimeout, "write-timeout", "bound on one socket write")
	durationVar(fs, &c.ShutdownTimeout, "shutdown-timeout", "how long a graceful shutdown may take")
	fs.BoolVar(&c.Ack.Enabled, "ack", c.Ack.Enabled, "acknowledged delivery: id every frame, re-send until acknowledged to clients that have acknowledged at least once")
	durationVar(fs, &c.Ack.Interval, "ack-interval", "how often unacknowledged frames are checked")
	durationVar(fs, &c.Ack.Timeout, "ack-timeout", "re-send a frame unacknowledged for this long")
	fs.IntVar(&c.Ack.MaxRetries, "ack-retries", c.Ack.MaxRetries, "re-sends before a frame is given up")
	fs.IntVar(&c.Ack.MaxPending, "ack-max-pending", c.Ack.MaxPending, "unacknowledged frames per connection before it is closed (1008)")
	fs.Int64Var(&c.Ack.MaxPendingBytes, "ack-max-pending-bytes", c.Ack.MaxPendingBytes, "bytes of unacknowledged frames per connection before it is closed (1008)")
	fs.Int64Var(&c.Limits.MaxMessageSize, "max-message-size", c.Limits.MaxMessageSize, "largest client message in bytes (close 1009)")
	fs.IntVar(&c.Limits.MaxChannelsPerConn, "max-channels", c.Limits.MaxChannelsPerConn, "channels per connection (error 43)")
	fs.IntVar(&c.Limits.MaxMembersPerChannel, "max-channel-members", c.Limits.MaxMembersPerChannel, "members per channel, 0 = no limit (error 44)")
	fs.IntVar(&c.Limits.MaxChannelName, "max-channel-name", c.Limits.MaxChannelName, "longest channel name in bytes (error 46)")
	fs.Float64Var(&c.Limits.MessagesPerSecond, "rate", c.Limits.MessagesPerSecond, "messages per second per connection, 0 = no limit (error 45)")
	fs.IntVar(&c.Limits.Burst, "burst", c.Limits.Burst, "messages a connection may send at once above the rate")
	fs.IntVar(&c.Limits.QueueLength, "queue", c.Limits.QueueLength, "outbound frames queued per connection before it is closed as slow (1008)")
	fs.Int64Var(&c.Limits.MaxQueueBytes, "max-queue-bytes", c.Limits.MaxQueueBytes, "outbound bytes queued per connection before it is closed as slow (1008)")
	fs.Float64Var(&c.Limits.MemberListsPerSecond, "member-list-rate", c.Limits.MemberListsPerSecond, "member-list requests per second per sgc connection, five seconds' worth (at least 50) at once (error 45)")
	fs.IntVar(&c.Limits.MaxInvitees, "max-invitees", c.Limits.MaxInvitees, "distinct invitees of one invitation (error 40); each counts against --rate")
	fs.IntVar(&c.Limits.MaxMembersPage, "max-members-page", c.Limits.MaxMembersPage, "largest page of members the HTTP API answers (limit=N; 400 above it), 0 = no limit")
	fs.IntVar(&c.Limits.ListPageSize, "list-page-size", c.Limits.ListPageSize, "members per rollcall@members page (member lists of clients that asked for diffs)")
	c.pusherFlags(fs)
	c.Cluster.flags(fs)
}

func (c *config) serverOptions(log *slog.Logger) server.Options {
	return server.Options{
		EncodeBase64: c.Base64,
		Acknowledgment: server.Acknowledgment{
			Enabled: c.Ack.Enabled, Interval: c.Ack.Interval, Timeout: c.Ack.Timeout, MaxRetries: c.Ack.MaxRetries,
			MaxPending: c.Ack.MaxPending, MaxPendingBytes: c.Ack.MaxPendingBytes,
		},
		Limits: server.Limits{
			MaxMessageSize:       c.Limits.MaxMessageSize,
			MaxChannelsPerConn:   c.Limits.MaxChannelsPerConn,
			MaxMembersPerChannel: c.Limits.MaxMembersPerChannel,
			MaxChannelName:       c.Limits.MaxChannelName,
			MessagesPerSecond:    c.rate(),
			Burst:                c.Limits.Burst,
			QueueLength:          c.Limits.QueueLength,
			MaxConnections:       orNoLimit(c.Limits.MaxConnections),
			MaxConnectionsPerIP:  orNoLimit(c.Limits.MaxConnectionsPerIP),
			MaxDashboardStreams:  orNoLimit(c.Limits.MaxDashboardStreams),
			BodyTimeout:          c.HTTPReadTimeout,
			MaxQueueBytes:        c.Limits.MaxQueueBytes,
			MemberListsPerSecond: c.Limits.MemberListsPerSecond,
			MaxInvitees:          c.Limits.MaxInvitees,
			MaxMembersPage:       orNoLimit(c.Limits.MaxMembersPage),
			ListPageSize:         c.Limits.ListPageSize,
		},
		CountRate:          orNoLimit(c.CountRate),
		PingInterval:       c.PingInterval,
		IdleTimeout:        c.IdleTimeout,
		WriteTimeout:       c.WriteTimeout,
		KeepEmptyChannels:  c.KeepEmptyChannels,
		Strict:             c.Strict,
		ReaderPerConn:      c.ReaderPerConn,
		APIKey:             c.APIKey,
		AllowedOrigins:     c.AllowedOrigins,
		PublicOrigins:      c.PublicOrigins,
		TrustForwardedHost: c.TrustForwarded,
		Pusher:             c.pusherOptions(),
		Logger:             log,
	}
}

// loadConfig builds the configuration: defaults, then the file named by
// --config, then the environment (ROLLCALL_ADDR, ROLLCALL_API_KEY and
// ROLLCALL_JWT_SECRET), then the flags given on the command line.
func loadConfig(args []string, stderr io.Writer) (config, error) {
	cfg, _, err := loadConfigSources(args, stderr)
	return cfg, err
}

// configSources is what loadConfigSources learns besides the
// configuration: where each value came from (YAML key -> "flag --x",
// "env X" or "file"; absent: the default), and whether --print-config
// was given.
type configSources struct {
	from  map[string]string
	print bool
}

// loadConfigSources is loadConfig, also saying where each value came
// from.
func loadConfigSources(args []string, stderr io.Writer) (config, configSources, error) {
	src := configSources{from: map[string]string{}}
	// First pass: validate the command line and find --config.
	cfg := defaultConfig()
	fs := flag.NewFlagSet("rollcall serve", flag.ContinueOnError)
	path := fs.String("config", "", "YAML configuration file; the environment overrides it, flags override both")
	fs.BoolVar(&src.print, "print-config", false, "print the configuration in effect as YAML, each value with where it came from (flag, env, file, default), and exit")
	cfg.flags(fs)
	explainFlags(&cfg, fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return cfg, src, err
	}
	if fs.NArg() > 0 {
		return cfg, src, usageError{fmt.Sprintf("serve takes no arguments, got %q", fs.Args())}
	}
	cfg = defaultConfig()
	if *path != "" {
		keys, err := cfg.readFile(*path)
		if err != nil {
			return cfg, src, err
		}
		for k := range keys {
			src.from[k] = fromFile + " " + *path
		}
	}
	for key, env := range envKeys {
		v := os.Getenv(env)
		if v == "" {
			continue
		}
		switch key {
		case "addr":
			cfg.Addr = v
		case "api_key":
			cfg.APIKey = v
		case "auth.jwt_secret":
			cfg.Auth.JWTSecret = v
		}
		src.from[key] = fromEnv + " " + env
	}
	// Second pass: flags bound to cfg, whose current values are the
	// defaults, so only the flags actually given change anything.
	again := flag.NewFlagSet("rollcall serve", flag.ContinueOnError)
	again.SetOutput(io.Discard)
	again.String("config", "", "")
	again.Bool("print-config", false, "")
	cfg.flags(again)
	if err := again.Parse(args); err != nil {
		return cfg, src, usageError{err.Error()}
	}
	keys := flagKeys(&cfg, again)
	again.Visit(func(f *flag.Flag) {
		if k, ok := keys[f.Name]; ok {
			src.from[k] = fromFlag + " --" + f.Name
		}
	})
	return cfg, src, cfg.validate()
}

// readFile reads the YAML configuration file at path over c, and returns
// the keys it sets. Unknown keys (named with their line and the nearest
// valid key) and durations without a unit are errors; relative paths in
// it (users_file, jwt_public_key, tls_cert, tls_key) are taken from the
// file's folder, not from the working directory.
func (c *config) readFile(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if err := checkKeys(&doc, reflect.TypeFor[config](), ""); err != nil {
		return nil, fmt.Errorf("config file %s %w", path, err)
	}
	if err := checkDurations(&doc, ""); err != nil {
		return nil, fmt.Errorf("config file %s %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	for _, p := range []*string{&c.Auth.UsersFile, &c.Auth.JWTPublicKey, &c.TLSCert, &c.TLSKey} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	keys := map[string]bool{}
	fileKeys(&doc, "", keys)
	return keys, nil
}

// durationKeys are the YAML keys holding durations: every time.Duration
// field of config, by its path of yaml names ("ack.interval"; an inline
// section's keys are at the top level, as "heartbeat").
var durationKeys = yamlDurationKeys(reflect.TypeFor[config](), "")

// yamlDurationKeys lists the time.Duration fields of the struct type t
// and of its struct fields, as keys under prefix.
func yamlDurationKeys(t reflect.Type, prefix string) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case !f.IsExported() || name == "-":
		case f.Type == reflect.TypeFor[time.Duration]():
			keys[prefix+name] = true
		case f.Type.Kind() == reflect.Struct && opts == "inline":
			maps.Copy(keys, yamlDurationKeys(f.Type, prefix))
		case f.Type.Kind() == reflect.Struct:
			maps.Copy(keys, yamlDurationKeys(f.Type, prefix+name+"."))
		}
	}
	return keys
}

// checkDurations refuses a duration key whose value is not a Go duration
// with a unit (YAML would read a bare 25 as 25 nanoseconds).
func checkDurations(n *yaml.Node, prefix string) error {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := checkDurations(c, prefix); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := prefix + k.Value
			switch {
			case durationKeys[key]:
				if _, err := parseDuration(v.Value); err != nil || v.Kind != yaml.ScalarNode {
					if err == nil {
						err = errors.New("want a duration such as 5s")
					}
					return fmt.Errorf("line %d: %s: %w", v.Line, key, err)
				}
			case v.Kind == yaml.MappingNode:
				if err := checkDurations(v, key+"."); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// parseDuration is time.ParseDuration with errors that say what to write.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err == nil {
		return d, nil
	}
	if _, nerr := strconv.ParseFloat(strings.TrimSpace(s), 64); nerr == nil {
		return 0, fmt.Errorf("duration %q has no unit: use e.g. %ss (units: ms, s, m, h)", s, strings.TrimSpace(s))
	}
	return 0, fmt.Errorf("bad duration %q: use e.g. 5s, 500ms or 2m", s)
}

// durationFlag is a duration flag whose errors say what to write.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return "0s"
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := parseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

func durationVar(fs *flag.FlagSet, d *time.Duration, name, usage string) {
	fs.Var(durationFlag{d}, name, usage)
}

// validate refuses settings that would mean nothing, or something other
// than what they seem to say (the server takes a zero limit as its
// default). Zero means something only where documented: --rate 0 is no
// limit, --max-channel-members 0 no cap.
func (c *config) validate() error {
	var bad []string
	positive := func(name string, d time.Duration) {
		if d <= 0 {
			bad = append(bad, fmt.Sprintf("%s must be positive (a duration such as 5s), got %v", name, d))
		}
	}
	atLeast := func(name string, v, min int64, what string) {
		if v < min {
			bad = append(bad, fmt.Sprintf("%s must be at least %d%s, got %d", name, min, what, v))
		}
	}
	positive("--ping-interval (ping_interval)", c.PingInterval)
	positive("--count-interval (count_interval)", c.CountInterval)
	atLeast("--presence-grace-max (presence_grace_max)", int64(c.PresenceGraceMax), 1, "")
	atLeast("--count-rate (count_rate)", int64(c.CountRate), 0, "")
	if c.PresenceGrace < 0 {
		bad = append(bad, fmt.Sprintf("--presence-grace (presence_grace) must be 0 (leave at once) or positive, got %v", c.PresenceGrace))
	}
	if c.DiffWindow < 0 {
		bad = append(bad, fmt.Sprintf("--diff-window (diff_window) must be 0 (send each change at once) or positive, got %v", c.DiffWindow))
	}
	positive("--idle-timeout (idle_timeout)", c.IdleTimeout)
	positive("--write-timeout (write_timeout)", c.WriteTimeout)
	positive("--shutdown-timeout (shutdown_timeout)", c.ShutdownTimeout)
	positive("--http-read-timeout (http_read_timeout)", c.HTTPReadTimeout)
	positive("--http-idle-timeout (http_idle_timeout)", c.HTTPIdleTimeout)
	if c.Auth.JWTMaxAge < 0 {
		bad = append(bad, fmt.Sprintf("--jwt-max-age (auth.jwt_max_age) must be 0 (no limit) or positive, got %v", c.Auth.JWTMaxAge))
	}
	if c.Auth.JWTNameClaim == "" {
		bad = append(bad, "--jwt-name-claim (auth.jwt_name_claim) must name a claim")
	}
	atLeast("--max-connections (limits.max_connections)", int64(c.Limits.MaxConnections), 0, " (0 = no limit)")
	atLeast("--max-connections-per-ip (limits.max_connections_per_ip)", int64(c.Limits.MaxConnectionsPerIP), 0, " (0 = no limit)")
	atLeast("--max-dashboard-streams (limits.max_dashboard_streams)", int64(c.Limits.MaxDashboardStreams), 0, " (0 = no limit)")
	atLeast("--auth-failures-per-minute (auth.failures_per_minute)", int64(c.Auth.FailuresPerMinute), 0, " (0 = no limit)")
	positive("--ack-interval (ack.interval)", c.Ack.Interval)
	positive("--ack-timeout (ack.timeout)", c.Ack.Timeout)
	atLeast("--ack-retries (ack.max_retries)", int64(c.Ack.MaxRetries), 1, "")
	atLeast("--max-message-size (limits.max_message_size)", c.Limits.MaxMessageSize, 1, " (bytes)")
	atLeast("--max-channels (limits.max_channels_per_conn)", int64(c.Limits.MaxChannelsPerConn), 1, "")
	atLeast("--max-channel-members (limits.max_members_per_channel)", int64(c.Limits.MaxMembersPerChannel), 0, " (0 = no limit)")
	atLeast("--max-channel-name (limits.max_channel_name)", int64(c.Limits.MaxChannelName), 1, " (bytes)")
	atLeast("--burst (limits.burst)", int64(c.Limits.Burst), 1, "")
	atLeast("--queue (limits.queue_length)", int64(c.Limits.QueueLength), 1, " (frames)")
	atLeast("--max-queue-bytes (limits.max_queue_bytes)", c.Limits.MaxQueueBytes, 1, " (bytes)")
	atLeast("--max-invitees (limits.max_invitees)", int64(c.Limits.MaxInvitees), 1, "")
	atLeast("--max-members-page (limits.max_members_page)", int64(c.Limits.MaxMembersPage), 0, " (0 = no limit)")
	atLeast("--list-page-size (limits.list_page_size)", int64(c.Limits.ListPageSize), 1, "")
	atLeast("--ack-max-pending (ack.max_pending)", int64(c.Ack.MaxPending), 1, " (frames)")
	atLeast("--ack-max-pending-bytes (ack.max_pending_bytes)", c.Ack.MaxPendingBytes, 1, " (bytes)")
	if r := c.Limits.MemberListsPerSecond; r <= 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		bad = append(bad, fmt.Sprintf("--member-list-rate (limits.member_lists_per_second) must be positive, got %v", r))
	}
	bad = append(bad, c.validatePusher()...)
	if r := c.Limits.MessagesPerSecond; r < 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		bad = append(bad, fmt.Sprintf("--rate (limits.messages_per_second) must be 0 (no limit) or positive, got %v", r))
	}
	bad = append(bad, c.Cluster.validate()...)
	if len(bad) > 0 {
		return usageError{strings.Join(bad, "; ")}
	}
	return nil
}

// orNoLimit is a cap for the server: 0 on the command line means no
// limit.
func orNoLimit(v int) int {
	if v == 0 {
		return server.NoLimit
	}
	return v
}

// rate is the server's MessagesPerSecond: 0 means no limit.
func (c *config) rate() float64 {
	if c.Limits.MessagesPerSecond == 0 {
		return server.NoRateLimit
	}
	return c.Limits.MessagesPerSecond
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, usageError{fmt.Sprintf("bad log level %q: use debug, info, warn or error", s)}
	}
	return l, nil
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, src, err := loadConfigSources(args, stderr)
	if err != nil {
		return err
	}
	if src.print {
		return printConfig(stdout, cfg, src.from, len(cfg.Pusher.flagApps))
	}
	level, err := parseLevel(cfg.LogLevel)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	memberEvents, err := presence.ParseMemberEvents(cfg.MemberEvents)
	if err != nil {
		return usageError{fmt.Sprintf("bad --member-events %q: want all (every member hears every join and leave, as sgc) or self (presence per channel only)", cfg.MemberEvents)}
	}
	var tlsConf *tls.Config
	switch {
	case (cfg.TLSCert == "") != (cfg.TLSKey == ""):
		return usageError{"--tls-cert and --tls-key go together"}
	case cfg.TLSCert != "":
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("load TLS certificate: %w", err)
		}
		tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	auth, err := cfg.authOptions()
	if err != nil {
		return err
	}
	opts := cfg.serverOptions(log)
	opts.MemberEvents = memberEvents
	opts.DiffWindow, opts.CountInterval = cfg.DiffWindow, cfg.CountInterval
	opts.PresenceGrace, opts.PresenceGraceMax = cfg.PresenceGrace, cfg.PresenceGraceMax
	if cfg.DiffWindow == 0 {
		opts.DiffWindow = -1 // the engine's "at once"; its zero is the default
	}
	opts.Auth = auth
	if !cfg.NoWeb {
		opts.Web = web.Handler()
		opts.Dashboard = true
	}
	cluster, err := cfg.Cluster.start(ctx, log)
	if err != nil {
		return err
	}
	if cluster != nil {
		opts.Cluster = cluster
	}
	srv, err := server.New(opts)
	if err != nil {
		if cluster != nil {
			_ = cluster.Leave()
		}
		return fmt.Errorf("configure server: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = srv.LeaveCluster()
		_ = srv.Shutdown(context.Background())
		return fmt.Errorf("listen: %w", err)
	}
	stopMetrics := func(context.Context) error { return nil }
	if cfg.Cluster.MetricsAddr != "" {
		if stopMetrics, err = serveMetrics(cfg.Cluster.MetricsAddr, srv, log); err != nil {
			_ = ln.Close()
			_ = srv.LeaveCluster()
			_ = srv.Shutdown(context.Background())
			return err
		}
	}
	var handler http.Handler = srv
	if cfg.Debug {
		handler = withDebug(withClusterHooks(srv, cluster, log))
		log.Warn("debug endpoints on: /debug/pprof/ and /debug/stats are open to anyone who can reach this address")
	}
	// No ReadTimeout: it would stay on a WebSocket connection after the
	// upgrade. The server bounds plain requests' bodies itself
	// (--http-read-timeout).
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: cfg.HTTPIdleTimeout,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	scheme := "http"
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
		scheme = "https"
	}
	log.Info("rollcall listening", "addr", ln.Addr().String(), "scheme", scheme, "version", versionString(),
		"auth", cfg.authSummary(), "http_api", cfg.APIKey != "", "pusher_apps", len(opts.Pusher.Apps), "base64", cfg.Base64, "ack", cfg.Ack.Enabled, "web", !cfg.NoWeb)
	logEndpoints(log, &cfg, ln.Addr(), tlsConf != nil, opts.Pusher.Apps)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		_ = stopMetrics(context.Background())
		_ = srv.LeaveCluster()
		_ = srv.Shutdown(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if cluster != nil && cfg.PresenceGrace > 0 {
		err = drainAndLeave(sctx, log, srv, hs, cfg.PresenceGrace)
	} else {
		if cluster != nil {
			// The others drop this node's members at once, before its
			// connections close one by one.
			log.Info("leaving the cluster")
			_ = srv.LeaveCluster()
		}
		log.Info("shutting down: closing every connection with 1001 (Pusher connections: 4200)")
		err = errors.Join(srv.Shutdown(sctx), hs.Shutdown(sctx))
	}
	err = errors.Join(err, stopMetrics(sctx))
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// drainAndLeave stops a cluster node under a presence grace: it closes
// every connection (1001) but keeps their presence, waits until their
// clients took it over on other nodes or the grace passed, and only then
// leaves the cluster, so that nobody sees the moved members leave.
func drainAndLeave(ctx context.Context, log *slog.Logger, srv *server.Server, hs *http.Server, grace time.Duration) error {
	log.Info("shutting down under a presence grace: closing every connection with 1001; their presence stays until they moved or the grace passed", "grace", grace)
	err := errors.Join(hs.Shutdown(ctx), srv.Shutdown(ctx))
	dctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	if srv.Drain(dctx) != nil {
		log.Info("grace passed with clients not moved: they leave now")
	}
	log.Info("leaving the cluster")
	return errors.Join(err, srv.LeaveCluster())
}
