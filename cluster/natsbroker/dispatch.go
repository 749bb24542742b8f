package natsbroker

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

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
