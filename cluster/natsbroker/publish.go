package natsbroker

import (
	"encoding/binary"

	"github.com/nats-io/nats.go"
)

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

// broadcastGroups sends a group broadcast to every other node.
func (n *Node) broadcastGroups(data []byte) {
	n.msgsOut.Add(1)
	if err := n.nc.Publish(n.pfx+"g."+n.selfTok, data); err != nil {
		n.log.Debug("cluster group broadcast dropped", "err", err)
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
