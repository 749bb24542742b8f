package natsbroker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Node is this process's member of a cluster over NATS: the engine's
// broker. Build it with New, start it with the engine's receiver, Close it
// last. Its methods are safe for concurrent use and never block on the
// network.
type Node struct {
	o       Options
	name    string
	inc     uint64
	log     *slog.Logger
	srv     *server.Server // nil on an external NATS
	nc      *nats.Conn
	pfx     string // Options.Prefix + "."
	selfTok string
	// msgs holds everything the dispatcher delivers, in the order NATS
	// brought it: one node's join (a change) reaches the engine before its
	// member's publish that followed, as on one node.
	msgs chan *nats.Msg
	stop chan struct{}
	wg   sync.WaitGroup

	// out is the outgoing stream (changes, publishes, sends, group
	// broadcasts) in the order the engine made it, drained by the
	// publisher goroutine: the engine never waits on the NATS socket.
	out outbox
	// sent is the last sequence number the publisher handed to NATS or
	// that an overflow dropped: what a heartbeat announces.
	sent    atomic.Uint64
	count   atomic.Int64  // this node's entries (sum of the changes' deltas)
	pubStop chan struct{} // closed by Close: the publisher drains and ends
	pubDone chan struct{} // closed when the publisher ended

	// Heartbeats: their own goroutine, timer and lock.
	hbMu    sync.Mutex
	lastHB  time.Time     // when the last heartbeat was sent
	beatNow chan struct{} // asks for a heartbeat now (a hello, a reconnect)

	aliveSub *nats.Subscription // answers "is this name alive?"

	chgSubj string // subject of this node's changes
	snapIDs atomic.Uint64

	subsMu sync.Mutex
	subs   map[string]*nats.Subscription // channel -> its subscription
	// failing are the channels whose subscription failed, retried with
	// backoff by the loop (subscribe.go).
	failing map[string]*retry

	// mu guards what follows. It is never held while the receiver works
	// nor while NATS writes: what is decided under it that calls into the
	// receiver (apply, sync, forget) or asks for a snapshot is queued in
	// ops, in the order decided, and run by the dispatcher.
	mu       sync.Mutex
	ops      []op
	opsWake  chan struct{}
	recv     rawReceiver
	started  time.Time
	closed   bool
	peers    map[string]*peer
	routed   map[string]uint64 // embedded: node -> incarnation of the servers routed to
	sameName bool              // logged that another process uses our name
	// configured is the number of Options.Peers not this node (-1: not
	// counted yet).
	configured int
	// peerWarned is when the last warning about unreachable peers was
	// logged (zero: none since they were reached).
	peerWarned time.Time
	closeOnce  sync.Once

	// seen is when each node's heartbeat last arrived, noted apart from
	// the dispatcher: a node whose dispatcher is behind (a burst of
	// changes to apply) still knows who is alive.
	seenMu sync.Mutex
	seen   map[string]seenHB

	// Counters, for metrics.
	msgsIn, msgsOut, resyncs atomic.Uint64
	overflows, outDropped    atomic.Uint64
	subFailures              atomic.Uint64
	ctl                      controlState // untrusted control input (control.go)

	// Test hooks.
	dropNext  atomic.Int32                  // drop this many outgoing changes
	pauseHB   atomic.Bool                   // send no heartbeats
	dropChunk atomic.Int32                  // drop the second chunk of this many snapshots
	pubGate   atomic.Pointer[chan struct{}] // the publisher waits for it (a stalled socket)
	failSubs  atomic.Int32                  // fail this many subscribes
}

// rawReceiver is the engine's side as the core sees it: opaque payloads.
// The presence adapter turns them into events and changes.
type rawReceiver interface {
	deliver(channel string, data []byte)
	deliverTo(conn string, data []byte)
	deliverGroups(data []byte)
	apply(node string, change []byte)
	sync(node string, entries [][]byte)
	forget(node string)
	entries() [][]byte
}

// dispatchBuffer is how many received messages may wait for the
// dispatcher; beyond that NATS drops them (a slow consumer), and a gap in a
// replication stream is repaired by a snapshot.
const dispatchBuffer = 1 << 16

// New starts this node's side of the cluster: the embedded nats-server
// (unless Options.URLs names an external NATS), waiting up to JoinTimeout
// for its routes to Peers, and the connection to it; then it checks that
// no live node has the same name (the error then matches ErrNameInUse),
// which takes about a heartbeat unless the node is alone. ctx bounds the
// start. The node hears nothing until Start.
func New(ctx context.Context, o Options) (*Node, error) {
	if err := o.fill(); err != nil {
		return nil, err
	}
	n := &Node{
		o:       o,
		name:    o.Name,
		inc:     newIncarnation(),
		log:     o.Logger.With("node", o.Name),
		pfx:     o.Prefix + ".",
		selfTok: token(o.Name),
		msgs:    make(chan *nats.Msg, dispatchBuffer),
		stop:    make(chan struct{}),
		subs:    make(map[string]*nats.Subscription),
		failing: make(map[string]*retry),
		peers:   make(map[string]*peer),
		seen:    make(map[string]seenHB),
		opsWake: make(chan struct{}, 1),
		beatNow: make(chan struct{}, 1),
		pubStop: make(chan struct{}),
		pubDone: make(chan struct{}),
		out:     newOutbox(o.MaxOutboxMessages, o.MaxOutboxBytes),

		configured: -1,
	}
	n.log = n.log.With("incarnation", incString(n.inc))
	n.chgSubj = n.ctlSubject(kindChange)
	var err error
	if len(o.URLs) == 0 {
		secret := rand.Text()
		if n.srv, err = startServer(&n.o, n.inc, secret); err != nil {
			return nil, err
		}
		if len(o.Peers) > 0 {
			waitRoutes(n.srv, o.JoinTimeout, ctx.Done())
		}
		n.nc, err = nats.Connect("", nats.InProcessServer(n.srv), nats.Token(secret), nats.NoEcho(),
			nats.Name(o.Name), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
			nats.DisconnectErrHandler(n.disconnected), nats.ReconnectHandler(n.reconnected),
			nats.ErrorHandler(n.asyncError))
	} else {
		opts := append([]nats.Option{nats.MaxReconnects(-1), nats.Name(o.Name)}, o.NATSOptions...)
		opts = append(opts, nats.NoEcho(),
			nats.DisconnectErrHandler(n.disconnected),
			nats.ReconnectHandler(n.reconnected),
			nats.ErrorHandler(n.asyncError))
		n.nc, err = nats.Connect(strings.Join(o.URLs, ","), opts...)
	}
	if err != nil {
		n.shutdownServer()
		return nil, fmt.Errorf("natsbroker: connect: %w", err)
	}
	if err := n.claimName(ctx); err != nil {
		n.nc.Close()
		n.shutdownServer()
		return nil, err
	}
	n.wg.Add(1)
	go n.dispatch()
	return n, nil
}

