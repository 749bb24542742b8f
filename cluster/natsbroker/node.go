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

	aliveSub *nats.Subscription // answers "is this name alive?"

	// Outgoing stream. outMu orders the sequence numbers and the publishes.
	outMu   sync.Mutex
	seq     uint64 // last sequence number given to a change
	count   int64  // this node's entries (sum of the changes' deltas)
	lastHB  time.Time
	outBuf  []byte // the change message being built
	chgSubj string // subject of this node's changes
	snapIDs atomic.Uint64

	subsMu sync.Mutex
	subs   map[string]*nats.Subscription // channel -> its subscription

	// mu guards what follows and orders every call into the receiver of
	// one remote node's replica (apply, sync, forget).
	mu        sync.Mutex
	recv      rawReceiver
	started   time.Time
	closed    bool
	peers     map[string]*peer
	routed    map[string]uint64 // embedded: node -> incarnation of the servers routed to
	sameName  bool              // logged that another process uses our name
	closeOnce sync.Once

	// seen is when each node's heartbeat last arrived, noted apart from
	// the dispatcher: a node whose dispatcher is behind (a burst of
	// changes to apply) still knows who is alive.
	seenMu sync.Mutex
	seen   map[string]seenHB

	// Counters, for metrics.
	msgsIn, msgsOut, resyncs atomic.Uint64
	ctl                      controlState // untrusted control input (control.go)

	// Test hooks.
	dropNext  atomic.Int32 // drop this many outgoing changes
	pauseHB   atomic.Bool  // send no heartbeats
	dropChunk atomic.Int32 // drop the second chunk of this many snapshots
}

