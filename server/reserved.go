package server

import (
	"context"
	"errors"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/presence"
)

// guardReserved sets the engine up for Pusher apps: the channels only
// Pusher's authorization opens (pusher.Handler.ReservedReason) are refused
// to sgc clients unless PusherOptions.SgcChannels or AuthorizeSgc let them
// in, for subscribe, member list and publish alike, each refused with the
// step's reason and a text naming why; and the member ids of non-default
// apps are their own namespace. Without Pusher apps nothing is reserved.
func (s *Server) guardReserved(popts *presence.Options) error {
	if len(s.opts.Pusher.Apps) == 0 {
		return nil
	}
	if len(s.opts.Pusher.SgcChannels) > 0 && !s.opts.Auth.enabled() {
		return errors.New("server: sgc access to Pusher's reserved channels (SgcChannels) is for authenticated sgc clients: turn on Auth, or decide in AuthorizeSgc")
	}
	next := popts.Hooks.BeforeChannelAccess
	popts.Hooks.BeforeChannelAccess = func(ctx context.Context, c *presence.Conn, channel string, a presence.Access) error {
		if h := s.pusher; h != nil {
			if err := h.SgcAccess(ctx, c, channel, a); err != nil {
				return err
			}
		}
		if next != nil {
			return next(ctx, c, channel, a)
		}
		return nil
	}
	popts.ForeignIDs = pusher.ForeignIDs
	return nil
}
