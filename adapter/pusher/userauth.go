package pusher

import (
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// Authorized connections (App.UserAuthenticationTimeout): a socket must
// sign in, or subscribe to a private or presence channel (which the app's
// server authorized too), within the timeout, or it is closed with 4009,
// which pusher-js does not retry. Public channels do not count: anyone may
// enter them.

// startAuthDeadline arms the timeout of an app that sets one. It runs
// before the socket reads its first frame.
func (s *session) startAuthDeadline() {
	if d := s.app.UserAuthenticationTimeout; d > 0 {
		s.authTimer = time.AfterFunc(d, s.authExpired)
	}
}

// authorized records that the socket signed in or made an authorized
// subscription: the timeout no longer applies.
func (s *session) authorized() {
	if s.authed.Swap(true) || s.authTimer == nil {
		return
	}
	s.authTimer.Stop()
}

// stopAuthDeadline disarms the timeout of an ended socket.
func (s *session) stopAuthDeadline() {
	if s.authTimer != nil {
		s.authTimer.Stop()
	}
}

func (s *session) authExpired() {
	if s.authed.Load() {
		return
	}
	msg := "Connection not authorized within " + s.app.UserAuthenticationTimeout.String() + ": sign in, or subscribe to a private or presence channel"
	s.sendError(pusherwire.CodeUnauthorized, msg)
	s.tc.Close(ws.StatusCode(pusherwire.CodeUnauthorized), "not authorized in time")
}
