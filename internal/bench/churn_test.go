package bench

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rollcall/rollcall/server"
)

// statsServer runs a rollcall server on loopback whose /debug/stats
// answers stats(); the test's cleanup stops both.
func statsServer(t *testing.T, stats func(*server.Server) ServerStats) *serverProc {
	t.Helper()
	srv, err := server.New(server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(stats(srv))
	})
	mux.Handle("/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfWait)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return &serverProc{target: "ws" + strings.TrimPrefix(hs.URL, "http") + "/", stop: func() {}}
}

func figures(t *testing.T, out *Outcome) map[string]float64 {
	t.Helper()
	m := make(map[string]float64)
	for _, f := range out.Figures {
		m[f.Name] = f.Value
	}
	return m
}

// The baseline of churn is taken after the warm-up, and the fresh figures
// before it: a server whose "heap" is the number of connections it ever
// accepted shows which connections each reading had seen.
func TestChurnBaselineAfterWarmup(t *testing.T) {
	srv := statsServer(t, func(s *server.Server) ServerStats {
		st := s.Stats()
		return ServerStats{Goroutines: int(st.Connections), HeapInuse: st.ConnectionsTotal << 10, HeapAlloc: st.ConnectionsTotal}
	})
	p := Params{Scenario: "churn", Driver: "rollcall", Target: srv.target, Workers: 2,
		Rate: 40, Lifetime: 50 * time.Millisecond, Channels: 2,
		Warmup: 400 * time.Millisecond, Duration: 600 * time.Millisecond, Timeout: cfWait}
	s := &session{cfg: Config{Settle: 100 * time.Millisecond, Log: io.Discard}, p: p, srv: srv, out: &Outcome{Server: "rollcall"}}
	if err := s.churn(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := figures(t, s.out)
	t.Logf("%+v %v", f, s.out.Notes)
	warm, measured := f["connections in the warm-up"], f["connections opened and closed"]
	// 40/s for 0.4 s and for 0.6 s.
	if warm < 12 || warm > 20 || measured < 20 || measured > 28 {
		t.Errorf("%v connections in the warm-up and %v after, want about 16 and 24", warm, measured)
	}
	for name, want := range map[string]float64{
		"server heap fresh":       0,
		"server heap before":      warm,
		"server heap after":       warm + measured,
		"server live heap before": warm / 1024,
		"server live heap after":  (warm + measured) / 1024,
		"server heap change":      100 * measured / warm,
		"server goroutines fresh": 0, "server goroutines before": 0, "server goroutines after": 0,
		"members left behind": 0, "errors": 0,
	} {
		got, ok := f[name]
		if !ok {
			t.Errorf("no figure %q", name)
			continue
		}
		if d := got - want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

// Without a warm-up the baseline is the fresh server.
func TestChurnWithoutWarmup(t *testing.T) {
	srv := statsServer(t, func(s *server.Server) ServerStats {
		return ServerStats{HeapInuse: s.Stats().ConnectionsTotal << 10}
	})
	p := Params{Scenario: "churn", Driver: "rollcall", Target: srv.target, Workers: 1,
		Rate: 40, Lifetime: 50 * time.Millisecond, Channels: 1, Duration: 300 * time.Millisecond, Timeout: cfWait}
	s := &session{cfg: Config{Settle: 100 * time.Millisecond, Log: io.Discard}, p: p, srv: srv, out: &Outcome{Server: "rollcall"}}
	if err := s.churn(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := figures(t, s.out)
	if _, ok := f["connections in the warm-up"]; ok {
		t.Error("a warm-up figure without a warm-up")
	}
	if f["server heap fresh"] != 0 || f["server heap before"] != 0 || f["server heap after"] != f["connections opened and closed"] {
		t.Errorf("figures %v", f)
	}
}

// settledStats throws away the first reading after load (sync.Pool's
// victims are still counted in it) and keeps the median of the next three.
func TestSettledStats(t *testing.T) {
	var mu sync.Mutex
	var gcs int
	readings := []uint64{900, 510, 530, 500, 777}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Query().Get("gc") != "1" {
			t.Errorf("stats asked without a collection: %s", r.URL)
		}
		v := readings[min(gcs, len(readings)-1)]
		gcs++
		_ = json.NewEncoder(w).Encode(ServerStats{Goroutines: int(v), HeapInuse: v, HeapAlloc: v / 2})
	}))
	defer hs.Close()
	s := &session{srv: &serverProc{target: "ws" + strings.TrimPrefix(hs.URL, "http") + "/"}, out: &Outcome{}}
	st := s.settledStats(context.Background())
	if st.HeapInuse != 510 || st.HeapAlloc != 255 || st.Goroutines != 510 {
		t.Errorf("settled %+v, want the median of 510, 530, 500", st)
	}
	if gcs != 4 {
		t.Errorf("%d readings, want 4", gcs)
	}
}
