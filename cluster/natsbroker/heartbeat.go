package natsbroker

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

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
