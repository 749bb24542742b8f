package presence

import "context"

// Invite sends an invitation to a channel from c's member to each of the
// invitees (member ids), wherever they are connected, once to each however
// often it is named. The invitation
// carries c's stored identity. Unknown invitees are skipped and reported
// with ErrMemberNotExists after the known ones were invited.
func (e *Engine) Invite(ctx context.Context, c *Conn, channel string, invitees []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := e.checkMember(c); err != nil {
		return err
	}
	if err := e.checkChannelName(channel); err != nil {
		return err
	}
	ev := &Event{Kind: KindInvitation, Member: *c.member, Channel: channel}
	var missing error
	seen := make(map[string]struct{}, len(invitees))
	for _, id := range invitees {
		if _, dup := seen[id]; dup {
			continue // one invitation per invitee, however often named
		}
		seen[id] = struct{}{}
		if _, ok := e.sendToMember(id, ev); !ok {
			missing = ErrMemberNotExists
		}
	}
	return missing
}

// RespondInvitation answers an invitation c received from inviterID to
// channel; refusal nil means accepted. The inviter receives a
// KindInvitationResponse with c's stored identity. Accepting does not
// subscribe: the invitee subscribes itself.
func (e *Engine) RespondInvitation(ctx context.Context, c *Conn, channel, inviterID string, refusal *Error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := e.checkMember(c); err != nil {
		return err
	}
	if !c.takeInvitation(invitation{channel: channel, inviter: inviterID}) {
		return ErrNoInvitation
	}
	if refusal != nil && refusal.Reason == "" {
		cp := *refusal
		cp.Reason, refusal = ErrInvitationDeclined, &cp
	}
	ev := &Event{Kind: KindInvitationResponse, Member: *c.member, Channel: channel, Err: refusal}
	if _, ok := e.sendToMember(inviterID, ev); !ok {
		return ErrMemberNotExists
	}
	return nil
}

// sendToMember delivers ev to the connection of member id, on this node or
// through the broker, and reports whether the member is present. An
// invitation response names the inviter in Members.
func (e *Engine) sendToMember(id string, ev *Event) (Member, bool) {
	ch := e.everyone
	ch.mu.RLock()
	p := ch.find(id)
	var ref entryRef
	var m Member
	if p != nil {
		ref, m = p.first, *p.member
	}
	ch.mu.RUnlock()
	if p == nil {
		return Member{}, false
	}
	if ev.Kind == KindInvitationResponse {
		ev.Members = []Member{m} // ev is this call's own, not shared yet
	}
	if ref.node == "" {
		e.deliverTo(ref.conn, ev)
	} else {
		e.broker.SendTo(ref.node, ref.conn, ev)
	}
	return m, true
}

// deliverTo hands ev to this node's connection conn, recording an
// invitation first so that the invitee can answer it.
func (e *Engine) deliverTo(conn string, ev *Event) {
	switch ev.Kind {
	case KindClaim:
		e.answerClaim(conn, ev)
		return
	case KindClaimAnswer:
		e.claimAnswered(conn, ev)
		return
	}
	c := e.conn(conn)
	if c == nil {
		return
	}
	if ev.Kind == KindInvitation {
		c.addInvitation(invitation{channel: ev.Channel, inviter: ev.Member.ID}, e.opts.MaxInvitations)
	}
	c.sink.Deliver(ev)
}