// rawReceiver is the engine's side as the core sees it: opaque payloads.
// The presence adapter turns them into events and changes.
type rawReceiver interface {
	deliver(channel string, data []byte)
	deliverTo(conn string, data []byte)
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
		peers:   make(map[string]*peer),
		seen:    make(map[string]seenHB),
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

// claimName makes sure no live node has our name, then answers for it.
// It asks the name's node (request/reply), and, unless the embedded server
// is alone, also listens for a heartbeat of the name for a heartbeat's
// time and asks again: a node a new server is not yet routed to (route
// gossip takes a moment) is heard that way.
func (n *Node) claimName(ctx context.Context) error {
	hb, err := n.nc.SubscribeSync(n.ctlSubject(kindHeartbeat))
	if err != nil {
		return fmt.Errorf("natsbroker: subscribe: %w", err)
	}
	defer hb.Unsubscribe()
	if err := n.nc.Flush(); err != nil {
		return fmt.Errorf("natsbroker: %w", err)
	}
	if err := n.askName(ctx); err != nil {
		return err
	}
	if n.srv == nil || n.srv.NumRoutes() > 0 {
		wctx, cancel := context.WithTimeout(ctx, n.o.Heartbeat+n.tick())
		_, err := hb.NextMsgWithContext(wctx)
		cancel()
		switch {
		case err == nil:
			return &nameInUseError{n.name}
		case ctx.Err() != nil:
			return fmt.Errorf("natsbroker: start: %w", ctx.Err())
		}
		if err := n.askName(ctx); err != nil {
			return err
		}
	}
	reply := appendU64(nil, n.inc)
	n.aliveSub, err = n.nc.Subscribe(n.pfx+"a."+n.selfTok, func(m *nats.Msg) {
		if m.Reply != "" {
			_ = m.Respond(reply)
		}
	})
	if err != nil {
		return fmt.Errorf("natsbroker: subscribe: %w", err)
	}
	return n.nc.Flush()
}

// askName asks whether a live node has our name: an answer means yes; no
// responder, or none within a second, means no.
func (n *Node) askName(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(ctx, max(n.o.Heartbeat, time.Second))
	defer cancel()
	_, err := n.nc.RequestWithContext(rctx, n.pfx+"a."+n.selfTok, nil)
	switch {
	case err == nil:
		return &nameInUseError{n.name}
	case ctx.Err() != nil:
		return fmt.Errorf("natsbroker: start: %w", ctx.Err())
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil
	}
	return fmt.Errorf("natsbroker: asking whether node name %q is in use: %w", n.name, err)
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

	for _, s := range []string{n.pfx + "c.>", n.pfx + "s." + n.selfTok, n.pfx + "i." + n.selfTok} {
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
	n.wg.Add(1)
	go n.loop()
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
		if started && n.nc.IsConnected() {
			n.outMu.Lock()
			_ = n.nc.Publish(n.ctlSubject(kindLeave), appendU64(nil, n.inc))
			n.outMu.Unlock()
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

// Subscribe starts receiving what other nodes Publish to channel.
// Subscribing to a channel twice is one subscription.
func (n *Node) Subscribe(channel string) {
	n.subsMu.Lock()
	defer n.subsMu.Unlock()
	if _, ok := n.subs[channel]; ok {
		return
	}
	sub, err := n.nc.ChanSubscribe(n.pfx+"p."+token(channel), n.msgs)
	if err != nil {
		n.log.Warn("cluster subscribe failed", "channel", channel, "err", err)
		return
	}
	n.subs[channel] = sub
}

// Unsubscribe ends Subscribe.
func (n *Node) Unsubscribe(channel string) {
	n.subsMu.Lock()
	defer n.subsMu.Unlock()
	if sub, ok := n.subs[channel]; ok {
		_ = sub.Unsubscribe()
		delete(n.subs, channel)
	}
}

// publish sends data to the other nodes subscribed to channel.
func (n *Node) publish(channel string, data []byte) {
	n.msgsOut.Add(1)
	if err := n.nc.Publish(n.pfx+"p."+token(channel), data); err != nil {
		n.log.Debug("cluster publish dropped", "channel", channel, "err", err)
	}
}

// sendTo sends data to connection conn of node.
func (n *Node) sendTo(node, conn string, data []byte) {
	b := make([]byte, 0, len(conn)+len(data)+binary.MaxVarintLen64)
	b = appendString(b, conn)
	b = append(b, data...)
	subj := n.pfx + "i." + token(node)
	if node == n.name {
		select { // to ourselves: through the dispatcher, never under the caller's locks
		case n.msgs <- &nats.Msg{Subject: subj, Data: b}:
		default:
		}
		return
	}
	n.msgsOut.Add(1)
	if err := n.nc.Publish(subj, b); err != nil {
		n.log.Debug("cluster send dropped", "to", node, "err", err)
	}
}

// replicate sends one change of this node's entries (delta: +1 an entry
// added, -1 one gone) to every other node, in order.
func (n *Node) replicate(delta int, change []byte) {
	n.replicateFunc(delta, func(b []byte) []byte { return append(b, change...) })
}

// replicateFunc is replicate with the change appended by body to the
// message. The message buffer is reused (NATS copies what it publishes):
// a change costs no allocation here.
func (n *Node) replicateFunc(delta int, body func([]byte) []byte) {
	n.outMu.Lock()
	defer n.outMu.Unlock()
	n.seq++
	n.count += int64(delta)
	if n.dropNext.Load() > 0 && n.dropNext.Add(-1) >= 0 {
		return
	}
	b := appendU64(n.outBuf[:0], n.inc)
	b = binary.AppendUvarint(b, n.seq)
	b = body(b)
	n.msgsOut.Add(1)
	if err := n.nc.Publish(n.chgSubj, b); err != nil {
		n.log.Debug("cluster change dropped", "seq", n.seq, "err", err)
	}
	if cap(b) <= maxKeptBuffer {
		n.outBuf = b
	}
}

// maxKeptBuffer is the largest change buffer kept for the next change.
const maxKeptBuffer = 64 << 10

// ctlSubject is the subject of this node's control messages of a kind.
func (n *Node) ctlSubject(kind byte) string {
	return n.pfx + "c." + string(rune(kind)) + "." + n.selfTok
}

// heartbeat tells the others this node is alive, how far its stream went
// and how many entries it has.
func (n *Node) heartbeat() {
	if n.pauseHB.Load() {
		return
	}
	n.outMu.Lock()
	defer n.outMu.Unlock()
	b := appendU64(make([]byte, 0, 32), n.inc)
	b = binary.AppendUvarint(b, n.seq)
	b = binary.AppendUvarint(b, uint64(max(n.count, 0)))
	n.lastHB = time.Now()
	n.msgsOut.Add(1)
	_ = n.nc.Publish(n.ctlSubject(kindHeartbeat), b)
}

// hello asks every node for a heartbeat now.
func (n *Node) hello() {
	_ = n.nc.Publish(n.ctlSubject(kindHello), appendU64(nil, n.inc))
}

// tick is the period of the loop: heartbeats, timeouts, route checks.
func (n *Node) tick() time.Duration {
	return min(100*time.Millisecond, n.o.Heartbeat/2)
}

func (n *Node) loop() {
	defer n.wg.Done()
	t := time.NewTicker(n.tick())
	defer t.Stop()
	var routed map[string]bool
	if n.srv != nil {
		routed = routedServers(n.srv)
	}
	var pending []string // routes gone since the last tick
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			n.outMu.Lock()
			due := now.Sub(n.lastHB) >= n.o.Heartbeat-n.tick()/2
			n.outMu.Unlock()
			if due {
				n.heartbeat()
			}
			// A route seen gone at one tick counts at the next: a node that
			// leaves (Close) says so just before its server stops, and its
			// leave, already on its way, is then handled first (the node
			// left, rather than died).
			var gone []string
			if n.srv != nil {
				cur := routedServers(n.srv)
				for s := range routed {
					if !cur[s] {
						gone = append(gone, s)
					}
				}
				routed = cur
			}
			n.check(now, routed, pending)
			pending = gone
		}
	}
}

func (n *Node) dispatch() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case m := <-n.msgs:
			n.handle(m)
		}
	}
}

