package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/server"
)

func testHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestParseUsers(t *testing.T) {
	h := testHash(t, "pw")
	users, err := parseUsers(strings.NewReader("# team\n\nalice:"+h+"\nbob:"+h+":Bob B.:night shift:ops, sales/eu\ncarol:"+h+"::info only\n"), "users")
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 3 || users["bob"].name != "Bob B." || users["bob"].info != "night shift" ||
		!slices.Equal(users["bob"].groups, []string{"ops", "sales/eu"}) || users["carol"].info != "info only" || users["alice"].name != "" {
		t.Fatalf("users %+v", users)
	}
	for _, tc := range []struct{ file, want string }{
		{"alice\n", "users:1: want login:bcrypt-hash"},
		{"# c\nalice:\n", "users:2: want login"},
		{":" + h + "\n", "users:1: want login"},
		{"alice:plaintext\n", `users:1: user "alice": the password must be a bcrypt hash`},
		{"alice:" + h + "\n\nalice:" + h + "\n", `users:3: user "alice" is listed twice`},
		{"# nobody\n", "users: no users"},
	} {
		_, err := parseUsers(strings.NewReader(tc.file), "users")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.file, err, tc.want)
		}
	}
	if _, err := loadUsers(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Fatal("missing users file accepted")
	}
}

