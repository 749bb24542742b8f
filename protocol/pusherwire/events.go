package pusherwire

import "strings"

// Event names of the protocol. Events a client sends start with "pusher:" (or
// "client-" for client events); events only a server sends start with
// "pusher:" or "pusher_internal:".
const (
	// EventConnectionEstablished is the server's first frame: socket_id and
	// activity_timeout (§1.3).
	EventConnectionEstablished = "pusher:connection_established"
	// EventError is a server error message: {code, message} (§1.5).
	EventError = "pusher:error"
	// EventPing is a keep-alive ping; either side may send it (§1.4).
	EventPing = "pusher:ping"
	// EventPong answers EventPing (§1.4).
	EventPong = "pusher:pong"
	// EventSubscribe is a client's subscription request (§2.2).
	EventSubscribe = "pusher:subscribe"
	// EventUnsubscribe is a client's unsubscription (§2.8).
	EventUnsubscribe = "pusher:unsubscribe"
	// EventSignin is a client's user authentication (§4).
	EventSignin = "pusher:signin"
	// EventSigninSuccess confirms EventSignin (§4).
	EventSigninSuccess = "pusher:signin_success"
	// EventSubscriptionError refuses a subscription, on the channel (§2.7).
	EventSubscriptionError = "pusher:subscription_error"
	// EventCacheMiss tells a new subscriber of a cache channel that nothing
	// is cached (§2.6).
	EventCacheMiss = "pusher:cache_miss"

	// EventSubscriptionSucceeded confirms a subscription; on presence
	// channels it carries the member list (§2.2, §2.4).
	EventSubscriptionSucceeded = "pusher_internal:subscription_succeeded"
	// EventMemberAdded announces a user's first subscription to a presence
	// channel (§2.4).
	EventMemberAdded = "pusher_internal:member_added"
	// EventMemberRemoved announces that a user's last subscription to a
	// presence channel is gone (§2.4).
	EventMemberRemoved = "pusher_internal:member_removed"
	// EventSubscriptionCount carries a non-presence channel's subscription
	// count (§2.9, optional).
	EventSubscriptionCount = "pusher_internal:subscription_count"
	// EventWatchlistEvents carries online/offline events of a signed-in
	// user's watchlist (§4, optional).
	EventWatchlistEvents = "pusher_internal:watchlist_events"
)

// Event name prefixes.
const (
	// PusherPrefix starts the protocol's own events.
	PusherPrefix = "pusher:"
	// InternalPrefix starts events only a server sends.
	InternalPrefix = "pusher_internal:"
	// ClientEventPrefix starts every client event (§3).
	ClientEventPrefix = "client-"
)

// DefaultMaxEventNameLength is the event name limit of the SDK and soketi (200).
const DefaultMaxEventNameLength = 200

// IsClientEvent reports whether name is a client event name ("client-…").
func IsClientEvent(name string) bool {
	return strings.HasPrefix(name, ClientEventPrefix)
}

// IsProtocolEvent reports whether name belongs to the protocol itself
// ("pusher:…" or "pusher_internal:…"). The HTTP API must not trigger such
// events, and a client may send only the "pusher:" ones this package decodes.
func IsProtocolEvent(name string) bool {
	return strings.HasPrefix(name, PusherPrefix) || strings.HasPrefix(name, InternalPrefix)
}
