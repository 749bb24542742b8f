package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rollcall/rollcall/cluster/natsbroker"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/server"
)

// clusterConfig is the cluster part of `rollcall serve`'s configuration
// (flags and the same keys at the top level of the YAML file).
type clusterConfig struct {
	Node          string   `yaml:"node"`
	ClusterListen string   `yaml:"cluster_listen"`
	ClusterPeers  []string `yaml:"cluster_peers"`
	// ClusterMinPeers is how many other nodes this node must have a
	// route to before /readyz answers 200.
	ClusterMinPeers int           `yaml:"cluster_min_peers"`
	NATS            []string      `yaml:"nats"`
	NATSCreds       string        `yaml:"nats_creds"`
	Heartbeat       time.Duration `yaml:"heartbeat"`
	NodeTimeout     time.Duration `yaml:"node_timeout"`
	// OutboxMessages and OutboxBytes bound the changes and messages
	// waiting for NATS (natsbroker.Options.MaxOutbox*).
	OutboxMessages int `yaml:"cluster_outbox_messages"`
	OutboxBytes    int `yaml:"cluster_outbox_bytes"`
	// Route authentication and TLS of the embedded server (see
	// docs/security.md, "The cluster port").
	ClusterSecretFile string `yaml:"cluster_secret_file"`
	ClusterTLSCert    string `yaml:"cluster_tls_cert"`
	ClusterTLSKey     string `yaml:"cluster_tls_key"`
	ClusterTLSCA      string `yaml:"cluster_tls_ca"`
	ClusterInsecure   bool   `yaml:"cluster_insecure"`
	// TLS to an external NATS.
	NATSTLSCA   string `yaml:"nats_tls_ca"`
	NATSTLSCert string `yaml:"nats_tls_cert"`
	NATSTLSKey  string `yaml:"nats_tls_key"`
	// MetricsAddr, when set, serves GET /metrics without authentication on
	// a listener of its own (it is here to keep serve.go's config small).
	MetricsAddr string `yaml:"metrics_addr"`
}

func defaultClusterConfig() clusterConfig {
	return clusterConfig{Heartbeat: time.Second, NodeTimeout: 3 * time.Second,
		OutboxMessages: natsbroker.DefaultMaxOutboxMessages, OutboxBytes: natsbroker.DefaultMaxOutboxBytes}
}

func listFlag(dst *[]string) func(string) error {
	return func(v string) error {
		*dst = nil
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				*dst = append(*dst, s)
			}
		}
		return nil
	}
}

func (c *clusterConfig) flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Node, "node", c.Node, "this node's name in a cluster, unique among the live nodes (default: the host name and a random suffix)")
	fs.StringVar(&c.ClusterListen, "cluster-listen", c.ClusterListen, "run an embedded NATS server for the cluster, taking routes from the other nodes on this host:port")
	fs.Func("cluster-peers", "comma-separated cluster addresses (host:port) of some other nodes (with --cluster-listen)", listFlag(&c.ClusterPeers))
	fs.IntVar(&c.ClusterMinPeers, "cluster-min-peers", c.ClusterMinPeers, "other nodes this node must have a route to before GET /readyz answers 200 (with --cluster-listen; 0 = none)")
	fs.Func("nats", "comma-separated URLs of an external NATS (nats://[user:password@]host:4222, tls://…) instead of the embedded one", listFlag(&c.NATS))
	fs.StringVar(&c.NATSCreds, "nats-creds", c.NATSCreds, "NATS user credentials file (JWT and nkey) for --nats")
	fs.StringVar(&c.NATSTLSCA, "nats-tls-ca", c.NATSTLSCA, "CA file (PEM) that signed the external NATS's certificate, for --nats tls://…")
	fs.StringVar(&c.NATSTLSCert, "nats-tls-cert", c.NATSTLSCert, "client certificate file (PEM) for an external NATS that verifies clients")
	fs.StringVar(&c.NATSTLSKey, "nats-tls-key", c.NATSTLSKey, "private key file (PEM) of --nats-tls-cert")
	fs.StringVar(&c.ClusterSecretFile, "cluster-secret-file", c.ClusterSecretFile, "file holding the cluster's shared secret (at least 32 bytes; every node the same): routes authenticate with credentials derived from it")
	fs.StringVar(&c.ClusterTLSCert, "cluster-tls-cert", c.ClusterTLSCert, "this node's route certificate (PEM): TLS on every route, each node verifying the others' against --cluster-tls-ca")
	fs.StringVar(&c.ClusterTLSKey, "cluster-tls-key", c.ClusterTLSKey, "private key file (PEM) of --cluster-tls-cert")
	fs.StringVar(&c.ClusterTLSCA, "cluster-tls-ca", c.ClusterTLSCA, "CA file (PEM) that signed every node's route certificate")
	fs.BoolVar(&c.ClusterInsecure, "cluster-insecure", c.ClusterInsecure, "let --cluster-listen be off the loopback range without route authentication (a private network only: anyone who reaches the port joins the cluster)")
	durationVar(fs, &c.Heartbeat, "heartbeat", "how often a cluster node says it is alive")
	durationVar(fs, &c.NodeTimeout, "node-timeout", "a cluster node silent for this long is dead: its members leave")
	fs.IntVar(&c.OutboxMessages, "cluster-outbox-messages", c.OutboxMessages, "changes and messages that may wait for NATS; past it (or --cluster-outbox-bytes) they are dropped and the other nodes resync this one")
	fs.IntVar(&c.OutboxBytes, "cluster-outbox-bytes", c.OutboxBytes, "bytes of changes and messages that may wait for NATS")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "serve Prometheus metrics at /metrics on this address, without authentication (otherwise GET /metrics takes the API key)")
}

