package pusher

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// Defaults of App limits left zero.
const (
	DefaultMaxPresenceMembers    = 100       // members per presence channel (Pusher, soketi)
	DefaultMaxUserInfoBytes      = 1024      // user_info of one member (Pusher: about 1 KB)
	DefaultMaxEventBytes         = 10 * 1024 // data of one event, HTTP or client (Pusher: 10 KB)
	DefaultClientEventsPerSecond = 10        // client events per connection (Pusher)
	DefaultActivityTimeout       = 30        // seconds, sent in connection_established
	DefaultMaxUserIDBytes        = 128       // a user_id (channel_data, signin user_data)
)

// Webhook is one webhook endpoint of an app.
type Webhook struct {
	// URL receives the POSTs.
	URL string
	// EventTypes are the webhook event names it wants (channel_occupied,
	// member_added, …); empty means every type.
	EventTypes []string
}

// wants reports whether the webhook takes events named name.
func (w *Webhook) wants(name string) bool {
	if len(w.EventTypes) == 0 {
		return true
	}
	for _, t := range w.EventTypes {
		if t == name {
			return true
		}
	}
	return false
}

// App is one Pusher application: its credentials, limits and webhooks.
// Apps are isolated: the engine names an app's channel "app-<id>:<name>",
// except for the Default app, whose channels keep their Pusher names and so
// are shared with the sgc clients (an sgc client in presence-lobby and a
// pusher-js client of the default app in presence-lobby see each other).
type App struct {
	ID, Key, Secret string
	// Default makes the app's channel names unprefixed in the engine:
	// shared with sgc clients. At most one app may be the default.
	Default bool
	// Disabled apps refuse connections (4003) and HTTP calls (403).
	Disabled bool
	// ClientEvents lets clients send client-* events (off by default, as
	// at Pusher).
	ClientEvents bool
	// MaxConnections caps the app's open connections (4004); 0 = no cap.
	MaxConnections int
	// MaxPresenceMembers caps the distinct members of one presence channel
	// (subscription_error LimitReached, status 4100).
	MaxPresenceMembers int
	// MaxUserInfoBytes caps one member's user_info (LimitReached, 4301).
	MaxUserInfoBytes int
	// MaxUserIDBytes caps a user's id, in a presence subscription's
	// channel_data (subscription_error AuthError, 401) or a signin's
	// user_data (pusher:error and close 4009).
	MaxUserIDBytes int
	// MaxChannelName is the longest channel name in bytes (200). For an
	// app that is not the default one, the engine's own limit counts the
	// "app-<id>:" prefix too.
	MaxChannelName int
	// MaxEventBytes caps the data of one event, triggered through the HTTP
	// API (413) or sent as a client event (4301).
	MaxEventBytes int
	// ClientEventsPerSecond is the rate of client events per connection
	// (4301 above it); the burst is the same number.
	ClientEventsPerSecond float64
	// Webhooks are the app's webhook endpoints.
	Webhooks []Webhook
	// SubscriptionCount sends pusher_internal:subscription_count to the
	// subscribers of a non-presence channel, and the subscription_count
	// webhook, when its count of subscribers changes (off by default, as
	// at Pusher). See subcount.go for the throttle.
	SubscriptionCount bool
	// UserAuthenticationTimeout, when positive, closes a socket (4009)
	// that has neither signed in nor subscribed to a private or presence
	// channel within it: Pusher's "authorized connections". Zero: off.
	UserAuthenticationTimeout time.Duration

	prefix string
}

func (a *App) setDefaults() {
	if a.MaxPresenceMembers <= 0 {
		a.MaxPresenceMembers = DefaultMaxPresenceMembers
	}
	if a.MaxUserInfoBytes <= 0 {
		a.MaxUserInfoBytes = DefaultMaxUserInfoBytes
	}
	if a.MaxUserIDBytes <= 0 {
		a.MaxUserIDBytes = DefaultMaxUserIDBytes
	}
	if a.MaxChannelName <= 0 {
		a.MaxChannelName = pusherwire.DefaultMaxChannelNameLength
	}
	if a.MaxEventBytes <= 0 {
		a.MaxEventBytes = DefaultMaxEventBytes
	}
	if a.ClientEventsPerSecond <= 0 {
		a.ClientEventsPerSecond = DefaultClientEventsPerSecond
	}
	if !a.Default {
		a.prefix = "app-" + a.ID + ":"
	}
}

// EngineChannel returns the engine's name of the app's channel name.
func (a *App) EngineChannel(name string) string { return a.prefix + name }

// PusherChannel returns the app's name of an engine channel and whether the
// channel belongs to the app. A default app owns every name without an
// app prefix.
func (a *App) PusherChannel(engine string) (string, bool) {
	if a.prefix == "" {
		if isAppPrefixed(engine) {
			return "", false
		}
		return engine, true
	}
	return strings.CutPrefix(engine, a.prefix)
}

// isAppPrefixed reports whether an engine channel name is one of a
// non-default app ("app-<id>:…").
func isAppPrefixed(name string) bool {
	rest, ok := strings.CutPrefix(name, "app-")
	return ok && strings.IndexByte(rest, ':') > 0
}

func (a *App) limits() pusherwire.Limits {
	return pusherwire.Limits{MaxDataBytes: a.MaxEventBytes, MaxChannelNameLength: a.MaxChannelName}
}

// Apps checks a list of apps: ids, keys and secrets present, ids and keys
// distinct, ids free of ':' and '/', at most one default app.
func checkApps(apps []App) error {
	ids, keys := map[string]bool{}, map[string]bool{}
	def := 0
	for i, a := range apps {
		switch {
		case a.ID == "" || a.Key == "" || a.Secret == "":
			return fmt.Errorf("pusher app %d: id, key and secret are required", i+1)
		case strings.ContainsAny(a.ID, ":/?#% "):
			return fmt.Errorf("pusher app %q: an id may not hold ':', '/', '?', '#', '%%' or spaces", a.ID)
		case strings.ContainsAny(a.Key, "/?#% "):
			return fmt.Errorf("pusher app %q: a key may not hold '/', '?', '#', '%%' or spaces", a.ID)
		case ids[a.ID]:
			return fmt.Errorf("pusher app id %q appears twice", a.ID)
		case keys[a.Key]:
			return fmt.Errorf("pusher app key %q appears twice", a.Key)
		}
		ids[a.ID], keys[a.Key] = true, true
		if a.Default {
			def++
		}
		for _, w := range a.Webhooks {
			if !strings.HasPrefix(w.URL, "http://") && !strings.HasPrefix(w.URL, "https://") {
				return fmt.Errorf("pusher app %q: webhook URL %q is not http(s)", a.ID, w.URL)
			}
		}
	}
	if def > 1 {
		return errors.New("pusher apps: at most one may be the default app")
	}
	return nil
}
