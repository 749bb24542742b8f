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
		if got := originAllowed(r, nil, tt.allowed); got != tt.ok {
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
