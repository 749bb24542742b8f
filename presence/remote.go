package presence

import "slices"

// replicaKey names one entry of another node in the replica.
type replicaKey struct {
	conn    string
	channel string
}

// Receiver returns the engine's side of the broker seam, for the broker to
// call with what the other nodes send.
func (e *Engine) Receiver() Receiver { return receiver{e} }

type receiver struct{ e *Engine }

func (r receiver) Deliver(channel string, ev *Event) {
	ch := r.e.rlock(channel)
	if ch == nil {
		return
	}
	t := ch.out.push(delivery{op: deliverAll, ev: ev})
	ch.mu.RUnlock()
	ch.out.flush(t)
}

func (r receiver) DeliverTo(conn string, ev *Event) { r.e.deliverTo(conn, ev) }

func (r receiver) DeliverGroups(pattern, text string) {
	if match, err := groupMatcher(pattern); err == nil {
		r.e.groups.deliver(pattern, match, text)
	}
}

func (r receiver) Apply(node string, ch Change) {
	e := r.e
	e.nodeMu.Lock()
	entries := e.nodes[node]
	if entries == nil {
		entries = make(map[replicaKey]Member)
		e.nodes[node] = entries
	}
	key := replicaKey{ch.Conn, ch.Channel}
	if ch.Op == OpAdd {
		entries[key] = ch.Member
	} else {
		delete(entries, key)
		if len(entries) == 0 {
			delete(e.nodes, node)
		}
	}
	e.nodeMu.Unlock()
	e.applyRemote(node, ch, OriginReplica)
}

func (r receiver) Sync(node string, snapshot []Change) {
	e := r.e
	next := make(map[replicaKey]Member, len(snapshot))
	for _, ch := range snapshot {
		next[replicaKey{ch.Conn, ch.Channel}] = ch.Member
	}
	e.nodeMu.Lock()
	prev := e.nodes[node]
	if len(next) > 0 {
		e.nodes[node] = next
	} else {
		delete(e.nodes, node)
	}
	e.nodeMu.Unlock()
	// An entry in both with another name or info is an update: added
	// again, it replaces the member as it was.
	var gone, added []Change
	for k, m := range prev {
		if n, ok := next[k]; !ok || n.ID != m.ID {
			gone = append(gone, Change{Op: OpRemove, Conn: k.conn, Channel: k.channel, Member: m})
		}
	}
	for k, m := range next {
		if p, ok := prev[k]; !ok || !p.Equal(m) {
			added = append(added, Change{Op: OpAdd, Conn: k.conn, Channel: k.channel, Member: m})
		}
	}
	sortLeaves(gone)
	// Joins in the snapshot's order: Everyone first, as a member joins
	// before it subscribes.
	slices.SortStableFunc(added, func(a, b Change) int { return boolOrder(a.Channel != Everyone, b.Channel != Everyone) })
	e.batch(append(gone, added...), func(chg Change) { e.applyRemote(node, chg, OriginReplica) })
}

func (r receiver) Forget(node string) {
	e := r.e
	e.nodeMu.Lock()
	prev := e.nodes[node]
	delete(e.nodes, node)
	e.nodeMu.Unlock()
	gone := make([]Change, 0, len(prev))
	for k, m := range prev {
		gone = append(gone, Change{Op: OpRemove, Conn: k.conn, Channel: k.channel, Member: m})
	}
	sortLeaves(gone)
	e.batch(gone, func(chg Change) { e.applyRemote(node, chg, OriginForgotten) })
}

func (r receiver) Entries() []Change {
	e := r.e
	e.connMu.RLock()
	conns := make([]*Conn, 0, len(e.conns))
	for _, c := range e.conns {
		conns = append(conns, c)
	}
	e.connMu.RUnlock()
	var out []Change
	for _, c := range conns {
		out = c.entries(out)
	}
	return out
}

// applyRemote applies another node's change to the replica's channel and
// tells the local subscribers. Changes are idempotent: adding an entry that
// is there, or removing one that is not, tells nobody anything. An entry
// without a member (an empty id) is a subscription without presence.
func (e *Engine) applyRemote(node string, chg Change, from Origin) {
	ch, _ := e.lock(chg.Channel, chg.Op == OpAdd)
	if ch == nil {
		return
	}
	m := chg.Member
	e.commit(ch, e.change(ch, node, chg.Op, chg.Conn, &m, nil, from))
}

// sortLeaves orders removals as a member leaves: its channels first, then
// Everyone.
func sortLeaves(chs []Change) {
	slices.SortStableFunc(chs, func(a, b Change) int { return boolOrder(a.Channel == Everyone, b.Channel == Everyone) })
}

// boolOrder sorts false before true.
func boolOrder(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}
