package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// logBuffer collects a server's log output for a test.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the log lines that contain every one of want.
func (l *logBuffer) lines(want ...string) []string {
	var out []string
next:
	for _, line := range strings.Split(l.String(), "\n") {
		for _, w := range want {
			if !strings.Contains(line, w) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

func (l *logBuffer) logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: level}))
}

// The credentials of TestURLAuth: a user name and a password that need
// escaping in a path (a slash, a space, a percent sign, non-ASCII).
const (
	urlUser = "bob smith/ops"
	urlPass = "pä ss/w%rd"
)

func urlAuthPath(base, user, pass string) string {
	return strings.TrimSuffix(base, "/") + URLAuthPrefix + url.PathEscape(user) + "/" + url.PathEscape(pass)
}

// TestURLAuth: sgc's browser client sends its credentials in the path
// /sgc/auth/url/<user>/<password>. On a server with Basic authentication
// they are checked by the same callback as the Authorization header, after
// URL-decoding each segment; wrong or absent credentials get 401; the
// credentials are never logged.
func TestURLAuth(t *testing.T) {
	var logs logBuffer
	var calls sync.Map
	gone := make(chan struct{}, 2)
	srv, u := startServer(t, Options{
		Logger:       logs.logger(slog.LevelDebug),
		OnDisconnect: func(*presence.Conn, int) { gone <- struct{}{} },
		Auth: Auth{Basic: func(_ context.Context, r *http.Request, user, password string) (Identity, error) {
			calls.Store(user, password)
			if user == urlUser && password == urlPass {
				return Identity{Info: "from the URL"}, nil
			}
			return Identity{}, errors.New("wrong password for " + user) // a cause, logged at debug
		}},
	})

	c := dialAuth(t, urlAuthPath(u, urlUser, urlPass), nil)
	if m := c.joinAs(""); m.ID != urlUser || m.Name != urlUser || m.Info != "from the URL" {
		t.Fatalf("joined as %+v, want the URL's user", m)
	}
	if got, _ := calls.Load(urlUser); got != urlPass {
		t.Fatalf("the callback got password %q, want %q", got, urlPass)
	}
	// An Authorization header wins over credentials in the path.
	h := dialAuth(t, urlAuthPath(u, "mallory", "x"), basicHeader(urlUser, urlPass))
	h.expectNothing(50 * time.Millisecond)
	_ = h.conn.Close()
	_ = c.conn.Close()
	for range 2 {
		select {
		case <-gone:
		case <-time.After(testTimeout):
			t.Fatal("the connections did not end")
		}
	}

	for _, tc := range []struct {
		name, path, reason string
	}{
		{"wrong password", urlAuthPath(u, urlUser, "nope"), "wrong user name or password"},
		{"unknown user", urlAuthPath(u, "mallory", urlPass), "wrong user name or password"},
		{"no password segment", strings.TrimSuffix(u, "/") + URLAuthPrefix + url.PathEscape(urlUser), "malformed URL credentials"},
		{"empty password", strings.TrimSuffix(u, "/") + URLAuthPrefix + url.PathEscape(urlUser) + "/", "malformed URL credentials"},
		{"prefix only", strings.TrimSuffix(u, "/") + URLAuthPrefix, "malformed URL credentials"},
		{"three segments", urlAuthPath(u, urlUser, urlPass) + "/x", "malformed URL credentials"},
		{"absent", u, "missing credentials"},
		{"prefix without slash", strings.TrimSuffix(u, "/") + "/sgc/auth/url", "missing credentials"},
	} {
		resp, body := refused(t, tc.path, nil)
		if !strings.Contains(body, tc.reason) {
			t.Errorf("%s: body %q, want %q", tc.name, body, tc.reason)
		}
		if resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", tc.name)
		}
	}
	nothingCreated(t, srv)

	out := logs.String()
	for _, secret := range []string{urlPass, url.PathEscape(urlPass), "nope"} {
		if strings.Contains(out, secret) {
			t.Fatalf("a password (%q) reached the log:\n%s", secret, out)
		}
	}
	if len(logs.lines("websocket authentication refused", "wrong user name or password")) == 0 {
		t.Fatalf("refusals not logged at debug:\n%s", out)
	}
}

