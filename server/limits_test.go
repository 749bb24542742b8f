package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// handshake sends a WebSocket handshake to u from the local IP from ("":
// any) and returns the response. A 101 leaves the connection open until
// the test ends; any other answer is read whole.
func handshake(t *testing.T, u, from string, h http.Header) (*http.Response, string) {
	t.Helper()
	d := net.Dialer{Timeout: testTimeout}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	hostPort, path, _ := strings.Cut(strings.TrimPrefix(u, "ws://"), "/")
	conn, err := d.Dial("tcp", hostPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(testTimeout))
	req, err := http.NewRequest(http.MethodGet, "http://"+hostPort+"/"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Sec-WebSocket-Protocol", sgcwire.Subprotocol)
	if err := req.Write(conn); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		_ = conn.SetDeadline(time.Time{})
		return resp, ""
	}
	body, _ := io.ReadAll(resp.Body)
	conn.Close()
	return resp, string(body)
}

// waitOpen waits until the server has n connections open.
func waitOpen(t *testing.T, srv *Server, n int) {
	t.Helper()
	testkit.Eventually(t, testTimeout, fmt.Sprintf("%d connections open", n), func() bool { return srv.openConns() == n })
}

// TestMaxConnections: past Limits.MaxConnections a handshake is answered
// 503 with a text before any upgrade; a connection that ends gives its
// place back.
func TestMaxConnections(t *testing.T) {
	srv, u := startServer(t, Options{APIKey: "k", Limits: Limits{MaxConnections: 2}})
	a := dial(t, u)
	dial(t, u)
	resp, body := handshake(t, u, "", nil)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "--max-connections") {
		t.Fatalf("third connection: %d %q, want 503 naming --max-connections", resp.StatusCode, body)
	}
	if n := srv.openConns(); n != 2 {
		t.Fatalf("%d connections open", n)
	}
	a.conn.Close()
	waitOpen(t, srv, 1)
	if resp, body := handshake(t, u, "", nil); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("after one left: %d %q", resp.StatusCode, body)
	}
	if got := scrape(t, srv, `rollcall_connections_refused_total{limit="max_connections"}`); got != 1 {
		t.Errorf("refusals counted %v, want 1", got)
	}
}

// TestMaxConnectionsPerIP: past Limits.MaxConnectionsPerIP from one
// address a handshake gets 429 with a text; another address still gets
// in.
func TestMaxConnectionsPerIP(t *testing.T) {
	srv, u := startServer(t, Options{Limits: Limits{MaxConnectionsPerIP: 2}})
	for range 2 {
		if resp, body := handshake(t, u, "127.0.0.1", nil); resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
	}
	resp, body := handshake(t, u, "127.0.0.1", nil)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "--max-connections-per-ip") {
		t.Fatalf("third connection from one address: %d %q, want 429 naming --max-connections-per-ip", resp.StatusCode, body)
	}
	if resp, body := handshake(t, u, "127.0.0.2", nil); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("from another address: %d %q", resp.StatusCode, body)
	}
	waitOpen(t, srv, 3)
}

// TestBodyTimeout: a request body sent one byte at a time is cut off after
// Limits.BodyTimeout, long before it would be complete.
func TestBodyTimeout(t *testing.T) {
	_, u := startServer(t, Options{APIKey: "k", Limits: Limits{BodyTimeout: 300 * time.Millisecond}})
	conn, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(u, "ws://"), "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const size = 400 // at one byte per 25 ms: 10 s
	fmt.Fprintf(conn, "POST /api/broadcast HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size)
	cut := make(chan struct{})
	go func() {
		defer close(cut)
		_ = conn.SetReadDeadline(time.Now().Add(testTimeout))
		_, _ = io.Copy(io.Discard, conn) // the answer, then EOF when the server hangs up
	}()
	start := time.Now()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for sent := 0; sent < size; sent++ {
		select {
		case <-cut:
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("cut off after %v", d)
			}
			return
		case <-tick.C:
		}
		if _, err := conn.Write([]byte(" ")); err != nil {
			<-cut
			return // the server closed the connection
		}
	}
	t.Fatal("the whole slow body was read")
}

// TestDashboardStreamsCapped: past Limits.MaxDashboardStreams a new
// /dashboard/events stream gets 503; a closed one frees its place.
func TestDashboardStreamsCapped(t *testing.T) {
	srv, u := startServer(t, Options{Dashboard: true, Limits: Limits{MaxDashboardStreams: 2}})
	_, cancel := openEvents(t, u)
	openEvents(t, u)
	waitStreams(t, srv, 2)
	resp, err := http.Get(httpBase(u) + "/dashboard/events")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "dashboard streams") {
		t.Fatalf("third stream: %d %q, want 503", resp.StatusCode, body)
	}
	cancel()
	waitStreams(t, srv, 1)
	openEvents(t, u)
}

