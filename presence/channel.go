package presence

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
)

// Everyone is the reserved channel of server-wide membership: a member
// that joins (Join) is present in it, and a publish to it reaches every
// member. It is never freed, never listed among the channels, and no client
// can name it (its name starts with a NUL byte, which channel names may not).
const Everyone = "\x00everyone"

const shardCount = 64

// shard is one part of the channel table; its lock guards only the map,
// never a delivery.
type shard struct {
	mu       sync.RWMutex
	channels map[string]*channel
}

// channel is a channel's presence entries, from every node, and its local
// subscribers (in its outbox).
type channel struct {
	name string

	// mu guards the entries and the counts below. Changes are queued to
	// the outbox under it, so the outbox delivers them in this order.
	mu        sync.RWMutex
	dead      bool                // freed: a caller holding it looks it up again
	members   []*present          // distinct members, in order of arrival
	byID      map[string]*present // members by id, once there are indexFrom of them
	localSubs int                 // local subscribers, presence or not
	// remoteSubs counts the other nodes' subscriptions: their presence
	// entries and their subscriptions without presence (bare).
	remoteSubs int
	bare       map[entryRef]struct{} // other nodes' subscriptions without presence
	// version advances with every member that enters, leaves or changes.
	// It is this node's count: another node's version of the same channel
	// is another number.
	version   uint64
	nextSeq   uint64     // the next member's seq
	diffSubs  int        // local ModeDiffs subscribers
	countSubs int        // local ModeCounts subscribers
	diff      *diffState // the diff gathered for them, while there is one
	count     *countState
	// list caches the member list until the members change (memberList);
	// it is built under the read lock and dropped under the write lock.
	list atomic.Pointer[Event]

	out outbox
}

// present is one member in a channel with all its entries: usually one
// connection, more when a member is present through several (two tabs of
// one Pusher user, or connections on several nodes).
type present struct {
	member *Member
	seq    uint64 // order of arrival in the channel, for paging
	first  entryRef
	more   *[]entryRef // the other entries, rare: nil when there is one
}

// dropMore removes the i-th of p's other entries.
func (p *present) dropMore(i int) {
	*p.more = slices.Delete(*p.more, i, i+1)
	if len(*p.more) == 0 {
		p.more = nil
	}
}

// entryRef names a presence entry's connection: a session id on a node
// ("" is this node).
type entryRef struct {
	node string
	conn string
}

func newChannel(name string) *channel {
	return &channel{name: name}
}

// indexFrom is how many members a channel has before it indexes them by
// id: a small channel finds a member faster by looking through them, and
// saves the map (most channels of a presence server are small).
const indexFrom = 32

// find returns the member of that id, or nil. ch.mu must be held.
func (ch *channel) find(id string) *present {
	if ch.byID != nil {
		return ch.byID[id]
	}
	for _, p := range ch.members {
		if p.member.ID == id {
			return p
		}
	}
	return nil
}

// add records the entry (node, conn) of m, and reports whether it is m's
// first entry in the channel (the member entered it) and whether the entry
// is new. Adding an entry that is there already does nothing, unless m's
// name or info differ from the member's: then m replaces it, and before is
// the member as it was (an update). ch.mu must be held.
func (ch *channel) add(node, conn string, m *Member) (before *Member, first, added bool) {
	ref := entryRef{node, conn}
	p := ch.find(m.ID)
	if p == nil {
		p = &present{member: m, first: ref, seq: ch.nextSeq}
		ch.nextSeq++
		ch.members = append(ch.members, p)
		ch.list.Store(nil)
		switch {
		case ch.byID != nil:
			ch.byID[m.ID] = p
		case len(ch.members) >= indexFrom:
			ch.byID = make(map[string]*present, 2*len(ch.members))
			for _, q := range ch.members {
				ch.byID[q.member.ID] = q
			}
		}
		return nil, true, true
	}
	if p.first == ref || p.more != nil && slices.Contains(*p.more, ref) {
		if p.member.Equal(*m) {
			return nil, false, false
		}
		before, p.member = p.member, m
		ch.list.Store(nil)
		return before, false, false
	}
	if p.more == nil {
		p.more = new([]entryRef)
	}
	*p.more = append(*p.more, ref)
	return nil, false, true
}

// addBare records another node's subscription without presence; adding one
// that is there does nothing. ch.mu must be held.
func (ch *channel) addBare(ref entryRef) {
	if _, ok := ch.bare[ref]; ok {
		return
	}
	if ch.bare == nil {
		ch.bare = make(map[entryRef]struct{})
	}
	ch.bare[ref] = struct{}{}
	ch.remoteSubs++
}

// removeBare drops another node's subscription without presence, if it is
// there. ch.mu must be held.
func (ch *channel) removeBare(ref entryRef) {
	if _, ok := ch.bare[ref]; !ok {
		return
	}
	delete(ch.bare, ref)
	if len(ch.bare) == 0 {
		ch.bare = nil
	}
	ch.remoteSubs--
}

// subscriptions counts the channel's subscriptions on every node: each
// connection subscribed, with presence or without. ch.mu must be held.
func (ch *channel) subscriptions() int { return ch.localSubs + ch.remoteSubs }

