package pusher_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/server"
)

// TestErrorMetrics: the error replies of both protocols are counted in
// GET /metrics under their protocol, reason and code.
func TestErrorMetrics(t *testing.T) {
	e := start(t, func(o *server.Options) { o.APIKey = "k" })
	r := e.dial(t, appKey)
	r.subscribe("private-x", appKey+":bad", "")
	r.expect(pusherwire.EventSubscriptionError)
	r.send(`{"event":"foo","data":{}}`)
	r.expect(pusherwire.EventError)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "ws://"+e.host+":"+e.port+"/", client.Options{Name: "snoop"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Subscribe(ctx, "app-"+otherID+":news"); err == nil {
		t.Fatal("sgc subscribed to another app's channel")
	}

	req, _ := http.NewRequest("GET", e.hs.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`rollcall_errors_total{code="401",protocol="pusher",reason="auth_error"} 1`,
		`rollcall_errors_total{code="4301",protocol="pusher",reason="client_event_rejected"} 1`,
		`rollcall_errors_total{code="10",protocol="sgc",reason="subscription_denied"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if st := e.srv.Stats(); st.Errors != 3 {
		t.Errorf("Stats.Errors = %d, want 3", st.Errors)
	}
}
