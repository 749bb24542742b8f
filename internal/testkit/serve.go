package testkit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Server is what Serve runs: an http.Handler that can be shut down, as
// *server.Server.
type Server interface {
	http.Handler
	Shutdown(ctx context.Context) error
}

// Serve runs srv on a loopback httptest.Server. When the test ends, srv is
// shut down (within Timeout; an error fails the test) and the listener
// closed.
func Serve(t testing.TB, srv Server) *httptest.Server {
	t.Helper()
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return hs
}

// WSURL is the ws:// address of hs with path appended ("/" for the sgc
// endpoint).
func WSURL(hs *httptest.Server, path string) string {
	return "ws" + strings.TrimPrefix(hs.URL, "http") + path
}
