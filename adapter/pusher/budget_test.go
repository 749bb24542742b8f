package pusher_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/server"
)

// TestPusherFramesObeyTheRate: every frame of a Pusher socket counts
// against the server's per-connection rate, as an sgc one's does: a
// subscribe flood past the burst is dropped and answered with one
// pusher:error 4301, and the socket stays open.
func TestPusherFramesObeyTheRate(t *testing.T) {
	e := start(t, func(o *server.Options) {
		o.Limits = server.Limits{MessagesPerSecond: 5, Burst: 20}
	})
	r := e.dial(t, appKey)
	for i := range 100 {
		r.subscribe(fmt.Sprintf("flood-%d", i), "", "")
	}
	subscribed, errors := 0, 0
	for {
		f, err := r.read(500 * time.Millisecond)
		if err != nil {
			break
		}
		switch f.Event {
		case pusherwire.EventSubscriptionSucceeded:
			subscribed++
		case pusherwire.EventError:
			errors++
			if code := f.inner()["code"]; code != float64(pusherwire.CodeClientEventRejected) || !strings.Contains(fmt.Sprint(f.inner()["message"]), "Rate limit") {
				t.Errorf("error %v", f.inner())
			}
		}
	}
	// The burst, and what the rate adds while the frames arrive.
	if subscribed < 20 || subscribed > 30 || errors != 1 {
		t.Fatalf("%d subscriptions and %d errors from 100 subscribes, want 20 (a few more) and 1", subscribed, errors)
	}
}
