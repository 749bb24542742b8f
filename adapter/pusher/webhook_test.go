package pusher_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/server"
)

// TestWebhookRetryAndBoundedQueue: a webhook that fails is retried with
// back-off until it takes the events; a dead endpoint's queue is bounded
// (events over it are dropped and counted) and never slows delivery.
func TestWebhookRetryAndBoundedQueue(t *testing.T) {
	var e *env
	e = start(t, func(o *server.Options) {
		o.Pusher.WebhookQueue = 4
		o.Limits.MessagesPerSecond = server.NoRateLimit // 200 frames at once from one socket below
		o.Pusher.Apps[1].Webhooks = []pusher.Webhook{{URL: "http://127.0.0.1:1/dead", EventTypes: []string{pusherwire.WebhookChannelOccupied, pusherwire.WebhookChannelVacated}}}
	})
	e.hooks.mu.Lock()
	e.hooks.fail = 2
	e.hooks.mu.Unlock()
	r := e.dial(t, appKey)
	r.subscribe("retried", "", "")
	r.expect(pusherwire.EventSubscriptionSucceeded)
	testkit.Eventually(t, testkit.Timeout, "the webhook to be retried until it succeeded", func() bool { return len(e.hooks.requests()) > 0 })
	req := e.hooks.requests()[0]
	if err := pusherwire.VerifyWebhook(appKey, appSecret, req.Headers["x-pusher-key"], req.Headers["x-pusher-signature"], []byte(req.Body)); err != nil {
		t.Errorf("webhook signature: %v", err)
	}
	body, err := pusherwire.DecodeWebhookBody([]byte(req.Body))
	if err != nil || body.TimeMS == 0 || len(body.Events) == 0 || body.Events[0].Name != pusherwire.WebhookChannelOccupied || body.Events[0].Channel != "retried" {
		t.Errorf("webhook body %s (%v)", req.Body, err)
	}

	// App 2's endpoint is dead: 100 channels occupied and vacated.
	o := e.dial(t, otherKey)
	by := e.dial(t, otherKey)
	by.subscribe("live", "", "")
	by.expect(pusherwire.EventSubscriptionSucceeded)
	for i := range 100 {
		ch := fmt.Sprintf("c%d", i)
		o.subscribe(ch, "", "")
		o.expect(pusherwire.EventSubscriptionSucceeded)
		o.send(`{"event":"pusher:unsubscribe","data":{"channel":"` + ch + `"}}`)
	}
	o.alive()
	start := time.Now()
	body2 := []byte(`{"name":"e","channels":["live"],"data":"{}"}`)
	q := pusherwire.SignRequest(otherKey, otherSecret, "POST", "/apps/"+otherID+"/events", nil, body2, time.Now())
	if st, b := postRaw(t, e, "/apps/"+otherID+"/events?"+q.Encode(), body2); st != 200 {
		t.Fatalf("trigger: %d %s", st, b)
	}
	by.expect("e")
	if d := time.Since(start); d > time.Second {
		t.Errorf("delivery took %v behind a dead webhook", d)
	}
	if n := e.srv.Pusher().WebhookDrops(); n < 50 {
		t.Errorf("%d webhook events dropped, want about half of 200 (a queue of 4 and one batch of at most 100 in flight)", n)
	}
}
