package presence

import "context"

// Join makes c a member of the server (present in Everyone). m.ID must be
// c's session id or empty (which means the same). For a connection with an
// identity (ConnectAs), m.ID may also be the identity's id; the member's id
// becomes the identity's, its info the identity's when set, and a name
// differing from the identity's (when set) is corrected, or refused with
// ErrIdentityMismatch if Options.RefuseNameMismatch. A member id is present
// once: a second join with an id that is present, here or on another node,
// gets ErrMemberExists.
func (e *Engine) Join(ctx context.Context, c *Conn, m Member) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if m.ID == "" {
		m.ID = c.id
	}
	if id := c.ident; id != nil && m.ID == id.ID {
		m.ID = c.id
	}
	if m.ID != c.id {
		return ErrNotOwnMember
	}
	if id := c.ident; id != nil {
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
	if h := e.opts.Hooks.BeforeNewMember; h != nil {
		if err := veto(h(ctx, c, m), ErrMemberDenied); err != nil {
			e.log.Debug("new member vetoed", "session", c.id, "err", err)
			return err
		}
	}
	ch := e.everyone
	ch.mu.Lock()
	if ch.has(m.ID) {
		ch.mu.Unlock()
		return ErrMemberExists
	}
	member := &m
	c.setMember(member)
	e.commit(ch, e.change(ch, "", OpAdd, c.id, member, c))
	if f := e.opts.Events.OnNewMember; f != nil {
		f(c, m)
	}
	return nil
}

// Leave removes c's member from every channel and from the server. memberID
// must be c's own id or empty.
func (e *Engine) Leave(ctx context.Context, c *Conn, memberID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if memberID != "" && memberID != c.id && (c.member == nil || memberID != c.member.ID) {
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
	o := e.change(ch, "", OpRemove, c.id, m, c)
	c.setMember(nil)
	e.commit(ch, o)
	// Invitations were addressed to the member that just left.
	c.dropInvitations()
	if f := e.opts.Events.OnRemoveMember; f != nil {
		f(c, *m)
	}
}
