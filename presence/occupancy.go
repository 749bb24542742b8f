package presence

// Origin says whose change the engine applied.
type Origin uint8

// Origins of a change.
const (
	// OriginLocal: a connection of this node made it.
	OriginLocal Origin = iota
	// OriginReplica: another node made it; it reached this node's replica
	// through the broker (Receiver.Apply, or Receiver.Sync after a gap).
	OriginReplica
	// OriginForgotten: another node's entries were dropped because it
	// died or left (Receiver.Forget); nobody made the change, so every
	// surviving node sees it alike.
	OriginForgotten
)

// String names the origin.
func (o Origin) String() string {
	switch o {
	case OriginReplica:
		return "replica"
	case OriginForgotten:
		return "forgotten"
	}
	return "local"
}

// OccupancyFunc hears that a channel became occupied (its first
// subscription on any node) or vacated (its last one is gone), as this
// node's replica sees it, and whose change made it so. It is called with
// the channel's lock held, in the order of the channel's changes: it must
// not block and must not call the engine, nor the broker (a Forget comes
// with the broker's own locks held).
type OccupancyFunc func(channel string, occupied bool, from Origin)

// OnOccupancy sets the function that hears every channel's occupancy
// transitions, counted over the subscriptions of every node, with
// presence or without (nil: nobody). Every node sees every transition; a
// caller that must act once per cluster (a Pusher webhook) acts on
// OriginLocal, and on OriginForgotten on one node agreed on. Everyone, the
// channel of server-wide membership, has no occupancy.
func (e *Engine) OnOccupancy(f OccupancyFunc) {
	if f == nil {
		e.occupancy.Store(nil)
		return
	}
	e.occupancy.Store(&f)
}

// SubscriptionsFunc hears that a channel's subscriptions, counted over
// every node with presence or without (Subscriptions), became n, as this
// node's replica sees it, and whose change made it so. As OccupancyFunc, it
// is called with the channel's lock held, in the order of the channel's
// changes: it must not block and must not call the engine, nor the broker.
type SubscriptionsFunc func(channel string, n int, from Origin)

// OnSubscriptions sets the function that hears every change of a channel's
// subscription count (Everyone aside), whichever node made it (nil:
// nobody). It is called before OnOccupancy's function for the same change.
// As with OnOccupancy, every node hears every change: a caller that must
// act once per cluster acts on OriginLocal, and on OriginForgotten on one
// node agreed on.
func (e *Engine) OnSubscriptions(f SubscriptionsFunc) {
	if f == nil {
		e.subCount.Store(nil)
		return
	}
	e.subCount.Store(&f)
}

// MemberLeftFunc hears that a member left a channel (its last entry on
// any node is gone), as this node's replica sees it, and whose change made
// it so; as OccupancyFunc, with the channel's lock held.
type MemberLeftFunc func(channel string, m Member, from Origin)

// OnMemberLeft sets the function that hears every member leaving a channel
// (Everyone aside), whichever node it was on (nil: nobody). As with
// OnOccupancy, every node hears every leave: a member of a dead node
// leaves on every survivor, as OriginForgotten.
func (e *Engine) OnMemberLeft(f MemberLeftFunc) {
	if f == nil {
		e.memberLeft.Store(nil)
		return
	}
	e.memberLeft.Store(&f)
}

// Subscriptions returns how many connections are subscribed to a channel,
// over every node, with presence or without (0 when it does not exist).
func (e *Engine) Subscriptions(channel string) int {
	ch := e.rlock(channel)
	if ch == nil {
		return 0
	}
	defer ch.mu.RUnlock()
	return ch.subscriptions()
}
