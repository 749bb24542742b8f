package presence

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// ErrGroupNotExists is returned by Group.Broadcast when no group of that
// name exists (any more).
var ErrGroupNotExists = errors.New("presence: group does not exist")

// ErrInvalidGroup is returned by Groups.Add for an empty group name or one
// that is not valid UTF-8.
var ErrInvalidGroup = errors.New("presence: invalid group name")

// Groups are server-side labels on connections (seed: sgc Server.Groups).
// They are independent of the wire protocol and of membership: the server
// files a connection into any number of groups, joined as a member or not,
// and broadcasts to groups by name or pattern. A group exists while it has
// at least one connection; a connection leaves every group when it
// disconnects. Group names are case-sensitive.
//
// A group message reaches each connection's Sink as a KindPublish Event
// whose Channel is the group's name and whose Member is empty (on the sgc
// wire: a publish@msg with channel = group, member = ""). One Event is built
// per group and shared by all its recipients, so it is encoded once.
//
// Groups is safe for concurrent use. OnClientAdded and OnClientRemoved are
// called with no lock of the engine or of the groups held.
type Groups struct {
	e *Engine

	// mu guards groups and every connState's groups list. Nothing is
	// delivered under it: a group message is queued to the group's outbox
	// under mu (read-locked), which fixes who receives it, and delivered
	// after mu is released. Adding and removing a connection are queued to
	// the same outbox and waited for, so once Remove returns the connection
	// receives nothing more from that group.
	// Lock order: Conn.mu, then Groups.mu, then Groups.connMu, then a
	// group's outbox. None of them is ever held together with the engine's
	// connMu or nodeMu, or a shard's or a channel's lock.
	mu     sync.RWMutex
	groups map[string]*group

	// connMu guards every connection's connState (Conn.grp), which names
	// these groups from Connect to Disconnect, so that Add can refuse a closed
	// connection without taking the connection's own lock (Add is
	// typically called from an event handler that runs with that lock
	// held). A connState's groups are written with both mu and connMu
	// held, and read under either.
	connMu sync.Mutex
}

// connState is a connection's part of the groups, kept in the Conn.
type connState struct {
	owner  *Groups  // the engine's groups between Connect and Disconnect, else nil
	groups []string // sorted
}

type group struct {
	conns []*Conn       // in no particular order
	pos   map[*Conn]int // index of each connection in conns
	// out delivers the group's messages. Its subscribers follow conns: each
	// change of conns queues an addSub or removeSub entry under Groups.mu.
	out outbox
}

// queued is an entry of a group's outbox, queued under Groups.mu, to flush
// once it is released. The zero queued needs nothing.
type queued struct {
	out *outbox
	t   ticket
}

func (q queued) flush() {
	if q.out != nil {
		q.out.flush(q.t)
	}
}

func newGroups(e *Engine) *Groups {
	return &Groups{e: e, groups: make(map[string]*group)}
}

// connect registers a new connection.
func (gs *Groups) connect(c *Conn) {
	gs.connMu.Lock()
	c.grp.owner = gs
	gs.connMu.Unlock()
}

// disconnect forgets c and removes it from every group, firing
// OnClientRemoved for each in name order. Engine.Disconnect calls it with
// c.mu held.
func (gs *Groups) disconnect(c *Conn) {
	gs.connMu.Lock()
	st := &c.grp
	st.owner = nil
	in := len(st.groups) > 0
	gs.connMu.Unlock()
	if !in {
		return
	}
	// From here Add refuses c, and Remove no longer finds it: the groups it
	// is in are this call's to empty.
	gs.mu.Lock()
	gs.connMu.Lock()
	names := st.groups
	st.groups = nil
	gs.connMu.Unlock()
	qs := make([]queued, len(names))
	for i, name := range names {
		qs[i] = gs.drop(name, c)
	}
	gs.mu.Unlock()
	for _, q := range qs {
		q.flush()
	}
	if f := gs.e.opts.Events.OnClientRemoved; f != nil {
		for _, name := range names {
			f(name, c)
		}
	}
}

// Add files c into group, creating the group if needed, and fires
// OnClientAdded. Adding a connection to a group it is already in does
// nothing (and fires nothing). It fails with ErrInvalidGroup for an empty or
// non-UTF-8 name and with ErrClosed for a connection that has disconnected
// (or that this engine did not create).
func (gs *Groups) Add(name string, c *Conn) error {
	if name == "" || !utf8.ValidString(name) {
		return ErrInvalidGroup
	}
	gs.mu.Lock()
	gs.connMu.Lock()
	st := &c.grp
	if st.owner != gs {
		gs.connMu.Unlock()
		gs.mu.Unlock()
		return ErrClosed
	}
	i, found := slices.BinarySearch(st.groups, name)
	if found {
		gs.connMu.Unlock()
		gs.mu.Unlock()
		return nil
	}
	st.groups = slices.Insert(st.groups, i, name)
	gs.connMu.Unlock()
	g := gs.groups[name]
	if g == nil {
		g = &group{pos: make(map[*Conn]int)}
		gs.groups[name] = g
	}
	g.pos[c] = len(g.conns)
	g.conns = append(g.conns, c)
	t := g.out.push(delivery{op: addSub, conn: c})
	gs.mu.Unlock()
	g.out.flush(t)
	if f := gs.e.opts.Events.OnClientAdded; f != nil {
		f(name, c)
	}
	return nil
}