// enabled reports whether the configuration makes this server a cluster
// node.
func (c *clusterConfig) enabled() bool {
	return c.ClusterListen != "" || len(c.ClusterPeers) > 0 || len(c.NATS) > 0
}

func (c *clusterConfig) validate() []string {
	var bad []string
	if len(c.NATS) > 0 && (c.ClusterListen != "" || len(c.ClusterPeers) > 0) {
		bad = append(bad, "--nats (an external NATS) and --cluster-listen/--cluster-peers (the embedded one) exclude each other")
	}
	if (c.NATSCreds != "" || c.NATSTLSCA != "" || c.NATSTLSCert != "" || c.NATSTLSKey != "") && len(c.NATS) == 0 {
		bad = append(bad, "--nats-creds, --nats-tls-ca, --nats-tls-cert and --nats-tls-key go with --nats")
	}
	if c.ClusterMinPeers < 0 {
		bad = append(bad, fmt.Sprintf("--cluster-min-peers (cluster_min_peers) must be 0 or more, got %d", c.ClusterMinPeers))
	}
	if c.ClusterMinPeers > 0 && len(c.NATS) > 0 {
		bad = append(bad, "--cluster-min-peers counts the embedded server's routes: it does not go with --nats")
	}
	bad = append(bad, c.validateRoutes()...)
	if c.Heartbeat <= 0 {
		bad = append(bad, fmt.Sprintf("--heartbeat (heartbeat) must be positive, got %v", c.Heartbeat))
	}
	if c.OutboxMessages < 1 || c.OutboxBytes < 64<<10 {
		bad = append(bad, fmt.Sprintf("--cluster-outbox-messages must be at least 1 and --cluster-outbox-bytes at least 65536, got %d and %d", c.OutboxMessages, c.OutboxBytes))
	}
	if c.NodeTimeout < 2*c.Heartbeat {
		bad = append(bad, fmt.Sprintf("--node-timeout (node_timeout) must be at least twice --heartbeat (%v), got %v", c.Heartbeat, c.NodeTimeout))
	}
	return bad
}

