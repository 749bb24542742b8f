package pusher

import (
	"context"
	"strconv"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// Reserved reports whether an engine channel name belongs to a Pusher app
// whatever the apps are: a channel of a non-default app ("app-<id>:…"), or
// a user channel ("#server-to-user-…"; every name starting with "#" is
// refused to Pusher clients too).
func Reserved(channel string) bool {
	return isAppPrefixed(channel) || (len(channel) > 0 && channel[0] == '#')
}

// ForeignIDs reports the engine channels whose member ids are a
// non-default app's own (presence.Options.ForeignIDs): the default app's
// user ids and the sgc member ids are one namespace, the other apps'
// each their own.
func ForeignIDs(channel string) bool { return isAppPrefixed(channel) }

// ReservedReason returns, for an engine channel that only Pusher's
// authorization opens, why (the text an sgc client is refused with), and ""
// for a channel any client may use. Besides Reserved's channels, those
// are, when there is a default app, its private, encrypted and presence
// channels and their cache variants.
func (h *Handler) ReservedReason(channel string) string {
	q := strconv.Quote(channel)
	switch {
	case isAppPrefixed(channel):
		return "channel " + q + " belongs to a Pusher app"
	case len(channel) > 0 && channel[0] == '#':
		return "channel " + q + " is a Pusher user channel: only the signed-in Pusher user receives it"
	case h.def == nil:
		return ""
	}
	switch pusherwire.ClassifyChannel(channel).Kind {
	case pusherwire.Private:
		return "channel " + q + " is a Pusher private channel: it needs Pusher's authorization"
	case pusherwire.PrivateEncrypted:
		return "channel " + q + " is a Pusher encrypted channel: it needs Pusher's authorization"
	case pusherwire.Presence:
		return "channel " + q + " is a Pusher presence channel: it needs Pusher's authorization"
	}
	return ""
}

// Owns reports whether c is one of this handler's connections.
func (h *Handler) Owns(c *presence.Conn) bool {
	s, ok := c.Sink().(*session)
	return ok && s.h == h
}

// SgcAccess decides whether an sgc connection (any that is not this
// handler's) may use a channel that ReservedReason names: Config.SgcChannels
// let authenticated ones in, then Config.AuthorizeSgc decides. It returns
// nil to allow, or a *presence.Error with the reason as its text.
func (h *Handler) SgcAccess(ctx context.Context, c *presence.Conn, channel string, a presence.Access) error {
	why := h.ReservedReason(channel)
	if why == "" || h.Owns(c) {
		return nil
	}
	if _, ok := c.Identity(); ok && h.sgcChannels(channel) {
		return nil
	}
	if f := h.cfg.AuthorizeSgc; f != nil {
		err := f(ctx, c, channel, a)
		if err == nil {
			return nil
		}
		if _, ok := err.(*presence.Error); ok {
			return err
		}
	}
	return &presence.Error{Text: why}
}
