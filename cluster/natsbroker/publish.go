package natsbroker

import (
	"encoding/binary"

	"github.com/nats-io/nats.go"
)

// publish sends data to the other nodes subscribed to channel, through the
// outgoing buffer (the engine may hold a lock).
func (n *Node) publish(channel string, data []byte) {
	n.enqueue(n.pfx+"p."+token(channel), data)
}

// broadcastGroups sends a group broadcast to every other node.
func (n *Node) broadcastGroups(data []byte) {
	n.enqueue(n.pfx+"g."+n.selfTok, data)
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
	n.enqueue(subj, b)
}