// remove drops the entry (node, conn) of member id and reports whether it
// was there and whether it was the member's last (the member left the
// channel), with the member as it was present. ch.mu must be held.
func (ch *channel) remove(node, conn, id string) (m *Member, found, last bool) {
	p := ch.find(id)
	if p == nil {
		return nil, false, false
	}
	ref := entryRef{node, conn}
	switch {
	case p.first == ref && p.more == nil:
		// Members are in order of arrival, which is seq's: a search, not a
		// scan (a dead node's thousands of members leave one by one).
		if i, ok := slices.BinarySearchFunc(ch.members, p.seq, func(q *present, seq uint64) int { return cmp.Compare(q.seq, seq) }); ok {
			ch.members = slices.Delete(ch.members, i, i+1)
		}
		ch.list.Store(nil)
		if ch.byID != nil {
			delete(ch.byID, id)
			if len(ch.members) < indexFrom/2 {
				ch.byID = nil
			}
		}
		return p.member, true, true
	case p.first == ref:
		p.first = (*p.more)[0]
		p.dropMore(0)
	default:
		i := -1
		if p.more != nil {
			i = slices.Index(*p.more, ref)
		}
		if i < 0 {
			return nil, false, false
		}
		p.dropMore(i)
	}
	return p.member, true, false
}

// has reports whether member id is present in the channel.
func (ch *channel) has(id string) bool { return ch.find(id) != nil }

// empty reports whether the channel has neither entries nor subscribers on
// any node. ch.mu must be held.
func (ch *channel) empty() bool { return len(ch.members) == 0 && ch.subscriptions() == 0 }

// snapshot returns the channel's members in order of arrival. ch.mu must be
// held (read).
func (ch *channel) snapshot() []Member {
	out := make([]Member, len(ch.members))
	for i, p := range ch.members {
		out[i] = *p.member
	}
	return out
}

// memberList returns the channel's members as a KindMembers event without
// a requester, the same one for every request until the members change, so
// that a protocol encodes a member list once per channel state (Event.Frame
// on Event.List) however often it is asked for. ch.mu must be held (read).
func (ch *channel) memberList() *Event {
	if l := ch.list.Load(); l != nil {
		return l
	}
	name := ch.name
	if name == Everyone {
		name = ""
	}
	l := &Event{Kind: KindMembers, Channel: name, Members: ch.snapshot(), Version: ch.version}
	if !ch.list.CompareAndSwap(nil, l) {
		// Another reader built the same list first; writers wait for
		// the read lock, so it is still there.
		return ch.list.Load()
	}
	return l
}

// shard picks a channel's shard by the FNV-1a hash of its name.
func (e *Engine) shard(name string) *shard {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return &e.shards[h%shardCount]
}

// lookup returns the live channel of that name, or nil. The channel may be
// freed right after; lock uses the result safely.
func (e *Engine) lookup(name string) *channel {
	if name == Everyone {
		return e.everyone
	}
	sh := e.shard(name)
	sh.mu.RLock()
	ch := sh.channels[name]
	sh.mu.RUnlock()
	return ch
}

// lock returns the channel of that name with its lock held, creating it
// when create is set (and reporting whether it did), or nil when it does
// not exist and create is not set.
func (e *Engine) lock(name string, create bool) (ch *channel, created bool) {
	for {
		ch = e.lookup(name)
		if ch == nil {
			if !create {
				return nil, false
			}
			sh := e.shard(name)
			sh.mu.Lock()
			if ch = sh.channels[name]; ch == nil {
				ch = newChannel(name)
				sh.channels[name] = ch
				created = true
			}
			sh.mu.Unlock()
		}
		ch.mu.Lock()
		if !ch.dead {
			return ch, created
		}
		ch.mu.Unlock()
		created = false
	}
}

// rlock is lock for reading, without creating.
func (e *Engine) rlock(name string) *channel {
	for {
		ch := e.lookup(name)
		if ch == nil {
			return nil
		}
		ch.mu.RLock()
		if !ch.dead {
			return ch
		}
		ch.mu.RUnlock()
	}
}

// freeIfEmpty frees ch when it has nothing left (and empty channels are
// not kept), and reports whether it did. ch.mu must be held.
func (e *Engine) freeIfEmpty(ch *channel) bool {
	if ch == e.everyone || !ch.empty() || e.opts.KeepEmptyChannels {
		return false
	}
	ch.dead = true
	sh := e.shard(ch.name)
	sh.mu.Lock()
	if sh.channels[ch.name] == ch {
		delete(sh.channels, ch.name)
	}
	sh.mu.Unlock()
	return true
}

// subscribeLocal makes c a local subscriber of ch, subscribing the node to
// the channel at the broker for its first one, and returns the delivery
// to queue. c.mu and ch.mu must be held, and c's subscription recorded
// (addSub).
func (e *Engine) subscribeLocal(ch *channel, c *Conn) delivery {
	ch.localSubs++
	if ch.localSubs == 1 && ch != e.everyone {
		e.broker.Subscribe(ch.name)
	}
	mode := e.modeIn(ch, c)
	switch mode {
	case ModeDiffs:
		ch.noteDiffSub(1)
	case ModeCounts:
		ch.noteCountSub(1)
	}
	return delivery{op: addSub, conn: c, mode: mode}
}

// unsubscribeLocal undoes subscribeLocal, dropping c's subscription of ch
// (so that a snapshot of c's entries taken after the change is replicated
// no longer has it). c.mu and ch.mu must be held.
func (e *Engine) unsubscribeLocal(ch *channel, c *Conn) delivery {
	ch.localSubs--
	if ch.localSubs == 0 && ch != e.everyone {
		e.broker.Unsubscribe(ch.name)
	}
	switch e.modeIn(ch, c) {
	case ModeDiffs:
		ch.noteDiffSub(-1)
	case ModeCounts:
		ch.noteCountSub(-1)
	}
	if ch != e.everyone {
		c.dropSub(ch.name)
	}
	return delivery{op: removeSub, conn: c}
}
