package natsbroker

// DropNextReplicate makes the node drop its next outgoing change (it takes
// its sequence number but is not sent), so that a test can see the gap
// repaired by a snapshot. For tests only.
func (n *Node) DropNextReplicate() { n.dropNext.Add(1) }

// PauseHeartbeats stops (true) or resumes (false) this node's heartbeats,
// so that a test can see the others' node timeout. For tests only.
func (n *Node) PauseHeartbeats(pause bool) { n.pauseHB.Store(pause) }

// StallPublisher makes the node's publisher wait, as on a NATS socket that
// does not drain, until the returned function is called: the engine's
// calls keep returning and the outgoing buffer fills (and overflows).
// Heartbeats go on. For tests only.
func (n *Node) StallPublisher() (release func()) {
	g := make(chan struct{})
	n.pubGate.Store(&g)
	return func() {
		if n.pubGate.CompareAndSwap(&g, nil) {
			close(g)
		}
	}
}

// FailSubscribes makes the node's next k channel subscriptions fail, as if
// NATS refused them, so that a test can see them retried. For tests only.
func (n *Node) FailSubscribes(k int) { n.failSubs.Add(int32(k)) }