// Remove takes c out of group and fires OnClientRemoved. It reports whether
// c was in the group. The group disappears with its last connection.
func (gs *Groups) Remove(name string, c *Conn) bool {
	gs.mu.Lock()
	gs.connMu.Lock()
	st := &c.grp
	i, found := slices.BinarySearch(st.groups, name)
	if !found || st.owner != gs {
		gs.connMu.Unlock()
		gs.mu.Unlock()
		return false
	}
	st.groups = slices.Delete(st.groups, i, i+1)
	gs.connMu.Unlock()
	q := gs.drop(name, c)
	gs.mu.Unlock()
	q.flush()
	if f := gs.e.opts.Events.OnClientRemoved; f != nil {
		f(name, c)
	}
	return true
}

// drop removes c from the group's list, deleting an emptied group, and
// queues its removal to the group's outbox. gs.mu must be held; the caller
// flushes what drop returns after releasing it.
func (gs *Groups) drop(name string, c *Conn) queued {
	g := gs.groups[name]
	if g == nil {
		return queued{}
	}
	i, ok := g.pos[c]
	if !ok {
		return queued{}
	}
	last := len(g.conns) - 1
	if i != last {
		g.conns[i] = g.conns[last]
		g.pos[g.conns[i]] = i
	}
	g.conns[last] = nil
	g.conns = g.conns[:last]
	delete(g.pos, c)
	if len(g.conns) == 0 {
		delete(gs.groups, name)
	}
	return queued{&g.out, g.out.push(delivery{op: removeSub, conn: c})}
}

// Broadcast sends text from the server to every connection in the groups
// that match pattern, and returns how many connections of this node
// received it; in a cluster every other node delivers it to its own
// connections in matching groups the same way. A connection in several
// matching groups receives the message once, as the message of the first
// of those groups in name order. A pattern that matches no group is not an
// error: it reaches 0 connections.
//
// Patterns follow path.Match ('*' matches any run of characters other than
// '/', '?' one character other than '/', '[...]' a character class, '\\'
// escapes), with two additions:
//
//   - "*" alone matches every group, whatever its name (including names
//     with '/').
//   - A pattern ending in "/*" also matches every deeper name: "sales/*"
//     matches "sales/eu" and "sales/eu/north". Precisely, "P/*" matches a
//     name when path.Match does, or when the part of the name before one of
//     its '/' matches P.
//
// A malformed pattern returns an error wrapping path.ErrBadPattern.
func (gs *Groups) Broadcast(pattern, text string) (int, error) {
	match, err := groupMatcher(pattern)
	if err != nil {
		return 0, err
	}
	gs.e.broker.BroadcastGroups(pattern, text)
	return gs.deliver(pattern, match, text), nil
}

// deliver delivers text to this node's connections in the groups that
// match pattern (match nil: pattern is a plain name), each once, and returns
// how many received it. Who receives it is fixed under gs.mu; each group's
// outbox delivers it after gs.mu is released.
func (gs *Groups) deliver(pattern string, match func(string) bool, text string) int {
	gs.mu.RLock()
	var names []string
	switch {
	case match != nil:
		for name := range gs.groups {
			if match(name) {
				names = append(names, name)
			}
		}
		slices.Sort(names)
	case gs.groups[pattern] != nil:
		names = []string{pattern}
	}
	// A connection in several of the groups hears the first: seen holds
	// the connections of the groups before, which the next one skips.
	var seen map[*Conn]struct{}
	if len(names) > 1 {
		seen = make(map[*Conn]struct{})
	}
	qs := make([]queued, len(names))
	n := 0
	for i, name := range names {
		g := gs.groups[name]
		d := delivery{op: deliverAll, ev: groupEvent(name, text)}
		if seen == nil {
			n += len(g.conns)
		} else {
			for _, c := range g.conns {
				if _, dup := seen[c]; !dup {
					seen[c] = struct{}{}
					n++
				} else if d.skip == nil {
					d.skip = map[*Conn]struct{}{c: {}}
				} else {
					d.skip[c] = struct{}{}
				}
			}
		}
		qs[i] = queued{&g.out, g.out.push(d)}
	}
	gs.mu.RUnlock()
	for _, q := range qs {
		q.flush()
	}
	return n
}

func groupEvent(name, text string) *Event {
	return &Event{Kind: KindPublish, Channel: name, Data: []byte(text)}
}