func TestHashPassword(t *testing.T) {
	var out, errb strings.Builder
	if code := run([]string{"hash-password"}, strings.NewReader("correct horse\n"), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	hash := strings.TrimSpace(out.String())
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte("correct horse")); err != nil {
		t.Fatalf("hash %q does not verify: %v", hash, err)
	}
	// the printed hash works in a users file
	users, err := parseUsers(strings.NewReader("alice:"+hash+"\n"), "users")
	if err != nil {
		t.Fatal(err)
	}
	check := mustBasicAuth(t, users)
	if _, err := check(context.Background(), nil, "alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	if _, err := check(context.Background(), nil, "alice", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
	if _, err := check(context.Background(), nil, "mallory", "correct horse"); err == nil {
		t.Fatal("unknown user accepted")
	}
	errb.Reset()
	if code := run([]string{"hash-password"}, strings.NewReader(""), &out, &errb); code != 2 || !strings.Contains(errb.String(), "empty password") {
		t.Fatalf("empty: %d %q", code, errb.String())
	}
}

func mustBasicAuth(t *testing.T, users map[string]user) func(context.Context, *http.Request, string, string) (server.Identity, error) {
	t.Helper()
	f, err := basicAuth(users)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestHashPasswordTooLong: bcrypt reads 72 bytes of a password; a longer
// one is refused, not cut.
func TestHashPasswordTooLong(t *testing.T) {
	var out, errb strings.Builder
	if code := run([]string{"hash-password"}, strings.NewReader(strings.Repeat("x", 73)+"\n"), &out, &errb); code != 2 || !strings.Contains(errb.String(), "at most 72") || out.Len() != 0 {
		t.Fatalf("73 bytes: exit %d, %q %q", code, out.String(), errb.String())
	}
	errb.Reset()
	if code := run([]string{"hash-password"}, strings.NewReader(strings.Repeat("x", 72)+"\n"), &out, &errb); code != 0 {
		t.Fatalf("72 bytes: exit %d: %s", code, errb.String())
	}
}

// TestUnknownUserCostsAsMuch: an unknown user name is checked against a
// decoy hash of the users' bcrypt cost, so that over the wire it takes as
// long as a wrong password.
func TestUnknownUserCostsAsMuch(t *testing.T) {
	const cost = 10
	h, err := bcrypt.GenerateFromPassword([]byte("pw"), cost)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]user{"alice": {hash: h}, "bob": {hash: []byte(testHash(t, "pw"))}}
	decoy, err := decoyHash(users)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost(decoy); c != cost {
		t.Fatalf("decoy cost %d, want the users' highest, %d", c, cost)
	}
	srv, err := server.New(server.Options{Auth: server.Auth{Basic: mustBasicAuth(t, users), FailuresPerMinute: server.NoLimit}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	refusedIn := func(user string) time.Duration {
		req, _ := http.NewRequest(http.MethodGet, hs.URL+"/", nil)
		req.SetBasicAuth(user, "guess")
		for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
			"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": sgcwire.Subprotocol} {
			req.Header.Set(k, v)
		}
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: status %d", user, resp.StatusCode)
		}
		return time.Since(start)
	}
	median := func(user string) time.Duration {
		var d []time.Duration
		for range 5 {
			d = append(d, refusedIn(user))
		}
		slices.Sort(d)
		return d[2]
	}
	known, unknown := median("alice"), median("mallory")
	// Equal work: within a wide margin (a MinCost decoy is ~50 times faster).
	if unknown < known/3 {
		t.Fatalf("unknown user refused in %v, wrong password in %v", unknown, known)
	}
}

func TestServeAuthFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--auth", "basic"}, "--auth basic needs --users"},
		{[]string{"--auth", "jwt"}, "needs one of --jwt-secret"},
		{[]string{"--auth", "jwt", "--jwt-secret", "s", "--jwt-public-key", "k.pem"}, "needs one of --jwt-secret"},
		{[]string{"--auth", "magic"}, "bad --auth"},
		{[]string{"--users", "u"}, "need --auth basic"},
		{[]string{"--auth", "basic", "--users", "/nonexistent/users"}, "users file"},
		{[]string{"--auth", "jwt", "--jwt-public-key", "/nonexistent/key.pem"}, "public key"},
	} {
		var out, errb strings.Builder
		if code := run(append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...), nil, &out, &errb); code == 0 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d %q, want %q", tc.args, code, errb.String(), tc.want)
		}
	}
	// YAML and the environment
	dir := t.TempDir()
	path := filepath.Join(dir, "rollcall.yaml")
	if err := os.WriteFile(path, []byte("auth:\n  mode: jwt\n  jwt_audience: rc\n  refuse_name_mismatch: true\n  app_member_ids: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ROLLCALL_JWT_SECRET", "from-env")
	cfg, err := loadConfig([]string{"--config", path, "--jwt-issuer", "me"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := cfg.authOptions()
	if err != nil || a.JWT == nil || string(a.JWT.Secret) != "from-env" || a.JWT.Audience != "rc" || a.JWT.Issuer != "me" || !a.RefuseNameMismatch || !a.AppMemberIDs {
		t.Fatalf("auth %+v %v", a, err)
	}
}

// TestServeBasicAuthEndToEnd runs the binary with --auth basic.
func TestServeBasicAuthEndToEnd(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	if err := os.WriteFile(users, []byte("# test users\nalice:"+testHash(t, "s3cret")+":Alice A.:ops:staff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, addr, logs := startBinary(t, nil, "serve", "--addr", "127.0.0.1:0", "--auth", "basic", "--users", users)
	go func() {
		for logs.Scan() {
		}
	}()
	dialPath := func(user, pass, path string) (io.ReadWriter, func(), error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h := http.Header{}
		if user != "" {
			r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
			r.SetBasicAuth(user, pass)
			h = r.Header
		}
		conn, br, _, err := ws.Dialer{Protocols: []string{sgcwire.Subprotocol}, Header: ws.HandshakeHeaderHTTP(h)}.Dial(ctx, "ws://"+addr+path)
		if err != nil {
			return nil, nil, err
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		rd := wsStream(conn, br)
		return rd, func() { conn.Close() }, nil
	}
	dial := func(user, pass string) (io.ReadWriter, func(), error) { return dialPath(user, pass, "/") }
	// sgc's browser client's form: the credentials in the path, checked
	// against the same users file.
	for _, path := range []string{"/sgc/auth/url/alice/wrong", "/sgc/auth/url/bob/s3cret", "/sgc/auth/url/alice"} {
		_, _, err := dialPath("", "", path)
		var se ws.StatusError
		if !errors.As(err, &se) || int(se) != http.StatusUnauthorized {
			t.Fatalf("%s: %v, want 401", path, err)
		}
	}
	if rd, closeConn, err := dialPath("", "", "/sgc/auth/url/alice/s3cr%65t"); err != nil {
		t.Fatalf("URL credentials: %v", err)
	} else {
		if first, err := wsutil.ReadServerText(rd); err != nil || !strings.Contains(string(first), sgcwire.MethodSession) {
			t.Fatalf("session frame: %s %v", first, err)
		}
		closeConn()
	}
	for _, cred := range [][2]string{{"alice", "wrong"}, {"bob", "s3cret"}, {"", ""}} {
		_, _, err := dial(cred[0], cred[1])
		var se ws.StatusError
		if !errors.As(err, &se) || int(se) != http.StatusUnauthorized {
			t.Fatalf("%v: %v, want 401", cred, err)
		}
	}
	rd, closeConn, err := dial("alice", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	defer closeConn()
	if first, err := wsutil.ReadServerText(rd); err != nil || !strings.Contains(string(first), sgcwire.MethodSession) {
		t.Fatalf("session frame: %s %v", first, err)
	}
	join := sgcwire.Encoder{}.Encode(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{Name: "mallory"}})
	if err := wsutil.WriteClientText(rd, join); err != nil {
		t.Fatal(err)
	}
	b, err := wsutil.ReadServerText(rd)
	if err != nil {
		t.Fatal(err)
	}
	m, err := sgcwire.Decode(b)
	if err != nil || m.Method != sgcwire.MethodNewMember || m.Member != (sgcwire.Member{ID: "alice", Name: "Alice A.", Info: "ops"}) {
		t.Fatalf("join echo %s %v", b, err)
	}
}
