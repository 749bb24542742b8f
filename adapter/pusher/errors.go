package pusher

import (
	"errors"
	"strconv"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// protocolName names Pusher in the error metrics.
const protocolName = "pusher"

// The metrics' reasons of Pusher's own subscription errors; an engine
// refusal is named by its presence.Reason.
const (
	reasonAuth  = "auth_error"    // AuthError: a bad signature or a missing signin
	reasonLimit = "limit_reached" // LimitReached: user_info too large
)

// errorReasons names, for the metrics, the pusher:error codes a session
// sends (the codes of protocol/pusherwire) by what it sends them for.
var errorReasons = map[int]string{
	pusherwire.CodeUnauthorized:        "unauthorized",
	pusherwire.CodeReconnect:           "invalid_message",
	pusherwire.CodeClientEventRejected: "client_event_rejected",
	pusherwire.CodeWatchlistLimit:      "watchlist_limit",
}

// errorReason names a pusher:error code for the metrics.
func errorReason(code int) string {
	if r, ok := errorReasons[code]; ok {
		return r
	}
	return "code_" + strconv.Itoa(code)
}

// refusalReason names an engine refusal for the metrics: its
// presence.Reason, or "refused" for an error that carries none.
func refusalReason(err error) string {
	var pe *presence.Error
	if errors.As(err, &pe) {
		return string(pe.Reason)
	}
	var r presence.Reason
	if errors.As(err, &r) {
		return string(r)
	}
	return "refused"
}
