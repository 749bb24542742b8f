package natsbroker

import (
	"encoding/binary"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// State is what this node knows of another node.
type State uint8

// Node states.
const (
	// StateAlive: heard within NodeTimeout; its entries are replicated here.
	StateAlive State = iota + 1
	// StateDead: silent for NodeTimeout, or its route closed; its entries
	// were forgotten.
	StateDead
	// StateLeft: it said it left (Close); its entries were forgotten.
	StateLeft
)

func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return "unknown"
}

// MarshalText makes a State its name in JSON and the like.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// NodeStatus describes one node, for stats.
type NodeStatus struct {
	Name          string
	Incarnation   string // 16 hex digits
	State         State
	Self          bool      // this node
	Synced        bool      // its entries are replicated here (this node: Ready)
	LastHeartbeat time.Time // last heartbeat (this node: last one sent)
	Entries       int       // its presence entries, as its last heartbeat told
}

// peer is what this node keeps of another node.
type peer struct {
	name    string
	inc     uint64
	retired []uint64 // its earlier incarnations, to ignore late messages of
	state   State
	since   time.Time // when it entered state
	lastHB  time.Time // last heartbeat
	count   int       // entries, from its heartbeat

	synced bool      // the replica follows its stream
	syncs  int       // snapshots applied since it came up
	next   uint64    // next sequence number expected, when synced
	reqAt  time.Time // last snapshot request, when not synced
	buf    []pending // changes received while waiting for a snapshot
	asm    *assembly // snapshot being received
}

type pending struct {
	seq  uint64
	body []byte
}

type assembly struct {
	id      uint64
	next    uint64 // next chunk index
	entries [][]byte
}

// maxPending bounds the changes kept while a snapshot is awaited; beyond
// it the oldest half is dropped (if the snapshot is older still, the gap
// asks for another one).
const maxPending = 16384

// maxRetired is how many earlier incarnations of a name are remembered.
const maxRetired = 4

// hear returns the peer a message of name's incarnation inc is about,
// creating it, switching it to a new incarnation (forgetting the old one's
// entries at once) or reviving it after it was thought dead. It returns nil
// for a message to ignore (a late one of a retired incarnation, or of a
// node that left). n.mu is held.
func (n *Node) hear(name string, inc uint64, now time.Time) *peer {
	p := n.peers[name]
	switch {
	case p == nil:
		p = &peer{name: name, inc: inc}
		n.peers[name] = p
		n.log.Info("cluster node heard", "peer", name, "peer_incarnation", incString(inc))
		n.up(p, now)
	case p.inc != inc:
		if slices.Contains(p.retired, inc) {
			return nil
		}
		if p.state == StateAlive {
			n.queue(op{kind: opForget, node: name})
		}
		n.log.Info("cluster node restarted", "peer", name, "peer_incarnation", incString(inc), "was", incString(p.inc))
		p.retired = append(p.retired, p.inc)
		if len(p.retired) > maxRetired {
			p.retired = p.retired[1:]
		}
		p.inc = inc
		n.up(p, now)
	case p.state == StateLeft:
		return nil
	case p.state == StateDead:
		if n.srv != nil && n.routed[name] != inc {
			// Its route closed; this message was on its way before. It
			// comes back with its route.
			return nil
		}
		n.log.Info("cluster node heard again", "peer", name)
		n.up(p, now)
	}
	return p
}

// up makes p alive and asks it for a snapshot.
func (n *Node) up(p *peer, now time.Time) {
	p.state, p.since = StateAlive, now
	p.syncs = 0
	p.lastHB = now // a node heard counts as a heartbeat
	p.asm = nil
	n.unsync(p, now)
}

// unsync stops applying p's stream and asks p for a snapshot.
func (n *Node) unsync(p *peer, now time.Time) {
	p.synced = false
	p.buf = p.buf[:0]
	n.requestSnapshot(p, now)
}

