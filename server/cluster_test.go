package server

import (
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
