package pusherwire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
)

// Webhooks (§6): a POST with Content-Type exactly application/json, a body
// {"time_ms": …, "events": [ … ]}, and the headers X-Pusher-Key (the app key)
// and X-Pusher-Signature (hex HMAC-SHA256 of the exact body bytes under the
// app secret). Encode the body once, sign those bytes, send those bytes.

// Webhook HTTP headers and content type.
const (
	// HeaderWebhookKey carries the app key.
	HeaderWebhookKey = "X-Pusher-Key"
	// HeaderWebhookSignature carries the body's signature.
	HeaderWebhookSignature = "X-Pusher-Signature"
	// WebhookContentType must be the Content-Type exactly: the SDK's
	// webhook() parses nothing else.
	WebhookContentType = "application/json"
)

// Webhook event names (§6).
const (
	// WebhookChannelOccupied: a channel's subscription count went 0 → 1.
	WebhookChannelOccupied = "channel_occupied"
	// WebhookChannelVacated: a channel's subscription count went to 0.
	WebhookChannelVacated = "channel_vacated"
	// WebhookMemberAdded: a user's first subscription to a presence channel.
	WebhookMemberAdded = "member_added"
	// WebhookMemberRemoved: a user's last subscription to a presence
	// channel is gone.
	WebhookMemberRemoved = "member_removed"
	// WebhookClientEvent: a client event was sent.
	WebhookClientEvent = "client_event"
	// WebhookCacheMiss: a cache channel had nothing cached for a new
	// subscriber.
	WebhookCacheMiss = "cache_miss"
	// WebhookSubscriptionCount: a non-presence channel's subscription count
	// changed (optional).
	WebhookSubscriptionCount = "subscription_count"
)

// WebhookEvent is one event of a webhook body. Which fields are set depends on
// Name:
//
//	channel_occupied, channel_vacated, cache_miss  Channel
//	member_added, member_removed                   Channel, UserID
//	client_event                                   Channel, Event, Data, SocketID, UserID (presence only)
//	subscription_count                             Channel, SubscriptionCount
type WebhookEvent struct {
	// Name is one of the Webhook* event names.
	Name string `json:"name"`
	// Channel is the channel the event is about.
	Channel string `json:"channel"`
	// UserID is the presence user id (member events, presence client events).
	UserID string `json:"user_id,omitempty"`
	// Event is the client event's name.
	Event string `json:"event,omitempty"`
	// Data is the client event's data as a string.
	Data string `json:"data,omitempty"`
	// SocketID is the socket that sent the client event.
	SocketID string `json:"socket_id,omitempty"`
	// SubscriptionCount is written only for subscription_count events.
	SubscriptionCount int `json:"subscription_count,omitempty"`
}

// ClientEventWebhook returns the client_event webhook of a client event whose
// data is the raw JSON value the client sent. The webhook's data is a string,
// as Pusher documents it: a string value as it is, any other JSON value as its
// JSON text. userID is the sender's presence user id, "" on other channels.
func ClientEventWebhook(channel, event string, data json.RawMessage, socketID, userID string) WebhookEvent {
	e := WebhookEvent{Name: WebhookClientEvent, Channel: channel, Event: event, SocketID: socketID, UserID: userID}
	if len(data) > 0 && data[0] == '"' {
		if json.Unmarshal(data, &e.Data) != nil {
			e.Data = string(data)
		}
	} else {
		e.Data = string(data)
	}
	return e
}

// WebhookBody is a decoded webhook body.
type WebhookBody struct {
	// TimeMS is when the body was made, in Unix milliseconds.
	TimeMS int64 `json:"time_ms"`
	// Events are the events, in order.
	Events []WebhookEvent `json:"events"`
}

// AppendWebhookBody appends the body {"time_ms":…,"events":[…]} to dst. Each
// event has name and channel, then only the fields its name uses (see
// [WebhookEvent]); data is written as a JSON string.
func AppendWebhookBody(dst []byte, timeMS int64, events []WebhookEvent) []byte {
	dst = append(dst, `{"time_ms":`...)
	dst = appendInt(dst, timeMS)
	dst = append(dst, `,"events":[`...)
	for i, e := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendQuoted(dst, e.Name)
		dst = append(dst, `,"channel":`...)
		dst = appendQuoted(dst, e.Channel)
		switch e.Name {
		case WebhookMemberAdded, WebhookMemberRemoved:
			dst = append(dst, `,"user_id":`...)
			dst = appendQuoted(dst, e.UserID)
		case WebhookClientEvent:
			dst = append(dst, `,"event":`...)
			dst = appendQuoted(dst, e.Event)
			dst = append(dst, `,"data":`...)
			dst = appendQuoted(dst, e.Data)
			dst = append(dst, `,"socket_id":`...)
			dst = appendQuoted(dst, e.SocketID)
			if e.UserID != "" {
				dst = append(dst, `,"user_id":`...)
				dst = appendQuoted(dst, e.UserID)
			}
		case WebhookSubscriptionCount:
			dst = append(dst, `,"subscription_count":`...)
			dst = appendInt(dst, int64(e.SubscriptionCount))
		default:
			// Unknown names carry whatever is set, so nothing is lost.
			if e.UserID != "" {
				dst = append(dst, `,"user_id":`...)
				dst = appendQuoted(dst, e.UserID)
			}
			if e.Event != "" {
				dst = append(dst, `,"event":`...)
				dst = appendQuoted(dst, e.Event)
			}
			if e.Data != "" {
				dst = append(dst, `,"data":`...)
				dst = appendQuoted(dst, e.Data)
			}
			if e.SocketID != "" {
				dst = append(dst, `,"socket_id":`...)
				dst = appendQuoted(dst, e.SocketID)
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, `]}`...)
}

// DecodeWebhookBody decodes a webhook body (for receivers and tests).
func DecodeWebhookBody(body []byte) (WebhookBody, error) {
	var b WebhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return WebhookBody{}, err
	}
	return b, nil
}

// SignWebhook returns X-Pusher-Signature for body: hex HMAC-SHA256(secret,
// body), over the exact bytes sent.
func SignWebhook(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return string(hex.AppendEncode(nil, mac.Sum(nil)))
}

// Sentinel errors of webhook verification.
var (
	// ErrWebhookKey: X-Pusher-Key is not the app's key.
	ErrWebhookKey = errors.New("pusher: webhook key does not match")
	// ErrWebhookSignature: X-Pusher-Signature does not match the body.
	ErrWebhookSignature = errors.New("pusher: invalid webhook signature")
)

// VerifyWebhook checks the X-Pusher-Key and X-Pusher-Signature header values
// of a received webhook against the app's key and secret and the raw body, in
// constant time. It returns nil, ErrWebhookKey or ErrWebhookSignature.
func VerifyWebhook(key, secret, headerKey, headerSignature string, body []byte) error {
	if headerKey != key {
		return ErrWebhookKey
	}
	if !hmac.Equal([]byte(SignWebhook(secret, body)), []byte(headerSignature)) {
		return ErrWebhookSignature
	}
	return nil
}
