package presence

// outcome is what one change of a channel's entries means for the local
// subscribers.
type outcome struct {
	ds []delivery // for the channel's outbox, in order
	// toAll is for every member of the server after ds were delivered,
	// leaving out those ds reached (toAll.record).
	toAll   *delivery
	entered bool    // the member's first entry in the channel
	left    bool    // its last entry is gone
	member  *Member // the member as present (removals)
	freed   bool    // the channel was freed
	counted bool    // a count to every ModeCounts subscriber is in ds
}

// change applies one change of ch's entries, made on node ("" = here) for
// connection conn as member m, and says what to deliver. For a change made
// here, c is the connection: it becomes, or stops being, a subscriber of ch
// too, and the change is replicated to the other nodes. ch.mu must be held;
// the caller queues o.ds to ch's outbox before releasing it.
//
// Who hears what (the sgc rules, the same on every node): a member entering
// or leaving a channel is told to the channel's subscribers; entering or
// leaving Everyone to every member with MemberEventsAll, and to the joiner
// alone with MemberEventsSelf; an unsubscribe to every member with
// MemberEventsAll (the channel's subscribers first), and to the channel's
// subscribers and the leaver with MemberEventsSelf.
//
// A nil m (or, from another node, a member with an empty id) is a
// subscription without presence: it counts among the channel's
// subscriptions (Subscriptions) and is replicated as an entry without a
// member, but no member enters or leaves.
func (e *Engine) change(ch *channel, node string, op Op, conn string, m *Member, c *Conn, from Origin) outcome {
	before := ch.subscriptions()
	var o outcome
	if m == nil || m.ID == "" {
		o = e.changeBare(ch, node, op, conn, c)
	} else {
		o = e.changeMember(ch, node, op, conn, m, c)
		if f := e.memberLeft.Load(); f != nil && o.left && ch != e.everyone {
			(*f)(ch.name, *o.member, from)
		}
	}
	if c != nil && op == OpAdd && e.modeIn(ch, c) == ModeCounts && !o.counted {
		// A new ModeCounts subscriber's first count, unless the count
		// that its own entry made due reaches it.
		o.ds = append(o.ds, delivery{op: deliverOne, conn: c, ev: ch.countEvent()})
	}
	if node == "" {
		chg := Change{Op: op, Conn: conn, Channel: ch.name}
		if m != nil {
			chg.Member = *m
		}
		e.broker.Replicate(chg)
	}
	if after := ch.subscriptions(); ch != e.everyone && before != after {
		if f := e.subCount.Load(); f != nil {
			(*f)(ch.name, after, from)
		}
		if f := e.occupancy.Load(); f != nil && (before == 0) != (after == 0) {
			(*f)(ch.name, after > 0, from)
		}
	}
	if o.toAll == nil {
		// (Otherwise commit frees it once every member was told.)
		o.freed = e.freeIfEmpty(ch)
	}
	return o
}

// changeBare is change for a subscription without presence.
func (e *Engine) changeBare(ch *channel, node string, op Op, conn string, c *Conn) outcome {
	var o outcome
	switch {
	case c != nil && op == OpAdd:
		o.ds = append(o.ds, e.subscribeLocal(ch, c))
	case c != nil:
		o.ds = append(o.ds, e.unsubscribeLocal(ch, c))
	case op == OpAdd:
		ch.addBare(entryRef{node, conn})
	default:
		ch.removeBare(entryRef{node, conn})
	}
	return o
}