// patternChars are the characters special to path.Match.
const patternChars = `*?[\`

// groupMatcher validates pattern and returns its match function, or nil
// when the pattern has no special characters (a plain group name).
func groupMatcher(pattern string) (func(string) bool, error) {
	if _, err := path.Match(pattern, ""); err != nil {
		return nil, fmt.Errorf("presence: group pattern %q: %w", pattern, err)
	}
	switch {
	case !strings.ContainsAny(pattern, patternChars):
		return nil, nil
	case pattern == "*":
		return func(string) bool { return true }, nil
	case strings.HasSuffix(pattern, "/*"):
		prefix := strings.TrimSuffix(pattern, "/*")
		return func(name string) bool {
			if ok, _ := path.Match(pattern, name); ok {
				return true
			}
			for i := 0; i < len(name); i++ {
				if name[i] == '/' {
					if ok, _ := path.Match(prefix, name[:i]); ok {
						return true
					}
				}
			}
			return false
		}, nil
	default:
		return func(name string) bool {
			ok, _ := path.Match(pattern, name)
			return ok
		}, nil
	}
}

// quoteGroupName returns the pattern that matches name alone: name with
// its patternChars escaped.
func quoteGroupName(name string) string {
	if !strings.ContainsAny(name, patternChars) {
		return name
	}
	var b strings.Builder
	for _, r := range name {
		if strings.ContainsRune(patternChars, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Group returns the group of that name, or nil if it does not exist. The
// methods of a nil *Group are safe: Broadcast returns ErrGroupNotExists, so
// Groups().Group(name).Broadcast(text) reports a missing group.
func (gs *Groups) Group(name string) *Group {
	gs.mu.RLock()
	defer gs.mu.RUnlock()
	if gs.groups[name] == nil {
		return nil
	}
	return &Group{gs: gs, name: name}
}

// Names returns the names of every group, sorted.
func (gs *Groups) Names() []string {
	gs.mu.RLock()
	names := make([]string, 0, len(gs.groups))
	for name := range gs.groups {
		names = append(names, name)
	}
	gs.mu.RUnlock()
	slices.Sort(names)
	return names
}

// GroupInfo describes a group.
type GroupInfo struct {
	Name  string
	Conns int // how many connections are in it
}

// List returns every group and its size, sorted by name.
func (gs *Groups) List() []GroupInfo {
	gs.mu.RLock()
	out := make([]GroupInfo, 0, len(gs.groups))
	for name, g := range gs.groups {
		out = append(out, GroupInfo{Name: name, Conns: len(g.conns)})
	}
	gs.mu.RUnlock()
	slices.SortFunc(out, func(a, b GroupInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Of returns the groups c is in, sorted.
func (gs *Groups) Of(c *Conn) []string {
	gs.connMu.Lock()
	defer gs.connMu.Unlock()
	if st := &c.grp; st.owner == gs && len(st.groups) > 0 {
		return slices.Clone(st.groups)
	}
	return nil
}

// Conns returns the connections in a group, sorted by session id, or nil
// when the group does not exist. Conn.ID and Conn.Member tell who they are.
func (gs *Groups) Conns(name string) []*Conn {
	gs.mu.RLock()
	g := gs.groups[name]
	if g == nil {
		gs.mu.RUnlock()
		return nil
	}
	out := slices.Clone(g.conns)
	gs.mu.RUnlock()
	slices.SortFunc(out, func(a, b *Conn) int { return strings.Compare(a.id, b.id) })
	return out
}

// Group names one group. It stays usable after the group is emptied: its
// methods act on whichever group has the name at the time of the call.
type Group struct {
	gs   *Groups
	name string
}

// Name returns the group's name.
func (g *Group) Name() string {
	if g == nil {
		return ""
	}
	return g.name
}

// Len returns how many connections are in the group (0 once it is gone).
func (g *Group) Len() int {
	if g == nil {
		return 0
	}
	g.gs.mu.RLock()
	defer g.gs.mu.RUnlock()
	if grp := g.gs.groups[g.name]; grp != nil {
		return len(grp.conns)
	}
	return 0
}

// Conns returns the group's connections, as Groups.Conns.
func (g *Group) Conns() []*Conn {
	if g == nil {
		return nil
	}
	return g.gs.Conns(g.name)
}

// Broadcast sends text from the server to every connection in the group
// (the name is not a pattern), and in a cluster to the group of that name
// on every other node. It returns ErrGroupNotExists when the group no
// longer exists on this node (and then sends nothing); Groups.Broadcast
// with the plain name reaches a group that lives only on other nodes.
func (g *Group) Broadcast(text string) error {
	if g == nil {
		return ErrGroupNotExists
	}
	if g.gs.deliver(g.name, nil, text) == 0 {
		return ErrGroupNotExists // a group exists while it has a connection
	}
	g.gs.e.broker.BroadcastGroups(quoteGroupName(g.name), text)
	return nil
}
