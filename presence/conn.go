package presence

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Conn is the engine's side of one client connection on this node. The
// engine creates it in Connect; the protocol adapter passes it to every call
// made on the client's behalf. Hooks and events receive it, so the
// application can read the connection's Data.
type Conn struct {
	id    string
	sink  Sink
	ident *Member // the authenticated identity, nil for an open connection
	data  atomic.Pointer[any]

	// mu serializes the operations of one connection and guards closed.
	// Lock order: Conn.mu, then a channel's mu, then its outbox's; view
	// and invMu are leaf locks.
	mu     sync.Mutex
	closed bool
	mode   Mode // ModeDiffs after UseDiffs; guarded by mu
	// member and subs are written with both mu and view held, so the
	// engine reads them under mu, and Member, Channels and Entries under
	// view alone: hooks, which run while mu is held, can call those.
	view   sync.RWMutex
	member *Member        // the joined member (sgc), nil before Join
	subs   []subscription // in the order subscribed
	// takeover is set only under a grace: most servers keep nothing.
	// Guarded by mu (its token: and view).
	takeover *takeover

	invMu   sync.Mutex
	invites []invitation // pending invitations received, oldest first

	grp connState // guarded by the engine's Groups.connMu
}

// takeover is what a connection keeps for taking over presence under a
// grace: the resume token given at its join, and the member of the lost
// connection it took over (Resume), which its join joins as.
type takeover struct {
	token   *resumeToken
	resumed *Member
}

// resumed is the member c took over, or nil. c.mu must be held.
func (c *Conn) resumed() *Member {
	if c.takeover == nil {
		return nil
	}
	return c.takeover.resumed
}

// takeoverState returns c's takeover state, making it. c.mu must be held.
func (c *Conn) takeoverState() *takeover {
	if c.takeover == nil {
		c.takeover = &takeover{}
	}
	return c.takeover
}

// subscription is one channel a connection is subscribed to, with the
// member it is present there as (nil: a plain subscriber, no presence).
type subscription struct {
	channel string
	member  *Member
	mode    Mode
}

type invitation struct {
	channel string
	inviter string
}

// ID returns the connection's session id (sgc: also its member id when it
// joins with no id of its own on an open server).
func (c *Conn) ID() string { return c.id }

// Sink returns where the connection's events go: the protocol adapter's
// value for it, by which an adapter knows its own connections.
func (c *Conn) Sink() Sink { return c.sink }

// CheckMemberID returns ErrNotOwnMember unless id is one c may name as
// the member a request is about or from (sgc's member.id in every frame):
// empty, c's session id, the id of the identity it authenticated as, or
// the id it joined as (an open connection's own choice, see Engine.Join).
// So a connection acts only for the member it joined as. A join names the
// id it asks for, which Join checks itself.
func (c *Conn) CheckMemberID(id string) error {
	c.view.RLock()
	defer c.view.RUnlock()
	if !c.owns(id) {
		return ErrNotOwnMember
	}
	return nil
}

// owns is CheckMemberID's rule; c.mu or c.view must be held.
func (c *Conn) owns(id string) bool {
	return id == "" || id == c.id || (c.ident != nil && id == c.ident.ID) || (c.member != nil && id == c.member.ID)
}

// Identity returns the identity the server authenticated the connection
// as (see Engine.ConnectAs), and whether it has one.
func (c *Conn) Identity() (Member, bool) {
	if c.ident == nil {
		return Member{}, false
	}
	return *c.ident, true
}

// Data returns the application value attached to the connection.
func (c *Conn) Data() any {
	if p := c.data.Load(); p != nil {
		return *p
	}
	return nil
}

// SetData attaches an application value to the connection (seed:
// Connection.Data). It is safe to call at any time.
func (c *Conn) SetData(v any) { c.data.Store(&v) }

// Member returns the connection's joined member and whether it has joined.
func (c *Conn) Member() (Member, bool) {
	c.view.RLock()
	defer c.view.RUnlock()
	if c.member == nil {
		return Member{}, false
	}
	return *c.member, true
}

// Channels returns the channels the connection is subscribed to, in the
// order it subscribed.
func (c *Conn) Channels() []string {
	c.view.RLock()
	defer c.view.RUnlock()
	out := make([]string, len(c.subs))
	for i, s := range c.subs {
		out[i] = s.channel
	}
	return out
}

// presentAs reports whether c is present in a channel as member id; c.mu
// must be held.
func (c *Conn) presentAs(id string) bool {
	return slices.ContainsFunc(c.subs, func(s subscription) bool { return s.member != nil && s.member.ID == id })
}

// subscribed reports whether c is subscribed to channel; c.mu must be held.
func (c *Conn) subscribed(channel string) bool {
	return c.subIndex(channel) >= 0
}

func (c *Conn) subIndex(channel string) int {
	return slices.IndexFunc(c.subs, func(s subscription) bool { return s.channel == channel })
}

// setMember changes the joined member; c.mu must be held.
func (c *Conn) setMember(m *Member) {
	c.view.Lock()
	c.member = m
	c.view.Unlock()
}

// addSub and dropSub change the subscriptions; c.mu must be held.
func (c *Conn) addSub(s subscription) {
	c.view.Lock()
	c.subs = append(c.subs, s)
	c.view.Unlock()
}

func (c *Conn) dropSub(channel string) {
	c.view.Lock()
	if i := c.subIndex(channel); i >= 0 {
		c.subs = slices.Delete(c.subs, i, i+1)
	}
	c.view.Unlock()
}

// entries returns c's presence entries as changes (OpAdd), for a snapshot,
// with its subscriptions without presence as entries without a member.
func (c *Conn) entries(out []Change) []Change {
	c.view.RLock()
	defer c.view.RUnlock()
	if c.member != nil {
		out = append(out, Change{Op: OpAdd, Conn: c.id, Channel: Everyone, Member: *c.member})
	}
	for _, s := range c.subs {
		ch := Change{Op: OpAdd, Conn: c.id, Channel: s.channel}
		if s.member != nil {
			ch.Member = *s.member
		}
		out = append(out, ch)
	}
	return out
}

func (c *Conn) addInvitation(inv invitation, max int) {
	c.invMu.Lock()
	defer c.invMu.Unlock()
	if i := slices.Index(c.invites, inv); i >= 0 {
		c.invites = slices.Delete(c.invites, i, i+1)
	}
	if len(c.invites) >= max {
		c.invites = slices.Delete(c.invites, 0, len(c.invites)-max+1)
	}
	c.invites = append(c.invites, inv)
}

func (c *Conn) takeInvitation(inv invitation) bool {
	c.invMu.Lock()
	defer c.invMu.Unlock()
	i := slices.Index(c.invites, inv)
	if i < 0 {
		return false
	}
	c.invites = slices.Delete(c.invites, i, i+1)
	return true
}

func (c *Conn) dropInvitations() {
	c.invMu.Lock()
	c.invites = nil
	c.invMu.Unlock()
}
