package natsbroker

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// The dispatcher is the one goroutine that calls into the receiver: it
// delivers what arrives in the order NATS brought it, and runs the calls
// about remote replicas that were decided under n.mu (by itself, by the
// failure check, by a reconnect) in the order they were decided, so the
// calls for one node come in that node's order. It never holds n.mu while
// the receiver works, so a long Forget or Sync holds up neither the
// heartbeats nor the failure check.
func (n *Node) dispatch() {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case m := <-n.msgs:
			n.handle(m)
		case <-n.opsWake:
		}
		n.runOps()
	}
}

// opKind is what an op does.
type opKind uint8

const (
	opApply   opKind = iota + 1 // recv.apply(node, body)
	opSync                      // recv.sync(node, entries)
	opForget                    // recv.forget(node)
	opRequest                   // ask node for a snapshot
)

// op is one call about a remote node's replica, decided under n.mu and run
// by the dispatcher without it.
type op struct {
	kind    opKind
	node    string
	body    []byte
	entries [][]byte
}

// queue adds o to the ops the dispatcher runs next. n.mu is held.
func (n *Node) queue(o op) {
	n.ops = append(n.ops, o)
	select {
	case n.opsWake <- struct{}{}:
	default:
	}
}

// runOps runs the queued ops, in order, until none is left.
func (n *Node) runOps() {
	for {
		n.mu.Lock()
		ops, r := n.ops, n.recv
		n.ops = nil
		n.mu.Unlock()
		if len(ops) == 0 || r == nil {
			return
		}
		for _, o := range ops {
			switch o.kind {
			case opApply:
				r.apply(o.node, o.body)
			case opSync:
				r.sync(o.node, o.entries)
			case opForget:
				r.forget(o.node)
			case opRequest:
				err := n.nc.PublishRequest(n.pfx+"q."+token(o.node), n.pfx+"s."+n.selfTok, []byte(n.name))
				if err != nil {
					n.log.Debug("cluster snapshot request failed", "peer", o.node, "err", err)
				}
			}
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
	case 'g':
		r.deliverGroups(m.Data)
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
		n.askHeartbeat()
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
