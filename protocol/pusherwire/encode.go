package pusherwire

import "encoding/json"

// Server frames. Every Append* function appends one complete frame, a JSON
// object, to dst and returns the extended slice. The "data" member is written
// as a JSON string that holds JSON (double encoding, §1.2), which pusher-js
// decodes into an object. Names and ids are escaped as needed; raw JSON
// arguments (user_info, client event data) must be valid JSON and are written
// byte for byte. The functions use no reflection and, given a dst with room,
// do not allocate: encode a fan-out once and queue the same bytes to every
// recipient.

// Member is one presence member as it appears in a subscription_succeeded
// member list.
type Member struct {
	// ID is the user id, already normalised to a string (see [ParseChannelData]).
	ID string
	// Info is the member's user_info as raw JSON, or nil for none (written as
	// null in the member hash, so the member still shows up in pusher-js).
	Info json.RawMessage
}

// appendHead appends `{"event":"<event>"` and, when channel is not empty,
// `,"channel":"<channel>"`.
func appendHead(dst []byte, event, channel string) []byte {
	dst = append(dst, `{"event":`...)
	dst = appendQuoted(dst, event)
	if channel != "" {
		dst = append(dst, `,"channel":`...)
		dst = appendQuoted(dst, channel)
	}
	return dst
}

// AppendEvent appends a frame {"event","channel","data"} whose data is the JSON
// document dataJSON, double-encoded (written as a string). channel "" leaves
// the channel out and a nil dataJSON leaves data out. It is the general form of
// the specific encoders below, for events they do not cover.
func AppendEvent(dst []byte, event, channel string, dataJSON []byte) []byte {
	dst = appendHead(dst, event, channel)
	if dataJSON != nil {
		dst = append(dst, `,"data":"`...)
		dst = appendEscaped(dst, dataJSON, false)
		dst = append(dst, '"')
	}
	return append(dst, '}')
}

// AppendChannelEvent appends an event triggered through the HTTP API (or sent
// to a user channel): {"event","channel","data"} with data the string the API
// received, unchanged (§5.2). pusher-js parses it as JSON when it can and hands
// over the string otherwise.
func AppendChannelEvent(dst []byte, channel, event, data string) []byte {
	dst = appendHead(dst, event, channel)
	dst = append(dst, `,"data":`...)
	dst = appendQuoted(dst, data)
	return append(dst, '}')
}

// AppendClientEvent appends a client event relayed to the other subscribers of
// a channel (§3): data is the raw JSON value the sender sent (an object or a
// string), written as it is, and userID, when not empty, is the sender's
// presence user id (pusher-js hands it over as metadata.user_id). A nil data
// leaves data out.
func AppendClientEvent(dst []byte, channel, event string, data json.RawMessage, userID string) []byte {
	dst = appendHead(dst, event, channel)
	if data != nil {
		dst = append(dst, `,"data":`...)
		dst = append(dst, data...)
	}
	if userID != "" {
		dst = append(dst, `,"user_id":`...)
		dst = appendQuoted(dst, userID)
	}
	return append(dst, '}')
}

// AppendConnectionEstablished appends the first frame of a connection (§1.3):
// data {"socket_id","activity_timeout"}. pusher-js drops the connection when
// activityTimeout (seconds) is below 1.
func AppendConnectionEstablished(dst []byte, socketID string, activityTimeout int) []byte {
	dst = append(dst, `{"event":"pusher:connection_established","data":"{\"socket_id\":\"`...)
	dst = appendEscaped(dst, socketID, true)
	dst = append(dst, `\",\"activity_timeout\":`...)
	dst = appendInt(dst, int64(activityTimeout))
	return append(dst, `}"}`...)
}

// AppendPing appends {"event":"pusher:ping","data":"{}"}, a server's ping
// (pusher-js answers with pusher:pong).
func AppendPing(dst []byte) []byte {
	return append(dst, `{"event":"pusher:ping","data":"{}"}`...)
}

// AppendPong appends {"event":"pusher:pong","data":"{}"}, the answer to a
// client's pusher:ping (§1.4).
func AppendPong(dst []byte) []byte {
	return append(dst, `{"event":"pusher:pong","data":"{}"}`...)
}

// AppendError appends a pusher:error frame with data {"code","message"} (§1.5).
// A code of 0 is written as null (Pusher's form for a refused subscription,
// §2.7). Before connection_established pusher-js treats the code as a close
// code; afterwards it only raises an error event.
func AppendError(dst []byte, code int, message string) []byte {
	dst = append(dst, `{"event":"pusher:error","data":"{\"code\":`...)
	if code == 0 {
		dst = append(dst, `null`...)
	} else {
		dst = appendInt(dst, int64(code))
	}
	dst = append(dst, `,\"message\":\"`...)
	dst = appendEscaped(dst, message, true)
	return append(dst, `\"}"}`...)
}

