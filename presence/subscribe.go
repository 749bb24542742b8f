package presence

import (
	"context"
	"slices"
)

// Subscription says how SubscribeWith subscribes a connection.
type Subscription struct {
	// Member is who the connection is present as in the channel. Nil
	// subscribes without presence: the connection receives the channel's
	// events but is no member of it (a Pusher public or private channel).
	Member *Member
	// Members delivers the channel's members to the connection (a
	// KindMembers event) right after it subscribed, in order with the
	// channel's events: the list reflects exactly the joins and leaves
	// delivered before it. (A ModeDiffs connection gets its KindList
	// whether or not it asks.)
	Members bool
	// Counts makes the subscription ModeCounts: the connection hears the
	// channel's member count instead of its member events, lists and
	// diffs (it is still told of its own entering and leaving).
	Counts bool
}

// Subscribe adds c's member to a channel, creating the channel if needed,
// and tells the channel's subscribers, c included. c must have joined.
//
// Channel "" is everyone, as in Publish and SendMembers, and every member
// is in it from its join: subscribing to it (sgc's server accepts
// subscribe("")) changes nothing, runs no hook, and is answered to c alone
// with a KindNewChannelMember of c's member, as many times as it is asked.
func (e *Engine) Subscribe(ctx context.Context, c *Conn, channel string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := e.checkMember(c); err != nil {
		return err
	}
	if channel == "" {
		e.answerEveryone(c, KindNewChannelMember)
		return nil
	}
	return e.subscribe(ctx, c, channel, *c.member, Subscription{Member: c.member})
}

// SubscribeWith subscribes c to a channel as s says, whether or not c has
// joined; the hooks see s.Member (or c's joined member, or an empty one).
// A Member whose id another connection joined as (Join) is refused with
// ErrMemberExists: ids are one namespace, whoever holds them.
// A Member with an empty id is refused with ErrNotOwnMember: an entry
// without a member id is how a subscription without presence is
// replicated.
func (e *Engine) SubscribeWith(ctx context.Context, c *Conn, channel string, s Subscription) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	var who Member
	switch {
	case s.Member != nil && s.Member.ID == "":
		return ErrNotOwnMember
	case s.Member != nil:
		cp := *s.Member
		s.Member, who = &cp, cp
	case c.member != nil:
		who = *c.member
	}
	return e.subscribe(ctx, c, channel, who, s)
}

