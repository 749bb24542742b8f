package server

import (
	"context"
	"net/http"
	"testing"

	"github.com/gobwas/ws"
)

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		origin  string
		allowed []string
		ok      bool
	}{
		{"", nil, true},
		{"http://rollcall.test:8080", nil, true}, // same host
		{"http://evil.test", nil, false},
		{"http://evil.test", []string{"*"}, true},
		{"https://app.example.com", []string{"https://app.example.com"}, true},
		{"http://app.example.com", []string{"https://app.example.com"}, false},
		{"https://a.example.com", []string{"*.example.com"}, true},
		{"https://example.com.evil.test", []string{"*.example.com"}, false},
		{"http://localhost:3000", []string{"localhost:*"}, true},
		{"null", nil, false},
		{"null", []string{"*"}, false},
		{"null", []string{"null"}, true},
		{"NULL", []string{"null"}, true},
		{"::bad", []string{"*.example.com"}, false},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest("GET", "http://rollcall.test:8080/", nil)
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		if got := originAllowed(r, false, nil, tt.allowed); got != tt.ok {
			t.Errorf("origin %q allowed %v: got %v", tt.origin, tt.allowed, got)
		}
	}
}

// TestOriginRejectedBeforeUpgrade: a foreign browser origin gets 403 and
// nothing is created; the server's own origin is accepted.
func TestOriginRejectedBeforeUpgrade(t *testing.T) {
	srv, url := startServer(t, Options{AllowedOrigins: []string{"https://ok.example"}})
	dialOrigin := func(origin string) error {
		d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {origin}})}
		conn, _, _, err := d.Dial(context.Background(), url)
		if err == nil {
			conn.Close()
		}
		return err
	}
	err := dialOrigin("https://evil.example")
	if se, ok := err.(ws.StatusError); !ok || int(se) != http.StatusForbidden {
		t.Fatalf("foreign origin: %v", err)
	}
	if n := srv.openConns(); n != 0 {
		t.Fatalf("%d sessions after a refused handshake", n)
	}
	if err := dialOrigin("https://ok.example"); err != nil {
		t.Fatalf("allowed origin: %v", err)
	}
	host := url[len("ws://") : len(url)-1]
	if err := dialOrigin("http://" + host); err != nil {
		t.Fatalf("same host: %v", err)
	}
}

// TestOriginForwardedHost: behind a proxy that sets X-Forwarded-Host and
// X-Forwarded-Proto, with TrustForwardedHost, the browser origin of the
// proxy's host passes (with the proxy's scheme only) and the upstream's own
// host no longer does; without TrustForwardedHost the headers count for
// nothing.
func TestOriginForwardedHost(t *testing.T) {
	dial := func(url string, h http.Header) error {
		d := ws.Dialer{Header: ws.HandshakeHeaderHTTP(h)}
		conn, _, _, err := d.Dial(context.Background(), url)
		if err == nil {
			conn.Close()
		}
		return err
	}
	proxied := func(origin, proto string) http.Header {
		h := http.Header{"Origin": {origin}, "X-Forwarded-Host": {"presence.example.com"}}
		if proto != "" {
			h.Set("X-Forwarded-Proto", proto)
		}
		return h
	}
	forbidden := func(err error) bool {
		se, ok := err.(ws.StatusError)
		return ok && int(se) == http.StatusForbidden
	}

	_, trusting := startServer(t, Options{TrustForwardedHost: true})
	self := "http://" + trusting[len("ws://"):len(trusting)-1]
	for _, c := range []struct {
		name string
		h    http.Header
		ok   bool
	}{
		{"proxy's origin over https", proxied("https://presence.example.com", "https"), true},
		{"proxy's origin with the default port", proxied("https://presence.example.com:443", "https"), true},
		{"proxy's origin, no proto", proxied("https://presence.example.com", ""), true},
		{"proxy's host, other scheme", proxied("http://presence.example.com", "https"), false},
		{"proxy's host, other port", proxied("https://presence.example.com:8443", "https"), false},
		{"upstream's host through the proxy", proxied(self, "http"), false},
		{"foreign origin", proxied("https://evil.example", "https"), false},
		{"reached directly", http.Header{"Origin": {self}}, true},
	} {
		err := dial(trusting, c.h)
		if c.ok && err != nil || !c.ok && !forbidden(err) {
			t.Errorf("trusting, %s: %v, want allowed %v", c.name, err, c.ok)
		}
	}

	_, plain := startServer(t, Options{})
	if err := dial(plain, proxied("https://presence.example.com", "https")); !forbidden(err) {
		t.Errorf("not trusting, proxy's origin: %v, want 403", err)
	}
}
