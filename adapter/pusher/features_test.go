package pusher_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/server"
)

// TestNodeSubscriptionCount: with subscription_count on, pusher-js hears
// the counts of public and private channels, and the webhooks (checked with
// the SDK) carry them, down to 0.
func TestNodeSubscriptionCount(t *testing.T) {
	e := start(t, func(o *server.Options) { o.Pusher.Apps[0].SubscriptionCount = true })
	e.runNode(t, "subcount.mjs", nil)
	var events []map[string]any
	for deadline := time.Now().Add(5 * time.Second); ; {
		out := e.runNode(t, "webhooks.mjs", map[string]any{"requests": e.hooks.requests()})
		var res struct{ Events []map[string]any }
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		events = res.Events
		if hasCount(events, "counted", 0) && hasCount(events, "private-counted", 0) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []struct {
		channel string
		n       float64
	}{{"counted", 1}, {"counted", 2}, {"counted", 0}, {"private-counted", 2}, {"private-counted", 1}, {"private-counted", 0}} {
		if !hasCount(events, want.channel, want.n) {
			t.Errorf("no subscription_count webhook of %s with %v in %v", want.channel, want.n, events)
		}
	}
	for _, ev := range events {
		if ev["name"] == "subscription_count" && ev["channel"] == "presence-counted" {
			t.Errorf("a subscription_count webhook for a presence channel: %v", ev)
		}
	}
}

func hasCount(events []map[string]any, channel string, n float64) bool {
	for _, ev := range events {
		if ev["name"] == "subscription_count" && ev["channel"] == channel {
			if c, _ := ev["subscription_count"].(float64); c == n {
				return true
			}
		}
	}
	return false
}

// TestSubscriptionCountOff: an app without subscription_count sends no
// counts: right after b's subscribe, a's next frame is the pong of its ping.
func TestSubscriptionCountOff(t *testing.T) {
	e := start(t, nil)
	a := e.dial(t, appKey)
	a.subscribe("counted", "", "")
	a.expect(pusherwire.EventSubscriptionSucceeded)
	b := e.dial(t, appKey)
	b.subscribe("counted", "", "")
	b.expect(pusherwire.EventSubscriptionSucceeded)
	a.send(`{"event":"pusher:ping","data":{}}`)
	if f := a.next(); f.Event != pusherwire.EventPong {
		t.Fatalf("got %+v, want the pong", f)
	}
}

func TestNodeWatchlist(t *testing.T) {
	start(t, nil).runNode(t, "watchlist.mjs", nil)
}

// TestNodeUserAuthenticationTimeout: with user_authentication_timeout,
// a socket that neither signs in nor makes an authorized subscription is
// closed with 4009; the others stay.
func TestNodeUserAuthenticationTimeout(t *testing.T) {
	e := start(t, func(o *server.Options) { o.Pusher.Apps[0].UserAuthenticationTimeout = 2 * time.Second })
	e.runNode(t, "authtimeout.mjs", nil)
}
