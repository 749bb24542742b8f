package natsbroker

import "encoding/binary"

// replicateFunc sends one change of this node's entries (delta: +1 an
// entry added, -1 one gone) to every other node, in order; body appends the
// change to the message. The message buffer is reused (NATS copies what it publishes):
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
