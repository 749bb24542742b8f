package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/pusherwire"
)

const (
	pusherID, pusherKey, pusherSecret = "1", "key1", "secret1"
)

// webhookLog is a webhook endpoint that keeps every request.
type webhookLog struct {
	mu   sync.Mutex
	reqs []map[string]any // {headers, body}, as testdata/webhooks.mjs reads them
}

func (l *webhookLog) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	hd := map[string]string{}
	for k := range r.Header {
		hd[strings.ToLower(k)] = r.Header.Get(k)
	}
	l.mu.Lock()
	l.reqs = append(l.reqs, map[string]any{"headers": hd, "body": string(body)})
	l.mu.Unlock()
}

func (l *webhookLog) requests() []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]map[string]any{}, l.reqs...) // [] for none, not null
}

// runPusherScript runs adapter/pusher/testdata/<script> with node against
// node p (and q as node B) and returns its output.
func runPusherScript(t *testing.T, script string, p, q *proc, extra map[string]any) []byte {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: install Node 20 or later and run ./scripts/browser-deps")
	}
	host, port, _ := net.SplitHostPort(p.addr)
	in := map[string]any{"host": host, "port": port, "appId": pusherID, "key": pusherKey, "secret": pusherSecret}
	if q != nil {
		in["hostB"], in["portB"], _ = net.SplitHostPort(q.addr)
	}
	for k, v := range extra {
		in[k] = v
	}
	b, _ := json.Marshal(in)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("..", "..", "adapter", "pusher", "testdata", script))
	cmd.Stdin = bytes.NewReader(b)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s\n%s", script, err, out, stderr.Bytes())
	}
	return out
}

// webhookEvents checks every request with the SDK's webhook check and
// returns their events, counted by "name channel user" ("name channel
// count" for subscription_count).
func webhookEvents(t *testing.T, p *proc, hooks *webhookLog) map[string]int {
	t.Helper()
	out := runPusherScript(t, "webhooks.mjs", p, nil, map[string]any{"requests": hooks.requests()})
	var res struct{ Events []map[string]any }
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, ev := range res.Events {
		k := fmt.Sprint(ev["name"], " ", ev["channel"])
		if u, ok := ev["user_id"]; ok {
			k += fmt.Sprint(" ", u)
		}
		if n, ok := ev["subscription_count"]; ok {
			k += fmt.Sprint(" ", n)
		}
		got[k]++
	}
	return got
}

// pusherSocket is a raw Pusher WebSocket connection (protocol 7),
// subscribed to channels; on presence channels as user "zoe".
func pusherSocket(t *testing.T, p *proc, channels ...string) net.Conn {
	t.Helper()
	conn, br, _, err := ws.Dial(ctx10(t), "ws://"+p.addr+"/app/"+pusherKey+"?protocol=7")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// Its frames are read only here: a server that does not answer fails
	// the test rather than hanging it. What the server sent with the
	// handshake's answer (connection_established) may be in br already.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	rw := struct {
		io.Reader
		io.Writer
	}{conn, conn}
	if br != nil {
		rw.Reader = br
	}
	msg, err := wsutil.ReadServerText(rw)
	if err != nil {
		t.Fatal(err)
	}
	var established struct{ Data string }
	var info struct {
		SocketID string `json:"socket_id"`
	}
	if json.Unmarshal(msg, &established) != nil || json.Unmarshal([]byte(established.Data), &info) != nil {
		t.Fatalf("connection_established: %s", msg)
	}
	for _, ch := range channels {
		sub, _ := json.Marshal(map[string]string{"channel": ch})
		if strings.HasPrefix(ch, "presence-") {
			cd := `{"user_id":"zoe"}`
			sub, _ = json.Marshal(map[string]string{"channel": ch, "channel_data": cd,
				"auth": pusherwire.PresenceAuth(pusherKey, pusherSecret, info.SocketID, ch, cd)})
		}
		frame := `{"event":"pusher:subscribe","data":` + string(sub) + `}`
		if err := wsutil.WriteClientText(conn, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		if msg, err := wsutil.ReadServerText(rw); err != nil || !bytes.Contains(msg, []byte("subscription_succeeded")) {
			t.Fatalf("subscribe %s: %s %v", ch, msg, err)
		}
	}
	return conn
}