// handle delivers one received message.
func (n *Node) handle(m *nats.Msg) {
	n.msgsIn.Add(1)
	subj, ok := strings.CutPrefix(m.Subject, n.pfx)
	if !ok || len(subj) < 3 || subj[1] != '.' {
		return
	}
	n.mu.Lock()
	r := n.recv
	n.mu.Unlock()
	if r == nil {
		return
	}
	switch subj[0] {
	case 'p':
		if channel, ok := untoken(subj[2:]); ok {
			r.deliver(channel, m.Data)
		}
	case 'i':
		rd := reader{b: m.Data}
		conn := rd.string()
		if rd.err == nil {
			r.deliverTo(conn, rd.rest())
		}
	case 'c':
		if n.checkControl(subj[2:], m.Data) {
			n.control(subj[2:], m.Data)
		}
	case 's':
		n.snapshotReply(m.Data)
	}
}

// control handles one message of another node's control stream.
func (n *Node) control(subj string, data []byte) {
	if len(subj) < 3 || subj[1] != '.' {
		return
	}
	kind := subj[0]
	name, ok := untoken(subj[2:])
	if !ok {
		return
	}
	rd := reader{b: data}
	inc := rd.u64()
	if rd.err != nil {
		return
	}
	if kind == kindHello {
		n.heartbeat()
	}
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	if name == n.name {
		if !n.sameName {
			n.sameName = true
			n.log.Error("another process uses this node's name", "other_incarnation", incString(inc))
		}
		return
	}
	if kind == kindLeave {
		if p := n.peers[name]; p != nil && p.inc == inc && p.state == StateAlive {
			n.down(p, StateLeft, now)
		}
		return
	}
	p := n.hear(name, inc, now)
	if p == nil {
		return
	}
	switch kind {
	case kindHeartbeat:
		last := rd.uvarint()
		count := rd.uvarint()
		if rd.err != nil {
			return
		}
		p.lastHB = now
		p.count = int(count)
		if p.synced && last >= p.next {
			n.log.Debug("cluster stream tail missed", "peer", name, "last", last, "next", p.next)
			n.unsync(p, now)
		}
	case kindChange:
		seq := rd.uvarint()
		if rd.err != nil {
			return
		}
		n.change(p, seq, rd.rest(), now)
	}
}