// TestAuthThrottled: after Auth.FailuresPerMinute failed logins from one
// address, its handshakes get 429 with Retry-After, right credentials
// too, until the minute is over; failures of every credential path count,
// and /metrics counts them.
func TestAuthThrottled(t *testing.T) {
	srv, u := startServer(t, Options{APIKey: "k", Auth: Auth{Basic: basicAuth, FailuresPerMinute: 3}})
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	srv.authThrottle.now = clock.Now
	for _, h := range []http.Header{basicHeader("alice", "guess"), basicHeader("mallory", "x"), nil} {
		if resp, body := handshake(t, u, "", h); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%d %q, want 401", resp.StatusCode, body)
		}
	}
	for _, h := range []http.Header{basicHeader("alice", "guess"), basicHeader("alice", "s3cret")} {
		resp, body := handshake(t, u, "", h)
		if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "too many failed") {
			t.Fatalf("after 3 failures: %d %q, want 429", resp.StatusCode, body)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
			t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	if resp, _ := handshake(t, u, "127.0.0.2", basicHeader("alice", "s3cret")); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("another address: %d", resp.StatusCode)
	}
	if got := scrape(t, srv, "rollcall_auth_failures_total"); got != 3 {
		t.Errorf("rollcall_auth_failures_total %v, want 3", got)
	}
	if got := scrape(t, srv, "rollcall_auth_throttled_total"); got != 2 {
		t.Errorf("rollcall_auth_throttled_total %v, want 2", got)
	}
	clock.Advance(time.Minute)
	if resp, _ := handshake(t, u, "", basicHeader("alice", "s3cret")); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("a minute later: %d", resp.StatusCode)
	}
	// URL credentials count too.
	for range 3 {
		if resp, _ := handshake(t, strings.TrimSuffix(u, "/")+URLAuthPrefix+"alice/guess", "", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("URL credentials: %d", resp.StatusCode)
		}
	}
	if resp, _ := handshake(t, u, "", basicHeader("alice", "s3cret")); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 3 URL failures: %d, want 429", resp.StatusCode)
	}
}

// scrape reads one sample of GET /metrics (the server's API key is "k"
// or none).
func scrape(t *testing.T, srv *Server, sample string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.Header.Set("Authorization", "Bearer k")
	srv.ServeHTTP(rec, r)
	for line := range strings.Lines(rec.Body.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), sample+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", sample)
	return 0
}

// TestJWTClaims: exp that is not a number is refused; MaxAge refuses
// tokens issued too long ago or without iat; NameClaim names the claim
// holding the display name.
func TestJWTClaims(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Now()
	_, plain := startServer(t, Options{Auth: Auth{JWT: &JWTAuth{Secret: secret}}})
	_, aged := startServer(t, Options{Auth: Auth{JWT: &JWTAuth{Secret: secret, MaxAge: time.Hour, NameClaim: "preferred_username"}}})
	exp := now.Add(time.Hour).Unix()
	for _, tc := range []struct {
		name   string
		url    string
		claims jwt.MapClaims
		want   string // refusal text; "" accepted
	}{
		{"exp a string", plain, jwt.MapClaims{"sub": "u", "exp": strconv.FormatInt(exp, 10)}, "exp is not a number"},
		{"nbf a string", plain, jwt.MapClaims{"sub": "u", "exp": exp, "nbf": "1"}, "nbf is not a number"},
		{"exp a number", plain, jwt.MapClaims{"sub": "u", "exp": exp}, ""},
		{"no iat", aged, jwt.MapClaims{"sub": "u", "exp": exp}, "no iat"},
		{"too old", aged, jwt.MapClaims{"sub": "u", "exp": exp, "iat": now.Add(-2 * time.Hour).Unix()}, "too old"},
		{"fresh", aged, jwt.MapClaims{"sub": "u", "exp": exp, "iat": now.Unix(), "preferred_username": "Dana"}, ""},
		{"name not a string", aged, jwt.MapClaims{"sub": "u", "exp": exp, "iat": now.Unix(), "preferred_username": 7}, "not a string"},
	} {
		tok := sign(t, jwt.SigningMethodHS256, secret, tc.claims)
		resp, body := handshake(t, tc.url, "", bearer(tok))
		switch {
		case tc.want == "" && resp.StatusCode != http.StatusSwitchingProtocols:
			t.Errorf("%s: %d %q, want accepted", tc.name, resp.StatusCode, body)
		case tc.want != "" && (resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, tc.want)):
			t.Errorf("%s: %d %q, want 401 saying %q", tc.name, resp.StatusCode, body, tc.want)
		}
	}
	c := dialAuth(t, aged, bearer(sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{
		"sub": "u-dana", "exp": exp, "iat": now.Unix(), "name": "ignored", "preferred_username": "Dana"})))
	if m := c.joinAs("someone else"); m.Name != "Dana" || m.ID != "u-dana" {
		t.Fatalf("joined as %+v, want the name from preferred_username", m)
	}
}

// TestPublicOrigins: with PublicOrigins set, a browser origin must be one
// of them (or allowed); an origin naming the request's Host no longer
// passes, since a proxy or a rebinding page controls that header.
func TestPublicOrigins(t *testing.T) {
	if _, err := New(Options{PublicOrigins: []string{"presence.example.com"}}); err == nil {
		t.Fatal("a public origin without a scheme was accepted")
	}
	_, u := startServer(t, Options{PublicOrigins: []string{"https://presence.example.com/"}, AllowedOrigins: []string{"https://app.example.com"}})
	self := "http://" + strings.TrimSuffix(strings.TrimPrefix(u, "ws://"), "/")
	for origin, want := range map[string]int{
		"https://presence.example.com":     http.StatusSwitchingProtocols,
		"https://presence.example.com:443": http.StatusSwitchingProtocols,
		"https://app.example.com":          http.StatusSwitchingProtocols,
		"http://presence.example.com":      http.StatusForbidden,
		self:                               http.StatusForbidden, // the Host header alone
		"https://evil.example":             http.StatusForbidden,
	} {
		if got := dialOriginStatus(t, u, origin); got != want {
			t.Errorf("Origin %s: %d, want %d", origin, got, want)
		}
	}
	// Without PublicOrigins the request's own host passes, as before.
	_, open := startServer(t, Options{})
	if got := dialOriginStatus(t, open, "http://"+strings.TrimSuffix(strings.TrimPrefix(open, "ws://"), "/")); got != http.StatusSwitchingProtocols {
		t.Errorf("own host without public origins: %d", got)
	}
}
