package presence

import "sync"

// heldIDs counts, for each member id, the channels (Everyone aside) it is
// present in, over every node. It makes one namespace of member ids: a
// member present in a channel without having joined (a Pusher user in a
// presence channel) holds its id as much as a joined member does, so that
// Join refuses it to anyone else (see Engine.Join and SubscribeWith).
//
// It is sharded by id like the channel table; a shard's lock is a leaf
// lock, taken under a channel's mu, and only when a member enters or leaves
// a channel, not per delivery.
type heldIDs struct {
	shards [shardCount]idShard
}

type idShard struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *heldIDs) shard(id string) *idShard {
	x := uint32(2166136261)
	for i := 0; i < len(id); i++ {
		x ^= uint32(id[i])
		x *= 16777619
	}
	return &h.shards[x%shardCount]
}

// add counts one more channel id is present in (delta 1) or one fewer
// (delta -1).
func (h *heldIDs) add(id string, delta int) {
	s := h.shard(id)
	s.mu.Lock()
	if s.n == nil {
		s.n = make(map[string]int)
	}
	if n := s.n[id] + delta; n > 0 {
		s.n[id] = n
	} else {
		delete(s.n, id)
	}
	s.mu.Unlock()
}

// held reports whether id is present in any channel.
func (h *heldIDs) held(id string) bool {
	s := h.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[id] > 0
}

// HoldsID reports whether a member of that id is present on the server
// (joined, or present in a channel without joining, as a Pusher user is),
// on this node or another.
func (e *Engine) HoldsID(id string) bool {
	if e.held.held(id) {
		return true
	}
	e.everyone.mu.RLock()
	defer e.everyone.mu.RUnlock()
	return e.everyone.has(id)
}

// sharesIDs reports whether ch's entries hold ids in the server's
// namespace: not Everyone (Join checks it itself), nor a channel of
// Options.ForeignIDs.
func (e *Engine) sharesIDs(ch *channel) bool {
	return ch != e.everyone && (e.opts.ForeignIDs == nil || !e.opts.ForeignIDs(ch.name))
}
