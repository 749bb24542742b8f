package natsbroker

// DropNextReplicate makes the node drop its next outgoing change (it takes
// its sequence number but is not sent), so that a test can see the gap
// repaired by a snapshot. For tests only.
func (n *Node) DropNextReplicate() { n.dropNext.Add(1) }

// PauseHeartbeats stops (true) or resumes (false) this node's heartbeats,
// so that a test can see the others' node timeout. For tests only.
func (n *Node) PauseHeartbeats(pause bool) { n.pauseHB.Store(pause) }