func (n *Node) requestSnapshot(p *peer, now time.Time) {
	p.reqAt = now
	n.queue(op{kind: opRequest, node: p.name})
}

// down marks p dead or left and forgets its entries. n.mu is held.
func (n *Node) down(p *peer, s State, now time.Time) {
	n.log.Info("cluster node "+s.String(), "peer", p.name, "peer_incarnation", incString(p.inc))
	p.state, p.since = s, now
	p.synced, p.buf, p.asm = false, nil, nil
	p.count = 0
	n.queue(op{kind: opForget, node: p.name})
}

// change applies (or keeps, or drops) change seq of p's stream.
func (n *Node) change(p *peer, seq uint64, body []byte, now time.Time) {
	switch {
	case !p.synced:
		if len(p.buf) == maxPending {
			// Keep the newest: the oldest are likely in the snapshot
			// on its way, the newest follow it.
			p.buf = p.buf[:copy(p.buf, p.buf[maxPending/2:])]
		}
		p.buf = append(p.buf, pending{seq, body})
	case seq < p.next:
		// Already in the snapshot.
	case seq > p.next:
		n.log.Debug("cluster stream gap", "peer", p.name, "seq", seq, "next", p.next)
		n.unsync(p, now)
		p.buf = append(p.buf, pending{seq, body})
	default:
		n.queue(op{kind: opApply, node: p.name, body: body})
		p.next++
	}
}

// check runs every tick: forgets the nodes silent for NodeTimeout and
// those whose embedded server's route closed (gone: server names), asks
// again for snapshots not received, and drops long-gone nodes from the
// list. routed are the names of the servers the embedded server has a
// route to.
func (n *Node) check(now time.Time, routed map[string]bool, gone []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.recv == nil {
		return
	}
	if n.srv != nil {
		n.routed = n.rollcallRoutes(routed, now)
		n.checkReach(now)
	}
	for _, s := range gone {
		name, inc, ok := parseServerName(s)
		if !ok {
			continue
		}
		if p := n.peers[name]; p != nil && p.inc == inc && p.state == StateAlive {
			n.log.Debug("cluster route closed", "peer", name)
			n.down(p, StateDead, now)
		}
	}
	retry := max(2*n.o.Heartbeat, 200*time.Millisecond)
	keep := max(10*n.o.NodeTimeout, 5*time.Minute)
	// Cut off from NATS, this node hears nobody: it was probably the one
	// away, so it keeps the others' entries and gives each a full timeout
	// from when NATS is back (no phantom outlives that).
	cutOff := !n.nc.IsConnected()
	for name, p := range n.peers {
		switch p.state {
		case StateAlive:
			if cutOff {
				p.lastHB = now
				continue
			}
			last := p.lastHB
			if at := n.lastSeen(p.name, p.inc); at.After(last) {
				last = at // heard, not yet dispatched
			}
			if now.Sub(last) > n.o.NodeTimeout {
				n.down(p, StateDead, now)
			} else if !p.synced && now.Sub(p.reqAt) >= retry {
				n.requestSnapshot(p, now)
			}
		default:
			if now.Sub(p.since) > keep {
				delete(n.peers, name)
			}
		}
	}
}

