package pusherwire

// ProtocolVersion is the protocol version this package speaks; pusher-js sends
// it as the protocol query parameter of the WebSocket URL (§1.1).
const ProtocolVersion = 7

// Error and close codes (§1.5). The same number is used as the code of a
// pusher:error message and as the WebSocket close code; pusher-js decides how
// to reconnect from the close code alone (see [CloseActionFor]).
const (
	// CodeSSLOnly: the application accepts TLS connections only; pusher-js
	// switches to TLS and retries at once.
	CodeSSLOnly = 4000
	// CodeAppNotFound: no application has the key in the URL.
	CodeAppNotFound = 4001
	// CodeAppDisabled: the application exists but is disabled.
	CodeAppDisabled = 4003
	// CodeOverQuota: the application is over its connection quota (Reverb
	// uses it when max_connections is reached).
	CodeOverQuota = 4004
	// CodePathNotFound: the WebSocket path is not /app/{key}.
	CodePathNotFound = 4005
	// CodeInvalidVersion: the protocol query parameter is not a version number.
	CodeInvalidVersion = 4006
	// CodeUnsupportedProtocol: the protocol version is not supported.
	CodeUnsupportedProtocol = 4007
	// CodeNoProtocol: the protocol query parameter is missing.
	CodeNoProtocol = 4008
	// CodeUnauthorized: the connection is unauthorized (bad signature, failed
	// or late sign-in, terminated user, bad origin).
	CodeUnauthorized = 4009
	// CodeOverCapacity: the server is over capacity; pusher-js retries after
	// a back-off (soketi uses it when an app's connection limit is reached).
	CodeOverCapacity = 4100
	// CodeReconnect: generic "reconnect now" (server shutting down, or
	// Reverb's "Invalid message format" error without a close).
	CodeReconnect = 4200
	// CodePongNotReceived: the server pinged and no pong came back.
	CodePongNotReceived = 4201
	// CodeInactivity: the connection was closed after a period of inactivity.
	CodeInactivity = 4202
	// CodeClientEventRejected: a client event was rejected (disabled, rate
	// limit, too large, bad name); sent as pusher:error without a close.
	CodeClientEventRejected = 4301
	// CodeWatchlistLimit: the sign-in watchlist has more than 100 user ids.
	CodeWatchlistLimit = 4302
)

// CodeText returns the meaning of a code of §1.5, or "" for a code this package
// does not know.
func CodeText(code int) string {
	switch code {
	case CodeSSLOnly:
		return "SSL only"
	case CodeAppNotFound:
		return "Application does not exist"
	case CodeAppDisabled:
		return "Application disabled"
	case CodeOverQuota:
		return "Application is over connection quota"
	case CodePathNotFound:
		return "Path not found"
	case CodeInvalidVersion:
		return "Invalid version string format"
	case CodeUnsupportedProtocol:
		return "Unsupported protocol version"
	case CodeNoProtocol:
		return "No protocol version supplied"
	case CodeUnauthorized:
		return "Connection is unauthorized"
	case CodeOverCapacity:
		return "Over capacity"
	case CodeReconnect:
		return "Generic reconnect immediately"
	case CodePongNotReceived:
		return "Pong reply not received"
	case CodeInactivity:
		return "Closed after inactivity"
	case CodeClientEventRejected:
		return "Client event rejected due to rate limit"
	case CodeWatchlistLimit:
		return "Watchlist limit exceeded"
	}
	return ""
}

// CloseAction is what pusher-js does when its socket is closed with a code.
type CloseAction uint8

const (
	// CloseActionDefault: no special handling; a client that was connected
	// retries after about a second.
	CloseActionDefault CloseAction = iota
	// CloseActionBackoff: retry after a back-off (1002–1004, 4100–4199).
	CloseActionBackoff
	// CloseActionTLSOnly: switch to TLS and retry at once (4000).
	CloseActionTLSOnly
	// CloseActionRefused: give up; the state becomes "disconnected" and there
	// is no retry (4001–4099, 4300 and up).
	CloseActionRefused
	// CloseActionRetry: reconnect at once (4200–4299).
	CloseActionRetry
)

// String returns a short name of the action.
func (a CloseAction) String() string {
	switch a {
	case CloseActionBackoff:
		return "backoff"
	case CloseActionTLSOnly:
		return "tls_only"
	case CloseActionRefused:
		return "refused"
	case CloseActionRetry:
		return "retry"
	}
	return "default"
}

// CloseActionFor returns how pusher-js reacts to a WebSocket close code (the
// table of §1.5). A server picks its close codes with this in mind: 4200 for a
// shutdown (clients come straight back), 4100 for "try later", 4009 for "do
// not come back".
func CloseActionFor(code int) CloseAction {
	switch {
	case code >= 1002 && code <= 1004:
		return CloseActionBackoff
	case code < 4000:
		return CloseActionDefault
	case code == 4000:
		return CloseActionTLSOnly
	case code < 4100:
		return CloseActionRefused
	case code < 4200:
		return CloseActionBackoff
	case code < 4300:
		return CloseActionRetry
	}
	return CloseActionRefused
}

// CheckProtocol checks the protocol query parameter of the WebSocket URL the
// way Pusher does (§1.1): it returns 0 when v is "7", [CodeNoProtocol] when v is
// empty, [CodeInvalidVersion] when v is not a decimal number and
// [CodeUnsupportedProtocol] for any other version. soketi and Reverb check
// nothing, so an adapter may choose to ignore the result.
func CheckProtocol(v string) int {
	if v == "" {
		return CodeNoProtocol
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return CodeInvalidVersion
		}
	}
	if v != "7" {
		return CodeUnsupportedProtocol
	}
	return 0
}
