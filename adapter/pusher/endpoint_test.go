package pusher_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rollcall/rollcall/server"
)

// TestEndpoint: /app/{key} goes through the server's one upgrade path with
// Pusher's own answers: a plain GET gets 426 pointing to pusher-js, the
// handshake needs no credentials on a server whose sgc endpoint does (Pusher
// authorizes per channel), and a path with more after the key is refused
// with 4005.
func TestEndpoint(t *testing.T) {
	e := start(t, func(o *server.Options) {
		o.Auth.Basic = func(context.Context, *http.Request, string, string) (server.Identity, error) {
			return server.Identity{}, errors.New("no one")
		}
	})
	resp, err := http.Get(e.hs.URL + "/app/" + appKey)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(body), "Pusher Channels WebSocket endpoint") {
		t.Errorf("plain GET /app/{key}: %d %q", resp.StatusCode, body)
	}

	e.dial(t, appKey) // no credentials, connection_established

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, resp, err := websocket.Dial(ctx, "ws://"+e.host+":"+e.port+"/", nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("sgc handshake without credentials: %v, %v; want 401", resp, err)
	}

	r := e.dialURL(t, e.wsURL(appKey+"/more", "protocol=7"))
	if code := r.closed(); code != 4005 {
		t.Errorf("/app/{key}/more closed with %d, want 4005", code)
	}
}
