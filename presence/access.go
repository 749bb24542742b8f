package presence

import "context"

// Access is what a connection asks of a named channel, for
// Hooks.BeforeChannelAccess.
type Access uint8

const (
	// AccessSubscribe is a subscription (Subscribe, SubscribeWith).
	AccessSubscribe Access = iota
	// AccessMembers is a member list (SendMembers).
	AccessMembers
	// AccessPublish is a publish (Publish, PublishMessage).
	AccessPublish
)

// String returns "subscribe", "members" or "publish".
func (a Access) String() string {
	switch a {
	case AccessMembers:
		return "members"
	case AccessPublish:
		return "publish"
	}
	return "subscribe"
}

// reason is the refusal of a vetoed access.
func (a Access) reason() Reason {
	switch a {
	case AccessMembers:
		return ErrSendMembersDenied
	case AccessPublish:
		return ErrPublishDenied
	}
	return ErrSubscriptionDenied
}

// checkAccess runs Hooks.BeforeChannelAccess for a named channel (never
// for "", everyone). c.mu is held.
func (e *Engine) checkAccess(ctx context.Context, c *Conn, channel string, a Access) error {
	h := e.opts.Hooks.BeforeChannelAccess
	if h == nil || channel == "" {
		return nil
	}
	if err := veto(h(ctx, c, channel, a), a.reason()); err != nil {
		e.log.Debug("channel access vetoed", "session", c.id, "channel", channel, "access", a.String(), "err", err)
		return err
	}
	return nil
}
