package natsbroker

import (
	"slices"
	"sync/atomic"
	"time"
)

// The control stream is untrusted input: whatever can publish on the
// cluster's NATS can send anything on it. A malformed message is dropped
// and counted; so is one that contradicts what this node knows (a leave of
// an incarnation that is not the named node's, a message in this node's
// own name and incarnation, which NoEcho never delivers). What cannot be
// told from the truth (a leave of a node's own incarnation) is repaired:
// a node marked left or dead whose heartbeats go on is resynced and comes
// back.

// controlState is the node's bookkeeping of untrusted control input.
type controlState struct {
	dropped atomic.Uint64 // control messages and snapshot chunks dropped

	// routedAt is when each routed server (by server name) was first seen
	// routed; n.mu guards it. A server not heard as a rollcall node within
	// routeGrace is ignored by Ready.
	routedAt map[string]time.Time
	ignored  map[string]bool // routed servers logged as ignored
}

// maxEntryCount bounds the entry count of a heartbeat.
const maxEntryCount = 1 << 40

// checkControl reports whether a control message (subj is what follows
// "<prefix>.c.") is well formed and consistent, counting it dropped if not.
// It also brings back a node marked left (or dead, its retired incarnation
// replaced) whose heartbeats go on, before control handles the heartbeat.
func (n *Node) checkControl(subj string, data []byte) bool {
	if !n.validControl(subj, data) {
		n.ctl.dropped.Add(1)
		n.log.Debug("cluster control message dropped", "subject", subj, "size", len(data))
		return false
	}
	return true
}

func (n *Node) validControl(subj string, data []byte) bool {
	if len(subj) < 3 || subj[1] != '.' {
		return false
	}
	kind := subj[0]
	name, ok := untoken(subj[2:])
	if !ok || checkName(name) != nil {
		return false
	}
	rd := reader{b: data}
	inc := rd.u64()
	if rd.err != nil || inc == 0 {
		return false
	}
	switch kind {
	case kindLeave, kindHello:
		if len(rd.b) != 0 {
			return false
		}
	case kindHeartbeat:
		rd.uvarint()
		count := rd.uvarint()
		if rd.err != nil || len(rd.b) != 0 || count > maxEntryCount {
			return false
		}
	case kindChange:
		seq := rd.uvarint()
		if rd.err != nil || seq == 0 || len(rd.b) == 0 {
			return false
		}
	default:
		return false
	}
	if name == n.name {
		return inc != n.inc // never heard from ourselves (NoEcho)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.recv == nil {
		return true
	}
	p := n.peers[name]
	switch kind {
	case kindLeave:
		// Only the incarnation this node follows can leave.
		return p != nil && p.inc == inc
	case kindHeartbeat:
		if p != nil {
			n.revive(p, inc, time.Now())
		}
	}
	return true
}

// revive brings back p when its incarnation inc heartbeats although this
// node marked it left (a leave it heard, maybe forged), or when inc is an
// incarnation of p retired for a newer one (maybe forged) that is now
// dead. It then asks p for a snapshot. n.mu is held.
func (n *Node) revive(p *peer, inc uint64, now time.Time) {
	switch {
	case p.inc == inc && p.state == StateLeft:
		n.log.Warn("cluster node that left still heartbeats: resyncing it", "peer", p.name, "peer_incarnation", incString(inc))
		n.up(p, now)
	case p.inc != inc && p.state != StateAlive && slices.Contains(p.retired, inc):
		n.log.Warn("cluster node's earlier incarnation still heartbeats: resyncing it", "peer", p.name,
			"peer_incarnation", incString(inc), "was", incString(p.inc))
		p.retired = slices.DeleteFunc(p.retired, func(r uint64) bool { return r == inc })
		p.retired = append(p.retired, p.inc)
		p.inc = inc
		n.up(p, now)
	}
}

// validSnapshotChunk reports whether a snapshot chunk's header is well
// formed, counting it dropped if not.
func (n *Node) validSnapshotChunk(name string, inc, idx, total, cnt uint64, size int) bool {
	if checkName(name) == nil && name != n.name && inc != 0 && idx < total && cnt <= uint64(size) {
		return true
	}
	n.ctl.dropped.Add(1)
	return false
}

// snapshotPeer returns the peer a snapshot chunk of name's incarnation inc
// is for: one this node follows, alive, in that incarnation. A snapshot
// never introduces a node or an incarnation (that takes its control
// stream); another chunk is dropped and counted. n.mu is held.
func (n *Node) snapshotPeer(name string, inc uint64) *peer {
	if p := n.peers[name]; p != nil && p.inc == inc && p.state == StateAlive {
		return p
	}
	n.ctl.dropped.Add(1)
	return nil
}

// routeGrace is how long a routed server may stay unheard as a rollcall
// node before Ready stops waiting for it.
func (n *Node) routeGrace() time.Duration {
	return max(n.o.NodeTimeout, n.o.JoinTimeout)
}

// rollcallRoutes maps the names of the servers routed to (their server
// names, "node#incarnation") to the nodes and incarnations Ready waits for:
// a server whose name is no node's, or that was not heard as a rollcall
// node within routeGrace of its route, is left out (and logged once). Where
// two servers claim one node name, the incarnation this node follows
// wins. n.mu is held.
func (n *Node) rollcallRoutes(routed map[string]bool, now time.Time) map[string]uint64 {
	if n.ctl.routedAt == nil {
		n.ctl.routedAt = make(map[string]time.Time)
		n.ctl.ignored = make(map[string]bool)
	}
	for s := range n.ctl.routedAt {
		if !routed[s] {
			delete(n.ctl.routedAt, s)
			delete(n.ctl.ignored, s)
		}
	}
	out := make(map[string]uint64, len(routed))
	for s := range routed {
		at, ok := n.ctl.routedAt[s]
		if !ok {
			at = now
			n.ctl.routedAt[s] = now
		}
		name, inc, ok := parseServerName(s)
		p := n.peers[name]
		heard := ok && p != nil && p.inc == inc
		if !heard && (!ok || name == n.name || now.Sub(at) > n.routeGrace()) {
			if !n.ctl.ignored[s] {
				n.ctl.ignored[s] = true
				n.log.Warn("cluster route from a server that is no rollcall node: not waiting for it", "server", s)
			}
			continue
		}
		if cur, dup := out[name]; dup && p != nil && cur == p.inc {
			continue
		}
		out[name] = inc
	}
	return out
}
