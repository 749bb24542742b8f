package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

// fakeCluster is a Cluster with nobody else in it, whose readiness the
// test sets.
type fakeCluster struct {
	ready   atomic.Bool
	started atomic.Bool
}

func (f *fakeCluster) Subscribe(string)                       {}
func (f *fakeCluster) Unsubscribe(string)                     {}
func (f *fakeCluster) Publish(string, *presence.Event)        {}
func (f *fakeCluster) SendTo(string, string, *presence.Event) {}
func (f *fakeCluster) BroadcastGroups(string, string)         {}
func (f *fakeCluster) Replicate(presence.Change)              {}
func (f *fakeCluster) Name() string                           { return "n1" }
func (f *fakeCluster) Start(presence.Receiver) error          { f.started.Store(true); return nil }
func (f *fakeCluster) Ready() bool                            { return f.ready.Load() }
func (f *fakeCluster) Leave() error                           { return nil }
func (f *fakeCluster) Nodes() []ClusterNode {
	return []ClusterNode{{Name: "n1", State: "alive", Self: true, Synced: f.ready.Load()}}
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestReadyz(t *testing.T) {
	_, url := startServer(t, Options{})
	base := "http" + strings.TrimPrefix(url, "ws")
	if c := getStatus(t, base+"readyz"); c != 200 {
		t.Fatalf("single node readyz: %d, want 200", c)
	}

	fc := &fakeCluster{}
	srv, url := startServer(t, Options{Cluster: fc, APIKey: "k"})
	base = "http" + strings.TrimPrefix(url, "ws")
	if !fc.started.Load() {
		t.Fatal("New did not start the cluster")
	}
	if c := getStatus(t, base+"readyz"); c != 503 {
		t.Fatalf("unsynced readyz: %d, want 503", c)
	}
	if c := getStatus(t, base+"healthz"); c != 200 {
		t.Fatalf("unsynced healthz: %d, want 200", c)
	}
	fc.ready.Store(true)
	if c := getStatus(t, base+"readyz"); c != 200 {
		t.Fatalf("synced readyz: %d, want 200", c)
	}
	if st := srv.Stats(); len(st.Nodes) != 1 || st.Nodes[0].Name != "n1" {
		t.Fatalf("stats nodes: %+v", st.Nodes)
	}
	fc.ready.Store(false)
	if c := getStatus(t, base+"readyz"); c != 503 {
		t.Fatalf("readyz after losing the cluster: %d, want 503", c)
	}
}

func (f *fakeCluster) BrokerCounters() (in, out, resyncs uint64) { return 7, 8, 9 }

func (f *fakeCluster) BrokerHealth() BrokerHealth {
	return BrokerHealth{OutboxOverflows: 2, OutboxDropped: 300, SubscribeFailures: 4, SubscribesFailing: 1}
}

// reasonCluster is a fakeCluster that says why it is not ready.
type reasonCluster struct{ fakeCluster }

func (r *reasonCluster) NotReadyReason() string {
	if r.ready.Load() {
		return ""
	}
	return `broker subscription failing, retrying: 1 channels ["room"]: nats: connection closed`
}

// TestReadyzReason: /readyz shows the cluster's own reason for not being
// ready.
func TestReadyzReason(t *testing.T) {
	rc := &reasonCluster{}
	_, url := startServer(t, Options{Cluster: rc})
	base := "http" + strings.TrimPrefix(url, "ws")
	code, body := getReady(t, base+"readyz")
	if code != 503 || body.Ready || !strings.Contains(body.Status, "broker subscription failing") {
		t.Fatalf("failing subscription: %d %+v", code, body)
	}
	rc.ready.Store(true)
	if code, body = getReady(t, base+"readyz"); code != 200 || body.Status != "ready" {
		t.Fatalf("ready: %d %+v", code, body)
	}
}

func TestMetrics(t *testing.T) {
	fc := &fakeCluster{}
	fc.ready.Store(true)
	srv, url := startServer(t, Options{Cluster: fc, APIKey: "k"})
	base := "http" + strings.TrimPrefix(url, "ws")
	if c := getStatus(t, base+"metrics"); c != http.StatusUnauthorized {
		t.Fatalf("metrics without the key: %d, want 401", c)
	}
	dialEnc(t, url, false) // one connection
	srv.counters.CountError("sgc", "rate_limited", 45)
	srv.counters.AckResends.Add(2)
	req, _ := http.NewRequest("GET", base+"metrics", nil)
	req.Header.Set("Authorization", "Bearer k")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"rollcall_connections 1", "rollcall_connections_total 1", "rollcall_members ",
		`rollcall_errors_total{code="45",protocol="sgc",reason="rate_limited"} 1`, "rollcall_ack_resends_total 2",
		"rollcall_broker_messages_in_total 7", "rollcall_broker_messages_out_total 8", "rollcall_resyncs_total 9",
		"rollcall_cluster_outbox_overflows_total 2", "rollcall_cluster_outbox_dropped_total 300",
		"rollcall_cluster_subscribe_failures_total 4", "rollcall_cluster_subscribes_failing 1",
		`rollcall_cluster_nodes{state="alive"} 1`, `rollcall_cluster_nodes{state="dead"} 0`, "rollcall_ready 1",
		"rollcall_frames_out_total ", "rollcall_bytes_out_total ", "rollcall_bytes_in_total ", "go_goroutines ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
}

// reachCluster is a fakeCluster that knows its peers.
type reachCluster struct {
	fakeCluster
	reached atomic.Int64
}

func (r *reachCluster) Reach() PeerReach {
	return PeerReach{Configured: 2, Reached: int(r.reached.Load()), Required: 1}
}

// getReady reads GET /readyz: its status and JSON body.
func getReady(t *testing.T, url string) (int, readiness) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body readiness
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// TestReadyzPeers: /readyz reports the configured and reached peers, and
// is 503 while fewer than required are reached, however synced the node
// is; /api/stats has them too.
func TestReadyzPeers(t *testing.T) {
	rc := &reachCluster{}
	rc.ready.Store(true)
	srv, url := startServer(t, Options{Cluster: rc})
	base := "http" + strings.TrimPrefix(url, "ws")
	code, body := getReady(t, base+"readyz")
	want := PeerReach{Configured: 2, Reached: 0, Required: 1}
	if code != 503 || body.Ready || body.Peers == nil || *body.Peers != want || !strings.Contains(body.Status, "0 reached, 1 required") {
		t.Fatalf("no peer reached: %d %+v", code, body)
	}
	if srv.Ready() {
		t.Fatal("Ready without the required peer")
	}
	rc.reached.Store(1)
	code, body = getReady(t, base+"readyz")
	want.Reached = 1
	if code != 200 || !body.Ready || body.Status != "ready" || body.Peers == nil || *body.Peers != want {
		t.Fatalf("peer reached: %d %+v", code, body)
	}
	if st := srv.Stats(); st.Peers == nil || *st.Peers != want {
		t.Fatalf("stats peers: %+v", st.Peers)
	}
	_, single := startServer(t, Options{})
	code, body = getReady(t, "http"+strings.TrimPrefix(single, "ws")+"readyz")
	if code != 200 || body.Peers != nil || body.Status != "ready" {
		t.Fatalf("single node: %d %+v", code, body)
	}
}
