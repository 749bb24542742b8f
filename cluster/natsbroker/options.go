package natsbroker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Options configure a Node. Either URLs is set (external NATS) or the node
// runs an embedded nats-server routed to its Peers.
type Options struct {
	// Name is this node's name, unique among the live nodes of the cluster
	// (required; printable, no spaces, at most 64 bytes).
	Name string

	// URLs of an external NATS (nats://host:port, tls://...). When set,
	// nothing is embedded; NATSOptions carry user/password, token, TLS and
	// the like to nats.Connect.
	URLs        []string
	NATSOptions []nats.Option

	// ClusterListen is the embedded server's route listener, host:port
	// (default "127.0.0.1:0": a random loopback port, see Node.ClusterAddr).
	// The embedded server opens no client listener: the node talks to it
	// in process.
	ClusterListen string
	// ClusterAdvertise is the route address told to the other servers when
	// ClusterListen is not reachable as such (e.g. 0.0.0.0:6222).
	ClusterAdvertise string
	// Peers are seed route addresses (host:port or nats-route://host:port)
	// of some existing nodes. A new node given any live one learns the rest
	// from it; existing nodes need no change.
	Peers []string
	// ClusterName must be the same on every node (default "rollcall").
	ClusterName string
	// ClusterUser and ClusterPassword, when set, are required of and used
	// for every route.
	ClusterUser, ClusterPassword string
	// ClusterSecret, when set, is the cluster's shared secret (at least
	// MinSecretLen bytes): every route presents and requires the user and
	// password RouteCredentials derives from it. It excludes ClusterUser
	// and ClusterPassword.
	ClusterSecret []byte
	// ClusterTLS, when set, puts every route in TLS with this
	// configuration, for both the routes this node dials and those it
	// accepts (RouteTLS makes a mutual one).
	ClusterTLS *tls.Config
	// Server, when set, may change the embedded server's options last (TLS
	// for routes, say). Nothing else is needed for a working cluster.
	Server func(*server.Options)

	// Prefix starts every subject the nodes use (default "rollcall"); nodes
	// with different prefixes on one NATS do not see each other.
	Prefix string
	// Heartbeat is how often the node tells it is alive (default 1s).
	Heartbeat time.Duration
	// NodeTimeout is how long a node may stay silent before the others
	// forget its entries (default 3s; at least twice Heartbeat).
	NodeTimeout time.Duration
	// JoinTimeout bounds how long New waits for a route to one of Peers
	// (default 2s); a node that reaches none starts alone.
	JoinTimeout time.Duration

	// MaxOutboxMessages and MaxOutboxBytes bound the outgoing buffer: the
	// changes, publishes, sends and group broadcasts waiting for NATS
	// (defaults 65,536 messages and 64 MiB). Past either bound, what
	// waits is dropped and counted (Counters.OutboxOverflows), and the
	// other nodes resync this node's entries with a snapshot.
	MaxOutboxMessages int
	MaxOutboxBytes    int

	// Logger gets the node's logs (default slog.Default()).
	Logger *slog.Logger
}

const (
	defaultPrefix      = "rollcall"
	defaultClusterName = "rollcall"
	defaultHeartbeat   = time.Second
	defaultNodeTimeout = 3 * time.Second
	defaultJoinTimeout = 2 * time.Second
	maxNameLen         = 64
)

// Defaults of Options.MaxOutboxMessages and MaxOutboxBytes.
const (
	DefaultMaxOutboxMessages = 1 << 16
	DefaultMaxOutboxBytes    = 64 << 20
)

// ErrNameInUse is matched (errors.Is) by the error New returns when a live
// node already has the name.
var ErrNameInUse = errors.New("natsbroker: node name is already in use by a live node")

type nameInUseError struct{ name string }

func (e *nameInUseError) Error() string {
	return fmt.Sprintf("node name %q is already in use by a live node", e.name)
}

func (e *nameInUseError) Is(target error) bool { return target == ErrNameInUse }

func (o *Options) fill() error {
	if err := checkName(o.Name); err != nil {
		return err
	}
	if len(o.URLs) > 0 && (len(o.Peers) > 0 || o.ClusterAdvertise != "" || o.Server != nil || o.ClusterSecret != nil || o.ClusterTLS != nil) {
		return errors.New("natsbroker: Peers, ClusterAdvertise, ClusterSecret, ClusterTLS and Server are for the embedded server; URLs name an external NATS")
	}
	if o.ClusterSecret != nil {
		if o.ClusterUser != "" || o.ClusterPassword != "" {
			return errors.New("natsbroker: ClusterSecret excludes ClusterUser and ClusterPassword")
		}
		if err := checkSecret(o.ClusterSecret); err != nil {
			return err
		}
		o.ClusterUser, o.ClusterPassword = RouteCredentials(o.ClusterSecret)
	}
	if o.Prefix == "" {
		o.Prefix = defaultPrefix
	}
	if strings.ContainsAny(o.Prefix, " \t\r\n*>") || strings.HasPrefix(o.Prefix, ".") || strings.HasSuffix(o.Prefix, ".") || strings.Contains(o.Prefix, "..") {
		return fmt.Errorf("natsbroker: bad subject prefix %q", o.Prefix)
	}
	if o.ClusterName == "" {
		o.ClusterName = defaultClusterName
	}
	if o.ClusterListen == "" {
		o.ClusterListen = "127.0.0.1:0"
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = defaultHeartbeat
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = defaultNodeTimeout
	}
	if o.NodeTimeout < 2*o.Heartbeat {
		return fmt.Errorf("natsbroker: NodeTimeout %v is less than twice Heartbeat %v", o.NodeTimeout, o.Heartbeat)
	}
	if o.JoinTimeout <= 0 {
		o.JoinTimeout = defaultJoinTimeout
	}
	if o.MaxOutboxMessages <= 0 {
		o.MaxOutboxMessages = DefaultMaxOutboxMessages
	}
	if o.MaxOutboxBytes <= 0 {
		o.MaxOutboxBytes = DefaultMaxOutboxBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return nil
}

func checkName(name string) error {
	if name == "" {
		return errors.New("natsbroker: a node needs a name")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("natsbroker: node name %q is longer than %d bytes", name, maxNameLen)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("natsbroker: node name %q has a space or an unprintable character", name)
		}
	}
	return nil
}