// subscribe runs with c.mu held.
func (e *Engine) subscribe(ctx context.Context, c *Conn, name string, who Member, s Subscription) error {
	if err := e.checkChannelName(name); err != nil {
		return err
	}
	if err := e.checkAccess(ctx, c, name, AccessSubscribe); err != nil {
		return err
	}
	if c.subscribed(name) {
		return ErrSubscriptionExists
	}
	if len(c.subs) >= e.opts.MaxChannelsPerConn {
		return ErrTooManyChannels
	}
	askNewChannel := func() error {
		err := veto(e.opts.Hooks.BeforeNewChannel(ctx, c, name, who), ErrChannelDenied)
		if err != nil {
			e.log.Debug("new channel vetoed", "session", c.id, "channel", name, "err", err)
		}
		return err
	}
	guarded := e.opts.Hooks.BeforeNewChannel != nil
	asked := false
	if guarded && e.lookup(name) == nil {
		if err := askNewChannel(); err != nil {
			return err
		}
		asked = true
	}
	if h := e.opts.Hooks.BeforeNewChannelMember; h != nil {
		if err := veto(h(ctx, c, name, who), ErrSubscriptionDenied); err != nil {
			e.log.Debug("subscription vetoed", "session", c.id, "channel", name, "err", err)
			return err
		}
	}
	var ch *channel
	created := false
	for {
		// A channel that existed when we looked but was freed while the
		// hooks ran needs BeforeNewChannel's consent to be created anew.
		if ch, created = e.lock(name, asked || !guarded); ch != nil {
			break
		}
		if err := askNewChannel(); err != nil {
			return err
		}
		asked = true
	}
	if m := s.Member; m != nil {
		if max := e.opts.MaxMembersPerChannel; max > 0 && !ch.has(m.ID) && len(ch.members) >= max {
			e.freeIfEmpty(ch)
			ch.mu.Unlock()
			return ErrChannelFull
		}
	}
	// One namespace of ids: a member id that another connection joined as
	// is not free for a presence entry. Everyone stays read-locked until
	// the entry is counted, so that a Join of the same id either sees it
	// or is seen.
	guardID := s.Member != nil && (c.member == nil || c.member.ID != s.Member.ID) && e.sharesIDs(ch)
	if guardID {
		e.everyone.mu.RLock()
		if e.everyone.has(s.Member.ID) {
			e.everyone.mu.RUnlock()
			e.freeIfEmpty(ch)
			ch.mu.Unlock()
			return ErrMemberExists
		}
	}
	mode := c.mode
	if s.Counts {
		mode = ModeCounts
	}
	c.addSub(subscription{channel: name, member: s.Member, mode: mode})
	var list delivery
	if mode == ModeDiffs {
		// The list the next diff applies to, taken before this change.
		list = ch.listFor(c, who)
	}
	o := e.change(ch, "", OpAdd, c.id, s.Member, c, OriginLocal)
	if guardID {
		e.everyone.mu.RUnlock()
	}
	if mode == ModeDiffs {
		o.ds = slices.Insert(o.ds, 1, list) // right after the subscriber
	}
	if s.Members {
		list := ch.memberList()
		o.ds = append(o.ds, delivery{op: deliverOne, conn: c,
			ev: &Event{Kind: KindMembers, Member: who, Channel: name, Members: list.Members, List: list}})
	}
	e.commit(ch, o)
	if f := e.opts.Events.OnNewChannel; created && f != nil {
		f(name)
	}
	if f := e.opts.Events.OnNewChannelMember; f != nil && s.Member != nil {
		f(c, name, *s.Member)
	}
	return nil
}

// Unsubscribe removes c from a channel. As in sgc, every member of the
// server hears of it, not only the channel's; with MemberEventsSelf only the
// channel's remaining subscribers and c do. Channel "" is everyone, which
// only a leave takes a member out of: unsubscribing from it changes
// nothing and is answered to c alone (see Subscribe).
func (e *Engine) Unsubscribe(ctx context.Context, c *Conn, channel string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.member == nil && len(c.subs) == 0 {
		return ErrMemberNotExists
	}
	if channel == "" {
		// Everyone: only a leave takes a member out of it (see Subscribe).
		if c.member == nil {
			return ErrMemberNotExists
		}
		e.answerEveryone(c, KindRemoveChannelMember)
		return nil
	}
	if e.lookup(channel) == nil || channel == Everyone {
		return ErrChannelNotExists
	}
	i := c.subIndex(channel)
	if i < 0 {
		return ErrSubscriptionNotExist
	}
	e.unsubscribe(c, c.subs[i], OpUnsubscribe)
	return nil
}

// unsubscribe takes c out of the channel of s, as op says (OpUnsubscribe,
// or OpRemove when the member leaves). It runs with c.mu held.
func (e *Engine) unsubscribe(c *Conn, s subscription, op Op) {
	ch, _ := e.lock(s.channel, false)
	if ch == nil {
		c.dropSub(s.channel)
		return // cannot happen: a subscriber keeps its channel alive
	}
	freed := e.commit(ch, e.change(ch, "", op, c.id, s.member, c, OriginLocal))
	if f := e.opts.Events.OnRemoveChannelMember; f != nil && s.member != nil {
		f(c, s.channel, *s.member)
	}
	if f := e.opts.Events.OnRemoveChannel; freed && f != nil {
		f(s.channel)
	}
}

// answerEveryone tells c alone that its member entered (kind
// KindNewChannelMember) or left (KindRemoveChannelMember) channel "",
// everyone, which changes nothing: in order with Everyone's events. It
// runs with c.mu held and c joined.
func (e *Engine) answerEveryone(c *Conn, kind Kind) {
	ch := e.rlock(Everyone)
	t := ch.out.push(delivery{op: deliverOne, conn: c, ev: &Event{Kind: kind, Member: *c.member}})
	ch.mu.RUnlock()
	ch.out.flush(t)
}
