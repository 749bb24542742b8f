package presence

import "context"

// Message is what PublishMessage and BroadcastMessage send: an optional
// event name, the data, and a connection not to deliver to.
type Message struct {
	Name   string // the event's name (Pusher); "" for sgc messages
	Data   []byte
	Except string // session id of a connection that must not receive it
}

// Publish sends text from c's member to a channel's subscribers (c
// included), or to every member when channel is "".
func (e *Engine) Publish(ctx context.Context, c *Conn, channel, text string) error {
	return e.PublishMessage(ctx, c, channel, Message{Data: []byte(text)})
}

// PublishMessage sends msg from c to a channel c is subscribed to (or, for
// a joined connection, to every member when channel is ""). The event
// carries c's member in the channel (or its joined member).
func (e *Engine) PublishMessage(ctx context.Context, c *Conn, channel string, msg Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	var from Member
	if c.member != nil {
		from = *c.member
	}
	if channel == "" {
		if c.member == nil {
			return ErrMemberNotExists
		}
	} else {
		if c.member == nil && len(c.subs) == 0 {
			return ErrMemberNotExists
		}
		if err := e.checkAccess(ctx, c, channel, AccessPublish); err != nil {
			return err
		}
		if e.lookup(channel) == nil {
			return ErrChannelNotExists
		}
		i := c.subIndex(channel)
		if i < 0 {
			return ErrSubscriptionNotExist
		}
		if m := c.subs[i].member; m != nil {
			from = *m
		}
	}
	if h := e.opts.Hooks.BeforePublish; h != nil {
		if err := veto(h(ctx, c, channel, from, string(msg.Data)), ErrPublishDenied); err != nil {
			e.log.Debug("publish vetoed", "session", c.id, "channel", channel, "err", err)
			return err
		}
	}
	ev := &Event{Kind: KindPublish, Member: from, Channel: channel, Name: msg.Name, Data: msg.Data, Except: msg.Except}
	if err := e.publish(channel, ev); err != nil {
		return err
	}
	if f := e.opts.Events.OnPublish; f != nil {
		f(c, channel, from, string(msg.Data))
	}
	return nil
}

// Broadcast sends text from the server, with an empty member, to a
// channel's subscribers or, when channel is "", to every member. It fails
// with ErrChannelNotExists for an unknown channel.
func (e *Engine) Broadcast(ctx context.Context, channel, text string) error {
	return e.BroadcastMessage(ctx, channel, Message{Data: []byte(text)})
}

// BroadcastMessage is Broadcast for a named event with raw data and an
// optional connection to leave out.
func (e *Engine) BroadcastMessage(ctx context.Context, channel string, msg Message) error {
	ev := &Event{Kind: KindPublish, Channel: channel, Name: msg.Name, Data: msg.Data, Except: msg.Except}
	if err := e.publish(channel, ev); err != nil {
		return err
	}
	if f := e.opts.Events.OnPublish; f != nil {
		f(nil, channel, Member{}, string(msg.Data))
	}
	return nil
}

// Terminate asks every node to end the connections subscribed to a
// channel: each subscriber receives a KindTerminate event, and its protocol
// closes it (a Pusher user's channel: terminate_connections). It fails
// with ErrChannelNotExists when nobody on any node is subscribed. Like a
// publish, it is at most once across the broker.
func (e *Engine) Terminate(channel string) error {
	if channel == "" || channel == Everyone {
		return ErrInvalidChannel
	}
	return e.publish(channel, &Event{Kind: KindTerminate, Channel: channel})
}

// publish delivers ev to the local subscribers of channel ("" =
// Everyone) and hands it to the broker for the other nodes.
func (e *Engine) publish(channel string, ev *Event) error {
	name := scope(channel)
	ch := e.rlock(name)
	if ch == nil {
		return ErrChannelNotExists
	}
	t := ch.out.push(delivery{op: deliverAll, ev: ev})
	ch.mu.RUnlock()
	e.broker.Publish(name, ev)
	ch.out.flush(t)
	return nil
}

// SendMembers delivers to c the members of a channel, or every member when
// channel is "", as a KindMembers event. The list is queued in order with
// the channel's events, so it never overtakes a join or leave that it
// reflects, nor is overtaken by one it does not.
func (e *Engine) SendMembers(ctx context.Context, c *Conn, channel string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := e.checkMember(c); err != nil {
		return err
	}
	if err := e.checkAccess(ctx, c, channel, AccessMembers); err != nil {
		return err
	}
	m := *c.member
	if h := e.opts.Hooks.BeforeSendMembers; h != nil {
		if err := veto(h(ctx, c, channel, m), ErrSendMembersDenied); err != nil {
			e.log.Debug("send members vetoed", "session", c.id, "channel", channel, "err", err)
			return err
		}
	}
	ch := e.rlock(scope(channel))
	if ch == nil {
		return ErrChannelNotExists
	}
	list := ch.memberList()
	ev := &Event{Kind: KindMembers, Member: m, Channel: channel, Members: list.Members, List: list}
	t := ch.out.push(delivery{op: deliverOne, conn: c, ev: ev})
	ch.mu.RUnlock()
	ch.out.flush(t)
	return nil
}
