package presence

import (
	"context"
	"slices"
)

// Join makes c a member of the server (present in Everyone).
//
// On an open connection (Connect) m.ID is the application's choice: empty
// means c's session id, and any other id is taken as it is (sgc's
// newmember(id, name, info) passes the application's own user ids). The id
// is bound to c while it is a member: c's requests may then name it, its
// session id or no id (CheckMemberID), and no other connection can take it.
//
// For a connection with an identity (ConnectAs), m.ID must be empty, c's
// session id or the identity's id (ErrNotOwnMember otherwise); the member's
// id becomes the identity's, its info the identity's when set, and a name
// differing from the identity's (when set) is corrected, or refused with
// ErrIdentityMismatch if Options.RefuseNameMismatch. With
// Options.AppMemberIDs, m.ID may also be any other id, which is then taken
// as on an open connection, with m's name and info: the identity stays
// c's (Conn.Identity) but the member is the application's.
//
// A member id is present once: a join with an id that is present, here or
// on another node, gets ErrMemberExists (first come, first served), as does
// a second join of a connection that is a member already. Present means
// joined, or present in a channel without joining (a Pusher user in a
// presence channel, see SubscribeWith): one namespace of ids for every
// protocol.
func (e *Engine) Join(ctx context.Context, c *Conn, m Member) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if m.ID == "" {
		m.ID = c.id
	}
	if id := c.ident; id != nil && e.opts.AppMemberIDs && m.ID != c.id && m.ID != id.ID {
		e.log.Debug("joining under an id of the application's choosing", "session", c.id, "user", id.ID, "member", m.ID)
	} else if id != nil {
		if m.ID != c.id && m.ID != id.ID {
			return ErrNotOwnMember
		}
		m.ID = id.ID
		if len(id.Info) > 0 {
			m.Info = id.Info
		}
		if id.Name != "" && m.Name != id.Name {
			if m.Name != "" && e.opts.RefuseNameMismatch {
				return ErrIdentityMismatch
			}
			m.Name = id.Name
		}
	}
	if c.member != nil {
		return ErrMemberExists
	}
	switch r := c.resumed(); {
	case r != nil:
		// Resume: the member of the lost connection, under the name and
		// info the join brings (or its own).
		m.ID = r.ID
		if m.Name == "" {
			m.Name = r.Name
		}
		if len(m.Info) == 0 {
			m.Info = r.Info
		}
	case e.opts.Grace > 0 && c.ident != nil && m.ID == c.ident.ID && e.HoldsID(m.ID):
		// The same identity may take over its own lost connection.
		e.claimByIdentity(ctx, c, m.ID)
	}
	if h := e.opts.Hooks.BeforeNewMember; h != nil {
		if err := veto(h(ctx, c, m), ErrMemberDenied); err != nil {
			e.log.Debug("new member vetoed", "session", c.id, "err", err)
			return err
		}
	}
	ch := e.everyone
	ch.mu.Lock()
	taken := ch.has(m.ID) || (e.held.held(m.ID) && !c.presentAs(m.ID))
	if r := c.resumed(); taken && (r == nil || r.ID != m.ID) {
		ch.mu.Unlock()
		return ErrMemberExists
	}
	member := &m
	c.setMember(member)
	if e.opts.Grace > 0 {
		c.view.Lock()
		c.takeoverState().token = newResumeToken(e.opts.Node, c.id)
		c.view.Unlock()
	}
	diffs := c.mode == ModeDiffs && e.opts.MemberEvents == MemberEventsAll
	var list delivery
	if diffs {
		// The list the next diff applies to, taken before this change.
		list = ch.listFor(c, m)
	}
	o := e.change(ch, "", OpAdd, c.id, member, c, OriginLocal)
	if diffs {
		o.ds = slices.Insert(o.ds, 1, list) // right after the subscriber
	}
	e.commit(ch, o)
	if f := e.opts.Events.OnNewMember; f != nil {
		f(c, m)
	}
	return nil
}

// Leave removes c's member from every channel and from the server.
// memberID must be one c may name (see CheckMemberID): empty, c's session
// id, its identity's or its member's id.
func (e *Engine) Leave(ctx context.Context, c *Conn, memberID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if !c.owns(memberID) {
		return ErrNotOwnMember
	}
	if c.member == nil {
		return ErrMemberNotExists
	}
	e.dropAll(c)
	return nil
}

// dropAll removes c from every channel it is subscribed to and its member
// from the server. It runs with c.mu held.
func (e *Engine) dropAll(c *Conn) {
	for len(c.subs) > 0 {
		e.unsubscribe(c, c.subs[0], OpRemove)
	}
	m := c.member
	if m == nil {
		return
	}
	ch := e.everyone
	ch.mu.Lock()
	o := e.change(ch, "", OpRemove, c.id, m, c, OriginLocal)
	c.setMember(nil)
	e.commit(ch, o)
	// Invitations were addressed to the member that just left.
	c.dropInvitations()
	if f := e.opts.Events.OnRemoveMember; f != nil {
		f(c, *m)
	}
}
