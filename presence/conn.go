package presence

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Member is someone present on the server: one per connection, identified
// by the connection's session id.
type Member struct {
	ID   string
	Name string
	Info string
}

// Conn is the engine's side of one client connection. The engine creates it
// in Connect; the protocol layer passes it to every call made on the
// client's behalf. Hooks and events receive it, so the application can read
// the connection's Data.
type Conn struct {
	id    string
	sink  Sink
	ident *Member // the authenticated identity, nil for an open connection
	data  atomic.Pointer[any]

	// mu serializes the operations of one connection and guards the fields
	// below. Lock order: Conn.mu, then Engine.mu, then shard locks; view
	// and invMu are leaf locks.
	mu     sync.Mutex
	closed bool
	// member and channels are written with both mu and view held, so the
	// engine reads them under mu and Member/Channels under view alone:
	// hooks, which run while mu is held, can call those.
	view     sync.RWMutex
	member   *Member
	channels []string

	invMu   sync.Mutex
	invites []invitation // pending invitations received, oldest first
}

type invitation struct {
	channel string
	inviter string
}

// ID returns the connection's session id, which is also its member id.
func (c *Conn) ID() string { return c.id }

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

// Member returns the connection's member and whether it has joined.
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
	return slices.Clone(c.channels)
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

// setView changes the member and channels; c.mu must be held.
func (c *Conn) setView(m *Member, channels []string) {
	c.view.Lock()
	c.member, c.channels = m, channels
	c.view.Unlock()
}