// TestURLAuthPathOnOpenServer: on a server without authentication the path
// is an ordinary upgrade path; the member is the session's.
func TestURLAuthPathOnOpenServer(t *testing.T) {
	_, u := startServer(t, Options{})
	c := dialAuth(t, urlAuthPath(u, "alice", "whatever"), nil)
	if m := c.join("alice", ""); m.ID != c.session {
		t.Fatalf("member id %q, want the session %q", m.ID, c.session)
	}
}

// TestURLAuthJWTOnly: on a server that only takes JWTs the URL credentials
// are not credentials: 401, naming what to send.
func TestURLAuthJWTOnly(t *testing.T) {
	_, u := startServer(t, Options{Auth: Auth{JWT: &JWTAuth{Secret: []byte("k")}}})
	_, body := refused(t, urlAuthPath(u, "alice", "s3cret"), nil)
	if !strings.Contains(body, "missing credentials") || strings.Contains(body, URLAuthPrefix) {
		t.Fatalf("body %q", body)
	}
}

// fakeClock is an injectable clock for the refusal log.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func dialOriginStatus(t *testing.T, u, origin string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	d := ws.Dialer{Protocols: []string{sgcwire.Subprotocol}, Header: ws.HandshakeHeaderHTTP(http.Header{"Origin": {origin}})}
	conn, _, _, err := d.Dial(ctx, u)
	if err == nil {
		conn.Close()
		return http.StatusSwitchingProtocols
	}
	var se ws.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("dial with origin %q: %v", origin, err)
	}
	return int(se)
}

// TestOriginNull: a page opened from a file sends "Origin: null". It is
// refused by default, and with "*", and allowed when --allowed-origins
// names null.
func TestOriginNull(t *testing.T) {
	for _, tc := range []struct {
		allowed []string
		status  int
	}{
		{nil, http.StatusForbidden},
		{[]string{"*"}, http.StatusForbidden},
		{[]string{"https://app.example.com"}, http.StatusForbidden},
		{[]string{"null"}, http.StatusSwitchingProtocols},
		{[]string{"https://app.example.com", "NULL"}, http.StatusSwitchingProtocols},
	} {
		_, u := startServer(t, Options{AllowedOrigins: tc.allowed})
		if got := dialOriginStatus(t, u, "null"); got != tc.status {
			t.Errorf("allowed %q: Origin null got %d, want %d", tc.allowed, got, tc.status)
		}
	}
}

// TestRefusalsLoggedOncePerAddress: refused handshakes (403 origin, 401
// credentials) are logged at info with their reason, once per remote IP
// per minute (an injected clock moves the minute on).
func TestRefusalsLoggedOncePerAddress(t *testing.T) {
	var logs logBuffer
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	srv, u := startServer(t, Options{
		Logger: logs.logger(slog.LevelInfo),
		Auth: Auth{Basic: func(_ context.Context, _ *http.Request, user, password string) (Identity, error) {
			if user == "alice" && password == "s3cret" {
				return Identity{}, nil
			}
			return Identity{}, errors.New("no")
		}},
	})
	srv.refusals.now = clock.Now
	refusal := func() []string { return logs.lines(`msg="websocket handshake refused"`, "remote=127.0.0.1") }

	for range 2 {
		if got := dialOriginStatus(t, u, "null"); got != http.StatusForbidden {
			t.Fatalf("Origin null: %d, want 403", got)
		}
	}
	lines := refusal()
	if len(lines) != 1 {
		t.Fatalf("%d log lines for two refusals within a minute, want 1:\n%s", len(lines), logs.String())
	}
	for _, want := range []string{"level=INFO", "status=403", "origin=null", "reason=", "--allowed-origins names null"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line lacks %q: %s", want, lines[0])
		}
	}
	// A 401 from the same address within the minute is not logged either.
	refused(t, urlAuthPath(u, "alice", "wrong"), nil)
	if n := len(refusal()); n != 1 {
		t.Fatalf("%d lines after a third refusal within the minute:\n%s", n, logs.String())
	}

	clock.Advance(refusalLogEvery)
	refused(t, urlAuthPath(u, "alice", "wrong-pw"), nil)
	lines = refusal()
	if len(lines) != 2 || !strings.Contains(lines[1], "status=401") || !strings.Contains(lines[1], `reason="wrong user name or password"`) {
		t.Fatalf("after a minute, want a second line for the 401:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "wrong-pw") {
		t.Fatal("the password reached the log")
	}
}