type seenHB struct {
	inc uint64
	at  time.Time
}

// noteHeartbeat notes when a heartbeat arrived, on NATS's goroutine for
// this subscription, before the dispatcher gets to it in order.
func (n *Node) noteHeartbeat(m *nats.Msg) {
	i := strings.LastIndexByte(m.Subject, '.')
	name, ok := untoken(m.Subject[i+1:])
	rd := reader{b: m.Data}
	inc := rd.u64()
	if !ok || rd.err != nil || name == n.name {
		return
	}
	n.seenMu.Lock()
	n.seen[name] = seenHB{inc, time.Now()}
	n.seenMu.Unlock()
}

// lastSeen returns when the last heartbeat of name's incarnation inc
// arrived (zero if none was noted).
func (n *Node) lastSeen(name string, inc uint64) time.Time {
	n.seenMu.Lock()
	defer n.seenMu.Unlock()
	if s, ok := n.seen[name]; ok && s.inc == inc {
		return s.at
	}
	return time.Time{}
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
}

// Counters returns the node's counters now.
func (n *Node) Counters() Counters {
	return Counters{MessagesIn: n.msgsIn.Load(), MessagesOut: n.msgsOut.Load(), Resyncs: n.resyncs.Load(),
		ControlDropped: n.ctl.dropped.Load()}
}

// Ready reports whether this node has synced the entries of every live
// node it hears and is connected to NATS. A starting node is not ready
// before it had a heartbeat's time to hear the others (unless its embedded
// server has no route: it is alone); with an embedded server, it is not
// ready either while a node it has a route to is not synced. A node alone
// is ready.
func (n *Node) Ready() bool {
	if !n.nc.IsConnected() || (n.srv != nil && !n.srv.Running()) {
		return false
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.recv == nil || n.closed {
		return false
	}
	if time.Since(n.started) < n.o.Heartbeat && !(n.srv != nil && n.srv.NumRoutes() == 0) {
		return false
	}
	for _, p := range n.peers {
		if p.state == StateAlive && !p.synced {
			return false
		}
	}
	for name, inc := range n.routed {
		if p := n.peers[name]; p == nil || p.inc != inc || !p.synced {
			return false // routed to, not (yet) heard and synced
		}
	}
	return true
}

// WaitReady waits until Ready or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !n.Ready() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("natsbroker: not ready: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// disconnected and reconnected follow an external NATS connection: lost,
// the node is not ready; back, it asks every node for a snapshot (it may
// have missed changes) and for a heartbeat.
func (n *Node) disconnected(_ *nats.Conn, err error) {
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return // our own Close
	}
	n.log.Warn("cluster NATS connection lost", "err", err)
}

// asyncError logs what NATS reports on its own, such as messages dropped
// because the dispatcher fell behind (a slow consumer): a lost change is
// repaired by a snapshot, a lost publish stays lost.
func (n *Node) asyncError(_ *nats.Conn, _ *nats.Subscription, err error) {
	n.log.Debug("cluster NATS error", "err", err)
}

func (n *Node) reconnected(*nats.Conn) {
	n.log.Info("cluster NATS connection back")
	now := time.Now()
	n.mu.Lock()
	for _, p := range n.peers {
		if p.state == StateAlive {
			n.unsync(p, now)
		}
	}
	n.mu.Unlock()
	n.hello()
	n.heartbeat()
}