// AppendSubscriptionSucceeded appends pusher_internal:subscription_succeeded
// with data "{}" for a public, private or encrypted channel (§2.2).
func AppendSubscriptionSucceeded(dst []byte, channel string) []byte {
	dst = appendHead(dst, EventSubscriptionSucceeded, channel)
	return append(dst, `,"data":"{}"}`...)
}

// AppendPresenceSubscriptionSucceeded appends the subscription_succeeded of a
// presence channel (§2.4): data {"presence":{"ids":[…],"hash":{id:info},
// "count":N}}. members must be distinct users, the subscriber included; their
// order is kept in ids.
func AppendPresenceSubscriptionSucceeded(dst []byte, channel string, members []Member) []byte {
	dst = appendHead(dst, EventSubscriptionSucceeded, channel)
	dst = append(dst, `,"data":"{\"presence\":{\"ids\":[`...)
	for i, m := range members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `\"`...)
		dst = appendEscaped(dst, m.ID, true)
		dst = append(dst, `\"`...)
	}
	dst = append(dst, `],\"hash\":{`...)
	for i, m := range members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `\"`...)
		dst = appendEscaped(dst, m.ID, true)
		dst = append(dst, `\":`...)
		dst = appendInfo(dst, m.Info)
	}
	dst = append(dst, `},\"count\":`...)
	dst = appendInt(dst, int64(len(members)))
	return append(dst, `}}"}`...)
}

// appendInfo writes raw JSON inside a data string, null when absent.
func appendInfo(dst []byte, info json.RawMessage) []byte {
	if len(info) == 0 {
		return append(dst, `null`...)
	}
	return appendEscaped(dst, info, false)
}

// AppendMemberAdded appends pusher_internal:member_added with data
// {"user_id","user_info"} (§2.4); a nil info leaves user_info out.
func AppendMemberAdded(dst []byte, channel, userID string, info json.RawMessage) []byte {
	dst = appendHead(dst, EventMemberAdded, channel)
	dst = append(dst, `,"data":"{\"user_id\":\"`...)
	dst = appendEscaped(dst, userID, true)
	dst = append(dst, `\"`...)
	if len(info) > 0 {
		dst = append(dst, `,\"user_info\":`...)
		dst = appendEscaped(dst, info, false)
	}
	return append(dst, `}"}`...)
}

// AppendMemberRemoved appends pusher_internal:member_removed with data
// {"user_id"} (§2.4).
func AppendMemberRemoved(dst []byte, channel, userID string) []byte {
	dst = appendHead(dst, EventMemberRemoved, channel)
	dst = append(dst, `,"data":"{\"user_id\":\"`...)
	dst = appendEscaped(dst, userID, true)
	return append(dst, `\"}"}`...)
}

// Subscription error types of pusher:subscription_error (soketi's form, §2.7).
const (
	// SubscriptionErrorAuth: the signature is missing or wrong (status 401).
	SubscriptionErrorAuth = "AuthError"
	// SubscriptionErrorLimit: a limit was reached (status 4009 for a name
	// too long, 4100 for too many presence members, 4301 for a member too
	// large).
	SubscriptionErrorLimit = "LimitReached"
)

// AppendSubscriptionError appends pusher:subscription_error on channel with
// data {"type","error","status"} (§2.7). pusher-js raises it on the channel, and
// Echo's .error(cb) receives the data.
func AppendSubscriptionError(dst []byte, channel, errType, message string, status int) []byte {
	dst = appendHead(dst, EventSubscriptionError, channel)
	dst = append(dst, `,"data":"{\"type\":\"`...)
	dst = appendEscaped(dst, errType, true)
	dst = append(dst, `\",\"error\":\"`...)
	dst = appendEscaped(dst, message, true)
	dst = append(dst, `\",\"status\":`...)
	dst = appendInt(dst, int64(status))
	return append(dst, `}"}`...)
}

// AppendSigninSuccess appends pusher:signin_success with data {"user_data"}
// holding the exact user_data string the client signed in with (§4).
func AppendSigninSuccess(dst []byte, userData string) []byte {
	dst = append(dst, `{"event":"pusher:signin_success","data":"{\"user_data\":\"`...)
	dst = appendEscaped(dst, userData, true)
	return append(dst, `\"}"}`...)
}

// AppendCacheMiss appends {"event":"pusher:cache_miss","channel":…}, sent to a
// new subscriber of a cache channel when nothing is cached (§2.6).
func AppendCacheMiss(dst []byte, channel string) []byte {
	dst = appendHead(dst, EventCacheMiss, channel)
	return append(dst, '}')
}

// AppendSubscriptionCount appends pusher_internal:subscription_count with data
// {"subscription_count":N} (§2.9).
func AppendSubscriptionCount(dst []byte, channel string, count int) []byte {
	dst = appendHead(dst, EventSubscriptionCount, channel)
	dst = append(dst, `,"data":"{\"subscription_count\":`...)
	dst = appendInt(dst, int64(count))
	return append(dst, `}"}`...)
}