func (n *Node) shutdownServer() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
}

func newIncarnation() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

func incString(inc uint64) string { return fmt.Sprintf("%016x", inc) }

// Name returns this node's name.
func (n *Node) Name() string { return n.name }

// Incarnation returns this run's incarnation, drawn at random by New, as 16
// hex digits.
func (n *Node) Incarnation() string { return incString(n.inc) }

// ClusterAddr returns the embedded server's route address (host:port), the
// one to give other nodes as a peer; "" on an external NATS.
func (n *Node) ClusterAddr() string {
	if n.srv == nil {
		return ""
	}
	if a := n.srv.ClusterAddr(); a != nil {
		return a.String()
	}
	return ""
}

// start begins the node's life in the cluster with r as the engine's side.
func (n *Node) start(r rawReceiver) error {
	n.mu.Lock()
	if n.recv != nil || n.closed {
		n.mu.Unlock()
		return errors.New("natsbroker: node already started or closed")
	}
	n.recv = r
	n.started = time.Now()
	n.mu.Unlock()

	for _, s := range []string{n.pfx + "c.>", n.pfx + "g.*", n.pfx + "s." + n.selfTok, n.pfx + "i." + n.selfTok} {
		if _, err := n.nc.ChanSubscribe(s, n.msgs); err != nil {
			return fmt.Errorf("natsbroker: subscribe: %w", err)
		}
	}
	if _, err := n.nc.Subscribe(n.pfx+"c."+string(rune(kindHeartbeat))+".*", n.noteHeartbeat); err != nil {
		return fmt.Errorf("natsbroker: subscribe: %w", err)
	}
	if _, err := n.nc.Subscribe(n.pfx+"q."+n.selfTok, n.serveSnapshot); err != nil {
		return fmt.Errorf("natsbroker: subscribe: %w", err)
	}
	if err := n.nc.Flush(); err != nil {
		return fmt.Errorf("natsbroker: %w", err)
	}
	n.hello()
	n.heartbeat()
	n.wg.Add(2)
	go n.loop()
	go n.beat()
	go n.publisher()
	n.log.Info("cluster node started", "embedded", n.srv != nil, "cluster", n.ClusterAddr())
	return nil
}

// Close announces that this node leaves, so that the others forget its
// entries at once, and stops it (and its embedded server).
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		n.closed = true
		started := n.recv != nil
		n.mu.Unlock()
		if started {
			// What the engine sent goes out before the leave.
			close(n.pubStop)
			<-n.pubDone
		}
		if started && n.nc.IsConnected() {
			_ = n.nc.Publish(n.ctlSubject(kindLeave), appendU64(nil, n.inc))
			_ = n.nc.FlushTimeout(time.Second)
		}
		close(n.stop)
		n.nc.Close()
		n.wg.Wait()
		n.shutdownServer()
		n.log.Info("cluster node closed")
	})
	return nil
}

// Counters are a node's message counts since New.
type Counters struct {
	// MessagesIn counts the messages from the other nodes handed to the
	// dispatcher; MessagesOut those this node published (changes,
	// heartbeats, publishes, sends; not snapshot chunks).
	MessagesIn, MessagesOut uint64
	// Resyncs counts the snapshots of other nodes applied (the first of
	// each node that came up, and every repair).
	Resyncs uint64
	// ControlDropped counts the control messages and snapshot chunks
	// dropped as malformed or inconsistent.
	ControlDropped uint64
	// OutboxOverflows counts the times the outgoing buffer overflowed
	// (Options.MaxOutboxMessages, MaxOutboxBytes): its messages were
	// dropped, and the other nodes resync this node's entries.
	OutboxOverflows uint64
	// OutboxDropped counts the messages those overflows dropped.
	OutboxDropped uint64
	// SubscribeFailures counts the failed broker subscriptions to a
	// channel (each retry that fails counts); SubscribesFailing is how
	// many channels are failing now.
	SubscribeFailures uint64
	SubscribesFailing int
}

// Counters returns the node's counters now.
func (n *Node) Counters() Counters {
	return Counters{MessagesIn: n.msgsIn.Load(), MessagesOut: n.msgsOut.Load(), Resyncs: n.resyncs.Load(),
		ControlDropped: n.ctl.dropped.Load(), OutboxOverflows: n.overflows.Load(), OutboxDropped: n.outDropped.Load(),
		SubscribeFailures: n.subFailures.Load(), SubscribesFailing: n.subscribesFailing()}
}