// TestRefusalLogBounded: the refusal log remembers at most refusalLogMax
// addresses; refusals from more addresses within the minute are summed up
// in one line, and addresses are forgotten after a minute.
func TestRefusalLogBounded(t *testing.T) {
	var logs logBuffer
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	l := newRefusalLog(logs.logger(slog.LevelInfo))
	l.now = clock.Now
	req := func(i int) *http.Request {
		return &http.Request{RemoteAddr: fmt.Sprintf("10.%d.%d.%d:4242", i>>16&255, i>>8&255, i&255)}
	}
	for i := range refusalLogMax + 10 {
		l.refused(req(i), http.StatusUnauthorized, "missing credentials")
	}
	if n := l.size(); n != refusalLogMax {
		t.Fatalf("%d addresses remembered, want %d", n, refusalLogMax)
	}
	if n := len(logs.lines(`msg="websocket handshake refused"`)); n != refusalLogMax {
		t.Fatalf("%d lines, want one per remembered address (%d)", n, refusalLogMax)
	}
	if s := logs.lines("too many addresses", "unlogged=1"); len(s) != 1 {
		t.Fatalf("want one summary line:\n%s", strings.Join(logs.lines("too many"), "\n"))
	}
	clock.Advance(refusalLogEvery)
	l.refused(req(refusalLogMax+100), http.StatusUnauthorized, "missing credentials")
	if n := l.size(); n != 1 {
		t.Fatalf("%d addresses remembered a minute later, want 1", n)
	}
}

// TestDoubledLeadingSlash: sgc's base library joins its host and path as
// given, so a host with a trailing slash opens "//sgc/auth/url/…". Such a
// handshake is served as its path with one slash: right credentials
// connect as their user, wrong ones get 401 (and are logged) rather than a
// redirect a browser cannot follow; a plain request on such a path is not
// an upgrade and is left to the mux.
func TestDoubledLeadingSlash(t *testing.T) {
	var logs logBuffer
	_, u := startServer(t, Options{
		Logger: logs.logger(slog.LevelDebug),
		Auth: Auth{Basic: func(_ context.Context, _ *http.Request, user, password string) (Identity, error) {
			if user == urlUser && password == urlPass {
				return Identity{}, nil
			}
			return Identity{}, errors.New("no")
		}},
	})
	host := strings.TrimSuffix(u, "/") + "/" // as a page writes it: "ws://host:port/"
	doubled := func(user, pass string) string {
		return host + URLAuthPrefix + url.PathEscape(user) + "/" + url.PathEscape(pass)
	}
	if !strings.Contains(doubled(urlUser, urlPass), "//sgc/") {
		t.Fatalf("the test path %q has no doubled slash", doubled(urlUser, urlPass))
	}
	c := dialAuth(t, doubled(urlUser, urlPass), nil)
	if m := c.joinAs(""); m.ID != urlUser {
		t.Fatalf("joined as %+v, want %q", m, urlUser)
	}
	resp, body := refused(t, doubled(urlUser, "wrong"), nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "wrong user name or password") {
		t.Fatalf("wrong password on a doubled slash: %d %q, want 401", resp.StatusCode, body)
	}
	if len(logs.lines("websocket authentication refused")) == 0 {
		t.Fatalf("the refusal was not logged:\n%s", logs.String())
	}
	_, body = refused(t, strings.TrimSuffix(u, "/")+"///sgc/auth/url", nil)
	if !strings.Contains(body, "missing credentials") {
		t.Fatalf("three slashes: %q, want the missing credentials named", body)
	}
}
