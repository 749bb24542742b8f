package pusher_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/server"
)

// The test apps: app 1 is the default app (shared with sgc clients), with
// client events on and a webhook; app 2 is isolated, client events off.
const (
	appID, appKey, appSecret       = "1", "app-key", "app-secret"
	otherID, otherKey, otherSecret = "2", "other-key", "other-secret"
)

var masterKey = bytes.Repeat([]byte{7}, 32)

// hookRecorder is a webhook endpoint that keeps every request.
type hookRecorder struct {
	mu   sync.Mutex
	reqs []hookRequest
	fail int // answer the next fail requests with 500
}

type hookRequest struct {
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fail > 0 {
		h.fail--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	hd := map[string]string{}
	for k := range r.Header {
		hd[strings.ToLower(k)] = r.Header.Get(k)
	}
	h.reqs = append(h.reqs, hookRequest{Headers: hd, Body: string(body)})
}

func (h *hookRecorder) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

type env struct {
	srv   *server.Server
	hs    *httptest.Server
	host  string
	port  string
	hooks *hookRecorder
}

// start runs a rollcall server with the test apps on loopback.
func start(t *testing.T, mut func(*server.Options)) *env {
	t.Helper()
	hooks := &hookRecorder{}
	hookSrv := httptest.NewServer(hooks)
	t.Cleanup(hookSrv.Close)
	opts := server.Options{
		Pusher: server.PusherOptions{
			ActivityTimeout: 1,
			WebhookBatch:    10 * time.Millisecond,
			Apps: []pusher.App{
				{ID: appID, Key: appKey, Secret: appSecret, Default: true, ClientEvents: true,
					Webhooks: []pusher.Webhook{{URL: hookSrv.URL + "/hook"}}},
				{ID: otherID, Key: otherKey, Secret: otherSecret, MaxPresenceMembers: 2},
			},
		},
	}
	if os.Getenv("PUSHER_TEST_LOG") != "" {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if mut != nil {
		mut(&opts)
	}
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	hs := testkit.Serve(t, srv)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(hs.URL, "http://"))
	return &env{srv: srv, hs: hs, host: host, port: port, hooks: hooks}
}

// nodeBin returns node, or fails with how to get it and the npm packages.
func nodeBin(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed (these tests run pusher-js, pusher and laravel-echo): install Node 20 or later, then run ./scripts/browser-deps (npm ci)")
	}
	for _, pkg := range []string{"pusher", "pusher-js", "laravel-echo"} {
		if _, err := os.Stat(filepath.Join("..", "..", "node_modules", pkg, "package.json")); err != nil {
			t.Fatalf("the %s npm package is missing: run ./scripts/browser-deps (npm ci) at the repository root", pkg)
		}
	}
	return node
}

// runNode runs testdata/<script> with the server's address and the apps as
// its input (plus extra), and returns what it printed.
func (e *env) runNode(t *testing.T, script string, extra map[string]any) json.RawMessage {
	t.Helper()
	nodeBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := e.node(ctx, script, extra)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// node runs a script (see runNode) and returns its output or an error with
// its stderr.
func (e *env) node(ctx context.Context, script string, extra map[string]any) (json.RawMessage, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, err
	}
	in := map[string]any{
		"host": e.host, "port": e.port,
		"appId": appID, "key": appKey, "secret": appSecret,
		"otherAppId": otherID, "otherKey": otherKey, "otherSecret": otherSecret,
		"masterKey": base64.StdEncoding.EncodeToString(masterKey),
	}
	for k, v := range extra {
		in[k] = v
	}
	b, _ := json.Marshal(in)
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", script))
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("node testdata/%s: %v\nstdout: %s\nstderr: %s", script, err, out, stderr.Bytes())
	}
	return out, nil
}

func TestNodeConnect(t *testing.T) {
	start(t, nil).runNode(t, "connect.mjs", nil)
}

func TestNodeChannels(t *testing.T) {
	start(t, nil).runNode(t, "channels.mjs", nil)
}

func TestNodePresence(t *testing.T) {
	start(t, nil).runNode(t, "presence.mjs", nil)
}

func TestNodeClientEvents(t *testing.T) {
	start(t, nil).runNode(t, "clientevents.mjs", nil)
}

func TestNodeSignin(t *testing.T) {
	start(t, nil).runNode(t, "signin.mjs", nil)
}

func TestNodeHTTPAPI(t *testing.T) {
	start(t, nil).runNode(t, "api.mjs", nil)
}

func TestNodeEcho(t *testing.T) {
	start(t, nil).runNode(t, "echo.mjs", nil)
}

// TestNodeWebhooks runs the presence and client-event scenarios, then
// checks every webhook the server sent with the SDK's webhook check, and
// what they said.
func TestNodeWebhooks(t *testing.T) {
	e := start(t, nil)
	e.runNode(t, "clientevents.mjs", nil)
	e.runNode(t, "channels.mjs", nil)
	e.runNode(t, "presence.mjs", nil)
	var events []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for {
		out := e.runNode(t, "webhooks.mjs", map[string]any{"requests": e.hooks.requests()})
		var res struct{ Events []map[string]any }
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatal(err)
		}
		events = res.Events
		if has(events, "channel_vacated", "presence-room", "") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []struct{ name, channel, user string }{
		{"channel_occupied", "private-chat", ""},
		{"channel_vacated", "private-chat", ""},
		{"member_added", "presence-room", "alice"},
		{"member_added", "presence-room", "42"},
		{"member_removed", "presence-room", "alice"},
		{"member_removed", "presence-room", "bob"},
		{"cache_miss", "cache-scores", ""},
		{"channel_vacated", "presence-room", ""},
	} {
		if !has(events, want.name, want.channel, want.user) {
			t.Errorf("no %s webhook for %s %s in %v", want.name, want.channel, want.user, events)
		}
	}
	// member_added once per user, however many tabs.
	n := 0
	for _, ev := range events {
		if ev["name"] == "member_added" && ev["user_id"] == "alice" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("member_added for alice %d times, want once", n)
	}
	var sawPresence, sawPrivate bool
	for _, ev := range events {
		if ev["name"] != "client_event" {
			continue
		}
		if ev["socket_id"] == nil || ev["event"] == nil {
			t.Errorf("client_event without socket_id or event: %v", ev)
		}
		switch ev["channel"] {
		case "presence-chat":
			sawPresence = ev["user_id"] == "ann" && ev["data"] == `{"text":"yo"}`
		case "private-chat":
			sawPrivate = sawPrivate || ev["user_id"] == nil
		}
	}
	if !sawPresence || !sawPrivate {
		t.Errorf("client_event webhooks: presence with user_id %v, private without %v", sawPresence, sawPrivate)
	}
}

func has(events []map[string]any, name, channel, user string) bool {
	for _, ev := range events {
		if ev["name"] == name && ev["channel"] == channel && (user == "" || ev["user_id"] == user) {
			return true
		}
	}
	return false
}
