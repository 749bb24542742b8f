package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// TestPusherConfig: apps from the YAML file and from the flags.
func TestPusherConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rollcall.yaml")
	yaml := `pusher:
  activity_timeout: 20
  apps:
    - id: "1"
      key: k1
      secret: s1
      default: true
      client_events: true
      max_presence_members: 10
      max_user_id_bytes: 64
      subscription_count: true
      user_authentication_timeout: 15s
      webhooks:
        - url: http://127.0.0.1:9/hook
          event_types: [member_added, member_removed]
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig([]string{"--config", path, "--pusher-app", "2:k2:s2", "--pusher-app", "3:k3:s:with:colons",
		"--pusher-webhook", "http://127.0.0.1:9/all", "--pusher-client-events", "--sgc-reserved-channels", "presence-team-*, private-ops"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.pusherOptions()
	if p.ActivityTimeout != 20 || len(p.Apps) != 3 || len(p.SgcChannels) != 2 || p.SgcChannels[1] != "private-ops" {
		t.Fatalf("options %+v", p)
	}
	a, b, c := p.Apps[0], p.Apps[1], p.Apps[2]
	if !a.Default || !a.ClientEvents || a.MaxPresenceMembers != 10 || a.MaxUserIDBytes != 64 || len(a.Webhooks) != 1 || len(a.Webhooks[0].EventTypes) != 2 ||
		!a.SubscriptionCount || a.UserAuthenticationTimeout != 15*time.Second {
		t.Errorf("file app %+v", a)
	}
	if b.Default || !b.ClientEvents || b.ID != "2" || b.Key != "k2" || b.Secret != "s2" || len(b.Webhooks) != 1 || b.Webhooks[0].URL != "http://127.0.0.1:9/all" {
		t.Errorf("flag app %+v (the file has the default app)", b)
	}
	if c.Secret != "s:with:colons" {
		t.Errorf("secret %q", c.Secret)
	}
	cfg, err = loadConfig([]string{"--pusher-app", "2:k2:s2", "--pusher-app", "3:k3:s3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.pusherOptions(); !p.Apps[0].Default || p.Apps[1].Default || p.Apps[0].ClientEvents {
		t.Errorf("the first flag app is the default one, client events off: %+v", p.Apps)
	}
	for _, args := range [][]string{
		{"--pusher-app", "nokey"},
		{"--pusher-webhook", "ftp://x"},
		{"--pusher-activity-timeout", "0"},
		{"--sgc-reserved-channels", "presence-["},
	} {
		if _, err := loadConfig(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestServePusher: `rollcall serve --pusher-app` speaks Pusher on the same
// listener: pusher-js connects (and an unknown key is refused), and the
// HTTP API answers signed requests.
func TestServePusher(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: install Node 20 or later and run ./scripts/browser-deps")
	}
	_, addr, logs := startBinary(t, nil, "serve", "--addr", "127.0.0.1:0", "--pusher-app", "7:key7:secret7", "--pusher-client-events")
	go func() {
		for logs.Scan() {
		}
	}()
	host, port, _ := net.SplitHostPort(addr)
	in, _ := json.Marshal(map[string]string{"host": host, "port": port, "appId": "7", "key": "key7", "secret": "secret7"})
	cmd := exec.Command(node, filepath.Join("..", "..", "adapter", "pusher", "testdata", "connect.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil {
		t.Fatalf("connect.mjs: %v\n%s\n%s", err, out, stderr.Bytes())
	}
	q := pusherwire.SignRequest("key7", "secret7", "GET", "/apps/7/channels", nil, nil, time.Now())
	resp, err := http.Get("http://" + addr + "/apps/7/channels?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(bytes.TrimSpace(b)) != `{"channels":{}}` {
		t.Errorf("GET /apps/7/channels: %d %s", resp.StatusCode, b)
	}
}
