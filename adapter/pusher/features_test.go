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

// TestSubscriptionCountThrottle: up to 100 subscribers every change is
// sent at once; above, changes within the interval fold into one update
// sent when the interval is over.
func TestSubscriptionCountThrottle(t *testing.T) {
	const every = 2 * time.Second
	e := start(t, func(o *server.Options) {
		o.Pusher.Apps[0].SubscriptionCount = true
		o.Pusher.SubscriptionCountInterval = every
	})
	count := func(r *raw) int {
		t.Helper()
		f := r.expect(pusherwire.EventSubscriptionCount)
		if f.Channel != "big" {
			t.Fatalf("count of %q", f.Channel)
		}
		return int(f.inner()["subscription_count"].(float64))
	}
	a := e.dial(t, appKey)
	a.subscribe("big", "", "")
	a.expect(pusherwire.EventSubscriptionSucceeded)
	if n := count(a); n != 1 {
		t.Fatalf("first count %d", n)
	}
	join := func() {
		r := e.dial(t, appKey)
		r.subscribe("big", "", "")
		r.expect(pusherwire.EventSubscriptionSucceeded)
	}
	for want := 2; want <= 100; want++ {
		join()
		if n := count(a); n != want {
			t.Fatalf("count %d, want %d", n, want)
		}
	}
	sent := time.Now()
	join() // 101 and 102 within the interval: one update, 102
	join()
	if n := count(a); n != 102 {
		t.Fatalf("count %d after the interval, want 102 (101 folded)", n)
	}
	if d := time.Since(sent); d < every*9/10 {
		t.Fatalf("the update above 100 came after %v, want the interval %v", d, every)
	}
	a.send(`{"event":"pusher:ping","data":{}}`)
	if f := a.next(); f.Event != pusherwire.EventPong {
		t.Fatalf("got %+v after the folded update, want nothing but the pong", f)
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

// TestWatchlistInvalid: a watchlist that is not an array of user ids is
// bad user_data: pusher:error 4009 and close 4009.
func TestWatchlistInvalid(t *testing.T) {
	e := start(t, nil)
	r := e.dial(t, appKey)
	ud := `{"id":"u1","watchlist":"u2"}`
	b, _ := json.Marshal(map[string]any{"event": pusherwire.EventSignin, "data": map[string]string{
		"auth": pusherwire.UserAuth(appKey, appSecret, r.socketID, ud), "user_data": ud}})
	r.send(string(b))
	f := r.expect(pusherwire.EventError)
	if code := f.inner()["code"]; code != float64(pusherwire.CodeUnauthorized) {
		t.Fatalf("error %v", f.inner())
	}
	if code := r.closed(); code != pusherwire.CodeUnauthorized {
		t.Fatalf("closed with %d", code)
	}
}