// defaultNodeName is the host name and a random suffix.
func defaultNodeName() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "rollcall"
	}
	host = strings.Map(func(r rune) rune {
		if r <= ' ' || r == 0x7f {
			return '-'
		}
		return r
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	return host + "-" + strings.ToLower(rand.Text()[:6])
}

// start joins the cluster, or returns nil when the configuration names
// none. A name in use by a live node is returned as natsbroker's error,
// whose text is `node name "n1" is already in use by a live node`.
func (c *clusterConfig) start(ctx context.Context, log *slog.Logger) (*clusterNode, error) {
	if !c.enabled() {
		return nil, nil
	}
	name := c.Node
	if name == "" {
		name = defaultNodeName()
	}
	o := natsbroker.Options{
		Name:          name,
		URLs:          c.NATS,
		ClusterListen: c.ClusterListen,
		Peers:         c.ClusterPeers,
		Heartbeat:     c.Heartbeat,
		NodeTimeout:   c.NodeTimeout,
		Logger:        log,

		MaxOutboxMessages: c.OutboxMessages,
		MaxOutboxBytes:    c.OutboxBytes,
	}
	if c.NATSCreds != "" {
		o.NATSOptions = append(o.NATSOptions, nats.UserCredentials(c.NATSCreds))
	}
	if err := c.security(&o, log); err != nil {
		return nil, err
	}
	if o.ClusterListen == "" && len(o.URLs) == 0 {
		o.ClusterListen = "127.0.0.1:0"
	}
	n, err := natsbroker.New(ctx, o)
	if err != nil {
		if errors.Is(err, natsbroker.ErrNameInUse) {
			return nil, err
		}
		if errors.Is(err, nats.ErrTLS) && len(c.NATS) > 0 && c.NATSTLSCert == "" {
			// The server's refusal of a missing client certificate reaches
			// the client as a closed connection, which names no cause.
			return nil, fmt.Errorf("cluster: %w (a NATS that verifies clients needs --nats-tls-cert and --nats-tls-key)", err)
		}
		return nil, fmt.Errorf("cluster: %w", err)
	}
	log.Info("cluster node", "node", n.Name(), "incarnation", n.Incarnation(), "cluster_addr", n.ClusterAddr(), "external_nats", len(c.NATS) > 0)
	return &clusterNode{Node: n, minPeers: c.ClusterMinPeers}, nil
}

// clusterNode is natsbroker's Node as the server's Cluster.
type clusterNode struct {
	*natsbroker.Node
	minPeers int // --cluster-min-peers
}

var (
	_ server.ClusterReach        = (*clusterNode)(nil)
	_ server.ClusterReadiness    = (*clusterNode)(nil)
	_ server.ClusterBrokerHealth = (*clusterNode)(nil)
)

func (c *clusterNode) Reach() server.PeerReach {
	r := c.Node.Reach()
	return server.PeerReach{Configured: r.Configured, Reached: r.Reached, Required: c.minPeers}
}

var _ server.Cluster = (*clusterNode)(nil)

func (c *clusterNode) Start(r presence.Receiver) error { return c.Node.Start(r) }

func (c *clusterNode) Leave() error { return c.Node.Close() }

func (c *clusterNode) BrokerCounters() (in, out, resyncs uint64) {
	k := c.Node.Counters()
	return k.MessagesIn, k.MessagesOut, k.Resyncs
}

func (c *clusterNode) ControlDropped() uint64 { return c.Node.Counters().ControlDropped }

func (c *clusterNode) BrokerHealth() server.BrokerHealth {
	k := c.Node.Counters()
	return server.BrokerHealth{OutboxOverflows: k.OutboxOverflows, OutboxDropped: k.OutboxDropped,
		SubscribeFailures: k.SubscribeFailures, SubscribesFailing: k.SubscribesFailing}
}

func (c *clusterNode) Nodes() []server.ClusterNode {
	ns := c.Node.Nodes()
	out := make([]server.ClusterNode, len(ns))
	for i, n := range ns {
		out[i] = server.ClusterNode{
			Name: n.Name, Incarnation: n.Incarnation, State: n.State.String(), Self: n.Self,
			Synced: n.Synced, Entries: n.Entries, LastHeartbeat: n.LastHeartbeat,
		}
	}
	return out
}

// clusterHooksEnv turns on the cluster's test hooks (with --debug): a
// debug-only switch for process tests, never for production.
const clusterHooksEnv = "ROLLCALL_DEBUG_CLUSTER_HOOKS"

// withClusterHooks serves natsbroker's test hooks in front of next when
// ROLLCALL_DEBUG_CLUSTER_HOOKS=1 and --debug are both set:
// POST /debug/cluster/drop-next-replicate drops this node's next
// replicated change (the others repair the gap with a snapshot), and
// POST /debug/cluster/pause-heartbeats?on=1|0 stops or resumes its
// heartbeats. For tests only.
func withClusterHooks(next http.Handler, c *clusterNode, log *slog.Logger) http.Handler {
	if c == nil || os.Getenv(clusterHooksEnv) != "1" {
		return next
	}
	log.Warn("cluster test hooks on (" + clusterHooksEnv + "=1): /debug/cluster/ can drop replication messages")
	mux := http.NewServeMux()
	mux.HandleFunc("POST /debug/cluster/drop-next-replicate", func(w http.ResponseWriter, _ *http.Request) {
		c.DropNextReplicate()
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("POST /debug/cluster/pause-heartbeats", func(w http.ResponseWriter, r *http.Request) {
		c.PauseHeartbeats(r.URL.Query().Get("on") != "0")
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("/", next)
	return mux
}