// TestClusterPusher: Pusher across two `rollcall serve` nodes, with
// pusher-js clients on both and the SDK asking either (testdata/cluster.mjs):
// the channels API and terminate_connections answer for the cluster, and
// every channel_occupied, channel_vacated, member_added and member_removed
// webhook fires once per cluster, checked with the SDK's webhook check;
// then a node dies with a channel's only subscriber and a presence
// channel's only member, and the survivor sends their channel_vacated and
// member_removed, once.
func TestClusterPusher(t *testing.T) {
	hooks := &webhookLog{}
	hs := httptest.NewServer(hooks)
	t.Cleanup(hs.Close)
	nodes := startCluster(t, 2, nil, "--pusher-app", pusherID+":"+pusherKey+":"+pusherSecret, "--pusher-webhook", hs.URL+"/hook")
	n1, n2 := nodes[0], nodes[1]
	runPusherScript(t, "cluster.mjs", n1, n2, nil)

	want := map[string]int{}
	for _, ch := range []string{"solo", "news", "presence-room"} {
		want["channel_occupied "+ch] = 1
		want["channel_vacated "+ch] = 1
	}
	for _, u := range []string{"ann", "bob"} {
		want["member_added presence-room "+u] = 1
		want["member_removed presence-room "+u] = 1
	}
	var got map[string]int
	testkit.Eventually(t, 10*time.Second, "every webhook of cluster.mjs", func() bool {
		got = webhookEvents(t, n1, hooks)
		return len(got) >= len(want)
	})
	for k, n := range want {
		if got[k] != n {
			t.Errorf("webhook %q %d times, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("webhooks %v, want %v", got, want)
	}

	// A node dies with the only subscriber of a channel and the only
	// member of a presence channel: the survivor (the live node with the
	// lowest name) sends channel_vacated and member_removed.
	pusherSocket(t, n2, "lonely", "presence-lonely")
	testkit.Eventually(t, 10*time.Second, "channel_occupied and member_added", func() bool {
		got := webhookEvents(t, n1, hooks)
		return got["channel_occupied lonely"] == 1 && got["member_added presence-lonely zoe"] == 1
	})
	n2.signal(t, syscall.SIGKILL)
	dead := []string{"channel_vacated lonely", "channel_vacated presence-lonely", "member_removed presence-lonely zoe"}
	testkit.Eventually(t, 10*time.Second, "the dead node's webhooks", func() bool {
		got = webhookEvents(t, n1, hooks)
		for _, k := range dead {
			if got[k] == 0 {
				return false
			}
		}
		return true
	})
	for _, k := range append(dead, "channel_occupied lonely", "channel_occupied presence-lonely", "member_added presence-lonely zoe") {
		if got[k] != 1 {
			t.Errorf("webhook %q %d times, want once (all: %v)", k, got[k], got)
		}
	}
}

// TestClusterPusherSubscriptionCount: with subscription_count on, pusher-js
// clients on two `rollcall serve` nodes in one public channel hear the
// cluster's count, a change on the other node included
// (testdata/clustercount.mjs), and each change's subscription_count webhook
// fires once per cluster, with the cluster's count.
func TestClusterPusherSubscriptionCount(t *testing.T) {
	hooks := &webhookLog{}
	hs := httptest.NewServer(hooks)
	t.Cleanup(hs.Close)
	cfg := filepath.Join(t.TempDir(), "rollcall.yaml")
	yaml := `pusher:
  apps:
    - id: "` + pusherID + `"
      key: ` + pusherKey + `
      secret: ` + pusherSecret + `
      subscription_count: true
      webhooks:
        - url: ` + hs.URL + `/hook
          event_types: [subscription_count]
`
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := startCluster(t, 2, nil, "--config", cfg)
	runPusherScript(t, "clustercount.mjs", nodes[0], nodes[1], nil)

	// a in (1), b in on the other node (2), c in (3), b out (2), a out (1),
	// c out (0).
	want := map[string]int{
		"subscription_count counted 1": 2,
		"subscription_count counted 2": 2,
		"subscription_count counted 3": 1,
		"subscription_count counted 0": 1,
	}
	var got map[string]int
	testkit.Eventually(t, 10*time.Second, "every webhook of clustercount.mjs", func() bool {
		got = webhookEvents(t, nodes[0], hooks)
		return got["subscription_count counted 0"] > 0
	})
	if !maps.Equal(got, want) {
		t.Errorf("webhooks %v, want %v", got, want)
	}
}

// TestClusterPusherWatchlist: a pusher-js watcher on one `rollcall serve`
// node hears its watched users online and offline over both nodes, once
// per change however many tabs on whichever node
// (testdata/clusterwatch.mjs).
func TestClusterPusherWatchlist(t *testing.T) {
	nodes := startCluster(t, 2, nil, "--pusher-app", pusherID+":"+pusherKey+":"+pusherSecret)
	runPusherScript(t, "clusterwatch.mjs", nodes[0], nodes[1], nil)
}