// serveSnapshot answers a snapshot request with this node's entries, in
// chunks that fit NATS's payload limit. The sequence number is read before
// the entries: the snapshot holds every change up to it (and maybe some
// after, which the receiver applies again: changes are idempotent).
func (n *Node) serveSnapshot(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	n.mu.Lock()
	r, closed := n.recv, n.closed
	n.mu.Unlock()
	if r == nil || closed {
		return
	}
	n.out.mu.Lock()
	seq := n.out.seq
	n.out.mu.Unlock()
	entries := r.entries()

	id := n.snapIDs.Add(1)
	limit := int(n.nc.MaxPayload()) - 256 - len(n.name)
	var chunks [][][]byte
	var cur [][]byte
	size := 0
	for _, e := range entries {
		es := len(e) + binary.MaxVarintLen64
		if es > limit {
			n.log.Error("cluster snapshot entry larger than the NATS payload limit", "size", len(e))
			return
		}
		if size+es > limit && len(cur) > 0 {
			chunks = append(chunks, cur)
			cur, size = nil, 0
		}
		cur = append(cur, e)
		size += es
	}
	chunks = append(chunks, cur)
	for i, c := range chunks {
		b := make([]byte, 0, 64+size)
		b = appendString(b, n.name)
		b = appendU64(b, n.inc)
		b = binary.AppendUvarint(b, seq)
		b = binary.AppendUvarint(b, id)
		b = binary.AppendUvarint(b, uint64(i))
		b = binary.AppendUvarint(b, uint64(len(chunks)))
		b = binary.AppendUvarint(b, uint64(len(c)))
		for _, e := range c {
			b = appendBytes(b, e)
		}
		if i == 1 && n.dropChunk.Load() > 0 && n.dropChunk.Add(-1) >= 0 {
			continue // test hook: a chunk lost on the way
		}
		if err := n.nc.Publish(m.Reply, b); err != nil {
			n.log.Debug("cluster snapshot reply failed", "err", err)
			return
		}
	}
}

// snapshotReply handles one chunk of a snapshot another node sent us.
func (n *Node) snapshotReply(data []byte) {
	rd := reader{b: data}
	name := rd.string()
	inc := rd.u64()
	seq := rd.uvarint()
	id := rd.uvarint()
	idx := rd.uvarint()
	total := rd.uvarint()
	cnt := rd.uvarint()
	if rd.err != nil || !n.validSnapshotChunk(name, inc, idx, total, cnt, len(data)) {
		return
	}
	entries := make([][]byte, 0, cnt)
	for range cnt {
		entries = append(entries, rd.bytes())
	}
	if rd.err != nil {
		return
	}
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || name == n.name {
		return
	}
	p := n.snapshotPeer(name, inc)
	if p == nil || p.synced {
		return
	}
	switch {
	case idx == 0:
		p.asm = &assembly{id: id}
	case p.asm == nil || p.asm.id != id || p.asm.next != idx:
		p.asm = nil // a chunk was lost: the next request starts over
		return
	}
	p.asm.entries = append(p.asm.entries, entries...)
	p.asm.next++
	if p.asm.next < total {
		return
	}
	all := p.asm.entries
	p.asm = nil
	n.queue(op{kind: opSync, node: name, entries: all})
	n.resyncs.Add(1)
	if p.syncs++; p.syncs == 1 {
		n.log.Info("cluster node synced", "peer", name, "entries", len(all))
	} else {
		n.log.Info("cluster node resynced", "peer", name, "entries", len(all))
	}
	p.synced = true
	p.next = seq + 1
	buf := p.buf
	p.buf = nil
	for _, c := range buf {
		n.change(p, c.seq, c.body, now)
	}
}

// Nodes lists this node first, then every other node it knows of (also
// those dead or left a while ago), by name.
func (n *Node) Nodes() []NodeStatus {
	ready := n.Ready()
	self := NodeStatus{
		Name: n.name, Incarnation: incString(n.inc), State: StateAlive, Self: true,
		Synced: ready, LastHeartbeat: n.lastHeartbeat(), Entries: int(max(n.count.Load(), 0)),
	}
	n.mu.Lock()
	out := make([]NodeStatus, 0, len(n.peers)+1)
	for _, p := range n.peers {
		out = append(out, NodeStatus{
			Name: p.name, Incarnation: incString(p.inc), State: p.state,
			Synced: p.synced, LastHeartbeat: p.lastHB, Entries: p.count,
		})
	}
	n.mu.Unlock()
	slices.SortFunc(out, func(a, b NodeStatus) int { return strings.Compare(a.Name, b.Name) })
	return append([]NodeStatus{self}, out...)
}