// changeMember is change for a presence entry.
func (e *Engine) changeMember(ch *channel, node string, op Op, conn string, m *Member, c *Conn) outcome {
	// Room for the usual deliveries (the connection's subscribe or
	// unsubscribe, the event, a diff or count) in one allocation.
	o := outcome{ds: make([]delivery, 0, 3)}
	all := e.opts.MemberEvents == MemberEventsAll
	version := ch.version
	switch op {
	case OpAdd:
		var self *Conn // c, when it hears the others' changes otherwise
		if c != nil {
			o.ds = append(o.ds, e.subscribeLocal(ch, c))
			if e.modeIn(ch, c) != ModeEvents {
				self = c
			}
		}
		before, first, added := ch.add(node, conn, m)
		if added && node != "" {
			ch.remoteSubs++
		}
		switch {
		case first:
			o.entered = true
			ch.touch(m.ID, nil, m)
			if e.sharesIDs(ch) {
				e.held.add(m.ID, 1)
			}
			switch {
			case ch != e.everyone:
				o.ds = append(o.ds, delivery{op: deliverAll, to: toEvents, self: self, ev: &Event{Kind: KindNewChannelMember, Member: *m, Channel: ch.name}})
			case all:
				o.ds = append(o.ds, delivery{op: deliverAll, to: toEvents, self: self, ev: &Event{Kind: KindNewMember, Member: *m}})
			case c != nil:
				o.ds = append(o.ds, delivery{op: deliverOne, conn: c, ev: &Event{Kind: KindNewMember, Member: *m}})
			}
		case before != nil:
			// Another node's entry came again with a new name or info.
			o.ds = append(o.ds, e.updated(ch, before, m, nil)...)
		case added && c != nil && c.resumed() != nil && c.resumed().ID == m.ID:
			// A connection that took over a lost one's member, present
			// already: nobody hears of it but itself (its confirmation).
			kind := KindNewChannelMember
			if ch == e.everyone {
				kind = KindNewMember
			}
			o.ds = append(o.ds, delivery{op: deliverOne, conn: c, ev: &Event{Kind: kind, Member: *m, Channel: ch.wireName()}})
		}
	case OpRemove, OpUnsubscribe:
		if c != nil {
			o.ds = append(o.ds, e.unsubscribeLocal(ch, c))
		}
		present, found, last := ch.remove(node, conn, m.ID)
		if found && node != "" {
			ch.remoteSubs--
		}
		if last {
			o.left, o.member = true, present
			ch.touch(m.ID, present, nil)
			if e.sharesIDs(ch) {
				e.held.add(m.ID, -1)
			}
			switch {
			case ch == e.everyone:
				if all {
					o.ds = append(o.ds, delivery{op: deliverAll, to: toEvents, ev: &Event{Kind: KindRemoveMember, Member: *present}})
				}
			case op == OpUnsubscribe && all:
				// The channel's subscribers hear it in order with the
				// channel's other events and member lists; every other
				// member of the server hears it after them (the leaver
				// too, which is still a member: a ModeDiffs one as self).
				ev := &Event{Kind: KindRemoveChannelMember, Member: *present, Channel: ch.name}
				d := delivery{op: deliverAll, to: toEvents, ev: ev, record: make(map[*Conn]struct{})}
				o.ds = append(o.ds, d)
				o.toAll = &delivery{op: deliverAll, to: toEvents, ev: ev, skip: d.record}
				if c != nil && c.mode != ModeEvents {
					o.toAll.self = c
				}
			default:
				ev := &Event{Kind: KindRemoveChannelMember, Member: *present, Channel: ch.name}
				o.ds = append(o.ds, delivery{op: deliverAll, to: toEvents, ev: ev})
				if op == OpUnsubscribe && c != nil {
					o.ds = append(o.ds, delivery{op: deliverOne, conn: c, ev: ev})
				}
			}
		}
	}
	if ch.version != version {
		o.ds, o.counted = e.paced(ch, o.ds, o.entered || o.left)
	}
	return o
}

// commit queues o to ch's outbox, releases ch.mu and returns once every
// local subscriber was told, reporting whether the channel was freed. An
// unsubscribe told to every member keeps ch.mu, and the channel, until
// every member was told: nobody may subscribe to the channel, and then hear
// of the unsubscribe after the channel's member list, in between. (The
// outboxes' runners take no channel lock, so holding one while waiting for
// them cannot deadlock.)
func (e *Engine) commit(ch *channel, o outcome) (freed bool) {
	t := ch.out.push(o.ds...)
	if o.toAll == nil {
		ch.mu.Unlock()
		ch.out.flush(t)
		return o.freed
	}
	ch.out.flush(t)
	e.everyone.out.flush(e.everyone.out.push(*o.toAll))
	freed = e.freeIfEmpty(ch)
	ch.mu.Unlock()
	return freed
}
