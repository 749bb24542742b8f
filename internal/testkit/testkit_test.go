package testkit

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeT records a Fatalf and ends the goroutine, as testing.T does.
type fakeT struct {
	testing.TB
	fatal string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// run calls f with a fakeT on a goroutine of its own and returns what it
// failed with ("" when it did not).
func run(t *testing.T, f func(tb testing.TB)) string {
	ft := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(ft)
	}()
	<-done
	return ft.fatal
}

func TestEventuallyWaitsForTheCondition(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ready atomic.Bool
		time.AfterFunc(time.Second, func() { ready.Store(true) })
		start := time.Now()
		if msg := run(t, func(tb testing.TB) { Eventually(tb, 2*time.Second, "ready", ready.Load) }); msg != "" {
			t.Fatalf("failed: %s", msg)
		}
		if d := time.Since(start); d < time.Second || d > time.Second+pollEvery {
			t.Fatalf("returned after %v, want 1 s (polling every %v)", d, pollEvery)
		}
	})
}

func TestEventuallyFailsAfterTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		msg := run(t, func(tb testing.TB) { Eventually(tb, 2*time.Second, "never", func() bool { return false }) })
		if msg != "timed out after 2s: waiting for never" {
			t.Fatalf("failed with %q", msg)
		}
		if d := time.Since(start); d < 2*time.Second || d > 2*time.Second+pollEvery {
			t.Fatalf("gave up after %v, want 2 s", d)
		}
	})
}

func TestPollFailsWithTheLastError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := 0
		msg := run(t, func(tb testing.TB) {
			Poll(tb, time.Second, func() error { n++; return fmt.Errorf("try %d", n) })
		})
		if want := fmt.Sprintf("timed out after 1s: try %d", n); msg != want || n < 2 {
			t.Fatalf("failed with %q after %d tries, want %q", msg, n, want)
		}
	})
}

func TestRecv(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := make(chan int, 1)
		time.AfterFunc(time.Second, func() { ch <- 7 })
		var got int
		if msg := run(t, func(tb testing.TB) { got = Recv(tb, ch, 2*time.Second, "seven") }); msg != "" || got != 7 {
			t.Fatalf("got %d, failed with %q", got, msg)
		}
		msg := run(t, func(tb testing.TB) { Recv(tb, ch, 2*time.Second, "another") })
		if msg != "timed out after 2s waiting for another" {
			t.Fatalf("failed with %q", msg)
		}
	})
}

// stub is a Server that answers 204 and records its shutdown.
type stub struct{ shut atomic.Bool }

func (s *stub) ServeHTTP(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }

func (s *stub) Shutdown(ctx context.Context) error {
	s.shut.Store(true)
	return ctx.Err()
}

func TestServe(t *testing.T) {
	srv := &stub{}
	var url string
	t.Run("serve", func(t *testing.T) {
		hs := Serve(t, srv)
		url = hs.URL
		if !strings.HasPrefix(url, "http://127.0.0.1:") {
			t.Fatalf("not on loopback: %s", url)
		}
		if ws := WSURL(hs, "/"); ws != "ws"+strings.TrimPrefix(url, "http")+"/" {
			t.Fatalf("WSURL %s for %s", ws, url)
		}
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent || srv.shut.Load() {
			t.Fatalf("status %d, shut down %v", resp.StatusCode, srv.shut.Load())
		}
	})
	if !srv.shut.Load() {
		t.Fatal("the server was not shut down at the end of the test")
	}
	if resp, err := http.Get(url); err == nil {
		resp.Body.Close()
		t.Fatal("the listener still answers after the test")
	}
}
