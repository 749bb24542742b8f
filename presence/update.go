package presence

import (
	"context"
	"slices"
)

// Update changes the name and info of c's member, in the server and in
// every channel it is present in, telling each audience as a join is told:
// KindUpdateMember to the server's members (with MemberEventsAll; c alone
// otherwise), KindUpdateChannelMember to each channel's ModeEvents
// subscribers, and the change in the next diff to ModeDiffs subscribers.
// m.ID must be empty or c's member's id; the id never changes. An
// authenticated connection's name and info stay its identity's where the
// identity sets them (as in Join). BeforeMemberUpdate may veto it
// (ErrUpdateDenied); an update that changes nothing tells nobody.
func (e *Engine) Update(ctx context.Context, c *Conn, m Member) error {
	return e.update(ctx, c, m, true)
}

// update is Update, running the hook when hooked is set.
func (e *Engine) update(ctx context.Context, c *Conn, m Member, hooked bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	// The member: the joined one, or (a Pusher user) the one c is present
	// as in its channels.
	var old Member
	switch i := slices.IndexFunc(c.subs, func(s subscription) bool { return s.member != nil }); {
	case c.member != nil:
		old = *c.member
	case i >= 0:
		old = *c.subs[i].member
	default:
		return ErrMemberNotExists
	}
	if m.ID != "" && m.ID != old.ID {
		return ErrNotOwnMember
	}
	m.ID = old.ID
	if id := c.ident; id != nil && id.ID == m.ID {
		if id.Name != "" {
			m.Name = id.Name
		}
		if len(id.Info) > 0 {
			m.Info = id.Info
		}
	}
	if m.Equal(old) {
		return nil
	}
	if h := e.opts.Hooks.BeforeMemberUpdate; h != nil && hooked {
		if err := veto(h(ctx, c, old, m), ErrUpdateDenied); err != nil {
			e.log.Debug("member update vetoed", "session", c.id, "err", err)
			return err
		}
	}
	member := &m
	joined := c.member != nil
	c.view.Lock()
	if joined {
		c.member = member
	}
	for i := range c.subs {
		if s := &c.subs[i]; s.member != nil && s.member.ID == m.ID {
			s.member = member
		}
	}
	c.view.Unlock()
	for _, s := range c.subs {
		if s.member == member {
			e.updateIn(s.channel, c, member)
		}
	}
	if joined {
		e.updateIn(Everyone, c, member)
	}
	if f := e.opts.Events.OnMemberUpdate; f != nil {
		f(c, m)
	}
	return nil
}

// updateIn records c's entry in channel as m, replicates it, and tells the
// channel's subscribers. c.mu must be held.
func (e *Engine) updateIn(channel string, c *Conn, m *Member) {
	ch, _ := e.lock(channel, false)
	if ch == nil {
		return
	}
	version := ch.version
	before, _, _ := ch.add("", c.id, m)
	var o outcome
	if before != nil {
		o.ds = e.updated(ch, before, m, c)
		e.broker.Replicate(Change{Op: OpAdd, Conn: c.id, Channel: ch.name, Member: *m})
	}
	if ch.version != version {
		o.ds, _ = e.paced(ch, o.ds, false)
	}
	e.commit(ch, o)
}

// updated returns the deliveries that tell ch's subscribers that member
// before is now m, advancing the channel's version. c is the connection
// that made the change here (nil: another node), which hears it whatever
// its mode. c.mu (if c) and ch.mu must be held.
func (e *Engine) updated(ch *channel, before, m *Member, c *Conn) []delivery {
	ch.touch(m.ID, before, m)
	var self *Conn
	if c != nil && e.modeIn(ch, c) != ModeEvents {
		self = c
	}
	switch {
	case ch != e.everyone:
		return []delivery{{op: deliverAll, to: toEvents, self: self, ev: &Event{Kind: KindUpdateChannelMember, Member: *m, Channel: ch.name}}}
	case e.opts.MemberEvents == MemberEventsAll:
		return []delivery{{op: deliverAll, to: toEvents, self: self, ev: &Event{Kind: KindUpdateMember, Member: *m}}}
	case c != nil:
		return []delivery{{op: deliverOne, conn: c, ev: &Event{Kind: KindUpdateMember, Member: *m}}}
	}
	return nil
}

// paced adds to ds the diff and the count that are due now that the
// channel's members changed (and their count, when counting), and reports
// whether it added a count. ch.mu must be held.
func (e *Engine) paced(ch *channel, ds []delivery, counting bool) (_ []delivery, counted bool) {
	if d, ok := e.diffDue(ch); ok {
		ds = append(ds, d)
	}
	if counting {
		if d, ok := e.countDue(ch); ok {
			ds = append(ds, d)
			counted = true
		}
	}
	return ds, counted
}

// UpdateMember changes the name and info of member id on every connection
// of this node that is present as it (Update on each), for the server's
// own use (the HTTP API); no hook runs. It returns ErrMemberNotExists when
// no connection of this node is.
func (e *Engine) UpdateMember(ctx context.Context, id string, m Member) error {
	e.connMu.RLock()
	var conns []*Conn
	for _, c := range e.conns {
		c.view.RLock()
		if (c.member != nil && c.member.ID == id) || slices.ContainsFunc(c.subs, func(s subscription) bool { return s.member != nil && s.member.ID == id }) {
			conns = append(conns, c)
		}
		c.view.RUnlock()
	}
	e.connMu.RUnlock()
	if len(conns) == 0 {
		return ErrMemberNotExists
	}
	m.ID = id
	for _, c := range conns {
		if err := e.update(ctx, c, m, false); err != nil {
			return err
		}
	}
	return nil
}
