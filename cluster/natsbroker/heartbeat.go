package natsbroker

import (
	"encoding/binary"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Heartbeats have a goroutine, a timer and a lock of their own (beat,
// hbMu): they never wait behind the dispatcher (a slow Forget or Sync, a
// large snapshot), nor behind the failure check, nor behind n.mu or the
// outgoing buffer. A heartbeat goes straight to NATS: it waits only if
// the NATS socket itself does not drain, and then the node is rightly
// silent.

// heartbeat tells the others this node is alive, how far its stream went
// and how many entries it has. The sequence number is the last change
// handed to NATS (or dropped), read before the heartbeat is: NATS keeps
// one connection's order, so the changes it announces are ahead of it.
func (n *Node) heartbeat() {
	if n.pauseHB.Load() {
		return
	}
	b := appendU64(make([]byte, 0, 32), n.inc)
	b = binary.AppendUvarint(b, n.sent.Load())
	b = binary.AppendUvarint(b, uint64(max(n.count.Load(), 0)))
	n.hbMu.Lock()
	n.lastHB = time.Now()
	n.hbMu.Unlock()
	n.msgsOut.Add(1)
	_ = n.nc.Publish(n.ctlSubject(kindHeartbeat), b)
}

// lastHeartbeat returns when the last heartbeat was sent.
func (n *Node) lastHeartbeat() time.Time {
	n.hbMu.Lock()
	defer n.hbMu.Unlock()
	return n.lastHB
}

// beat sends a heartbeat every Options.Heartbeat, and at once when asked
// (askHeartbeat).
func (n *Node) beat() {
	defer n.wg.Done()
	t := time.NewTicker(n.o.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		case <-n.beatNow:
			t.Reset(n.o.Heartbeat)
		}
		n.heartbeat()
	}
}

// askHeartbeat makes beat send a heartbeat now.
func (n *Node) askHeartbeat() {
	select {
	case n.beatNow <- struct{}{}:
	default:
	}
}

// hello asks every node for a heartbeat now.
func (n *Node) hello() {
	_ = n.nc.Publish(n.ctlSubject(kindHello), appendU64(nil, n.inc))
}

// tick is the period of the loop: timeouts, route checks, retries.
func (n *Node) tick() time.Duration {
	return min(100*time.Millisecond, n.o.Heartbeat/2)
}

// loop runs the failure check every tick. It decides; it delivers
// nothing: the forgetting of a dead node is queued for the dispatcher.
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
			n.retrySubscribes(now)
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
