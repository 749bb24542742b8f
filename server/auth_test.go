package server

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// dialAuth opens a presence connection with extra handshake headers and
// reads the session frame.
func dialAuth(t *testing.T, u string, h http.Header) *rawClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	conn, br, _, err := ws.Dialer{Protocols: []string{sgcwire.Subprotocol}, Header: ws.HandshakeHeaderHTTP(h)}.Dial(ctx, u)
	if err != nil {
		t.Fatalf("dial %s: %v", u, err)
	}
	if br == nil {
		br = bufio.NewReader(conn)
	}
	c := &rawClient{t: t, conn: conn, br: br}
	t.Cleanup(func() { conn.Close() })
	m := c.read()
	if m.Method != sgcwire.MethodSession || len(m.Text) != 32 {
		t.Fatalf("first frame is not a session: %+v", m)
	}
	c.session = m.Text
	return c
}

// refused checks that a handshake is answered 401 (before any upgrade)
// and returns the response, whose body holds the reason.
func refused(t *testing.T, u string, h http.Header) (*http.Response, string) {
	t.Helper()
	hu := "http" + strings.TrimPrefix(u, "ws")
	req, err := http.NewRequest(http.MethodGet, hu, nil)
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
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	_, _ = bufio.NewReader(resp.Body).WriteTo(&body)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d (%s), want 401", resp.StatusCode, body.String())
	}
	// the gobwas dialer sees the same status
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	_, _, _, err = ws.Dialer{Protocols: []string{sgcwire.Subprotocol}, Header: ws.HandshakeHeaderHTTP(h)}.Dial(ctx, u)
	var se ws.StatusError
	if !errors.As(err, &se) || int(se) != http.StatusUnauthorized {
		t.Fatalf("dialer: %v, want status 401", err)
	}
	return resp, body.String()
}

// nothingCreated checks that refused handshakes left no trace.
func nothingCreated(t *testing.T, srv *Server) {
	t.Helper()
	if n := srv.openConns(); n != 0 {
		t.Fatalf("%d sessions after refused handshakes", n)
	}
	if n := srv.Engine().MemberCount(); n != 0 {
		t.Fatalf("%d members after refused handshakes", n)
	}
}

// joinAs sends member@new with the session id and the claimed name and
// returns the member the server echoes (a connection's first member@new
// is its own join: it hears nobody before joining).
func (c *rawClient) joinAs(name string) sgcwire.Member {
	c.t.Helper()
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: c.session, Name: name, Info: "claimed"}})
	return c.expect(sgcwire.MethodNewMember, nil).Member
}

func basicHeader(user, pass string) http.Header {
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	r.SetBasicAuth(user, pass)
	return http.Header{"Authorization": r.Header["Authorization"]}
}

type account struct{ plan string }

func basicAuth(ctx context.Context, r *http.Request, user, password string) (Identity, error) {
	if user == "alice" && password == "s3cret" {
		return Identity{ID: "u-alice", Name: "Alice", Info: "ops", Data: &account{plan: "gold"}, Groups: []string{"staff", "sales/eu"}}, nil
	}
	return Identity{}, errors.New("bad password")
}

func TestAuthBasic(t *testing.T) {
	srv, u := startServer(t, Options{Auth: Auth{Basic: basicAuth}})

	for name, h := range map[string]http.Header{
		"wrong password": basicHeader("alice", "guess"),
		"unknown user":   basicHeader("bob", "s3cret"),
		"missing header": nil,
		"bearer instead": {"Authorization": {"Bearer abc"}},
		"malformed":      {"Authorization": {"Basic !!!"}},
	} {
		resp, body := refused(t, u, h)
		if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Basic realm="rollcall"`) {
			t.Errorf("%s: WWW-Authenticate %q", name, got)
		}
		if !strings.Contains(body, "rollcall:") {
			t.Errorf("%s: body %q", name, body)
		}
	}
	nothingCreated(t, srv)

	c := dialAuth(t, u, basicHeader("alice", "s3cret"))
	me := c.joinAs("mallory")
	if me != (sgcwire.Member{ID: "u-alice", Name: "Alice", Info: "ops"}) {
		t.Fatalf("joined as %+v", me)
	}
	// the connection speaks as its identity's id, or its session id
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Member: sgcwire.Member{ID: "u-alice"}, Channel: "room"})
	c.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool { return m.Member.ID == "u-alice" })
	c.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Member: sgcwire.Member{ID: c.session}, Channel: "room", Text: "hi"})
	c.expect(sgcwire.MethodPublishMsg, func(m *sgcwire.Message) bool { return m.Member.ID == "u-alice" && m.Text == "hi" })
	c.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Member: sgcwire.Member{ID: "u-bob"}, Text: "spoof"})
	c.expectError(sgcwire.CodeNotOwnMember)

	// identity groups at connect
	pc := srv.Engine().Conn(c.session)
	if got := srv.Engine().Groups().Of(pc); !slices.Equal(got, []string{"sales/eu", "staff"}) {
		t.Fatalf("groups %v", got)
	}

	// one identity, one member: a second connection of alice cannot join
	c2 := dialAuth(t, u, basicHeader("alice", "s3cret"))
	c2.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{Name: "Alice"}})
	c2.expectError(sgcwire.CodeMemberExists)
	// once the first connection's member left, the second may join
	c.send(&sgcwire.Message{Method: sgcwire.MethodRemoveMember})
	c.send(&sgcwire.Message{Method: sgcwire.MethodGetMembers})
	c.expectError(sgcwire.CodeMemberNotExists) // the leave was handled
	c2.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{Name: "Alice"}})
	c2.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member.ID == "u-alice" })
}

// TestAuthRefuseNameMismatch: with RefuseNameMismatch a differing name is
// refused with error 48; the identity's own name (or none) is accepted.
func TestAuthRefuseNameMismatch(t *testing.T) {
	_, u := startServer(t, Options{Auth: Auth{Basic: basicAuth, RefuseNameMismatch: true}})
	c := dialAuth(t, u, basicHeader("alice", "s3cret"))
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: c.session, Name: "mallory"}})
	c.expectError(sgcwire.CodeIdentityMismatch)
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: "u-bob", Name: "Alice"}})
	c.expectError(sgcwire.CodeNotOwnMember)
	if me := c.joinAs("Alice"); me.ID != "u-alice" || me.Name != "Alice" || me.Info != "ops" {
		t.Fatalf("joined as %+v", me)
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

func TestAuthJWT(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	// public keys through LoadPublicKey, as the binary does
	dir := t.TempDir()
	writePub := func(name string, pub any) (string, []byte) {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, p, 0o600); err != nil {
			t.Fatal(err)
		}
		return path, p
	}
	ecPath, _ := writePub("ec.pem", &ecKey.PublicKey)
	rsaPath, rsaPEM := writePub("rsa.pem", &rsaKey.PublicKey)
	ecPub, err := LoadPublicKey(ecPath)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := LoadPublicKey(rsaPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPublicKey(filepath.Join(dir, "missing.pem")); err == nil {
		t.Fatal("missing key file accepted")
	}

	now := time.Now()
	good := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "u-carol", "name": "Carol", "info": "admin", "groups": []string{"ops"},
			"aud": "rollcall", "iss": "https://id.example", "exp": now.Add(time.Hour).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	// Many refusals from one address: the failed-login throttle is off.
	hsSrv, hsURL := startServer(t, Options{Auth: Auth{FailuresPerMinute: NoLimit, JWT: &JWTAuth{Secret: secret, Audience: "rollcall", Issuer: "https://id.example"}}})
	esSrv, esURL := startServer(t, Options{Auth: Auth{JWT: &JWTAuth{PublicKey: ecPub}}})
	rsSrv, rsURL := startServer(t, Options{Auth: Auth{JWT: &JWTAuth{PublicKey: rsaPub}}})

	none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good())
	bad := []struct {
		name, url, token, reason string
	}{
		{"expired", hsURL, sign(t, jwt.SigningMethodHS256, secret, with("exp", now.Add(-time.Hour).Unix())), "expired"},
		{"missing exp", hsURL, sign(t, jwt.SigningMethodHS256, secret, with("exp", nil)), "exp"},
		{"not yet valid", hsURL, sign(t, jwt.SigningMethodHS256, secret, with("nbf", now.Add(time.Hour).Unix())), "not valid yet"},
		{"wrong signature", hsURL, sign(t, jwt.SigningMethodHS256, []byte("another secret, same length.."), good()), "signature"},
		{"wrong audience", hsURL, sign(t, jwt.SigningMethodHS256, secret, with("aud", "someone-else")), "aud"},
		{"wrong issuer", hsURL, sign(t, jwt.SigningMethodHS256, secret, with("iss", "https://evil.example")), "iss"},
		{"no sub", hsURL, sign(t, jwt.SigningMethodHS256, secret, with("sub", nil)), "sub"},
		{"alg none", hsURL, none, "signing method"},
		{"alg none (ES server)", esURL, none, "signing method"},
		{"HS256 on an ES server", esURL, sign(t, jwt.SigningMethodHS256, secret, good()), "signing method"},
		{"HS/RS confusion", rsURL, sign(t, jwt.SigningMethodHS256, rsaPEM, good()), "signing method"},
		{"ES key, other signer", esURL, sign(t, jwt.SigningMethodES256, otherEC, good()), "signature"},
		{"RS256 on an HS server", hsURL, sign(t, jwt.SigningMethodRS256, rsaKey, good()), "signing method"},
		{"garbage", hsURL, "not.a.token", "malformed"},
	}
	for _, tc := range bad {
		resp, body := refused(t, tc.url, bearer(tc.token))
		if !strings.Contains(body, tc.reason) {
			t.Errorf("%s: body %q does not name %q", tc.name, body, tc.reason)
		}
		if strings.Contains(body, tc.token) {
			t.Errorf("%s: the token is echoed", tc.name)
		}
		if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, got)
		}
		// the same in the query string
		refused(t, tc.url+"?token="+url.QueryEscape(tc.token), nil)
	}
	refused(t, hsURL, nil)
	for _, s := range []*Server{hsSrv, esSrv, rsSrv} {
		nothingCreated(t, s)
	}

	want := sgcwire.Member{ID: "u-carol", Name: "Carol", Info: "admin"}
	for _, tc := range []struct {
		name string
		url  string
		h    http.Header
	}{
		{"HS256 header", hsURL, bearer(sign(t, jwt.SigningMethodHS256, secret, good()))},
		{"HS256 query", hsURL + "?token=" + sign(t, jwt.SigningMethodHS256, secret, good()), nil},
		{"ES256", esURL, bearer(sign(t, jwt.SigningMethodES256, ecKey, good()))},
		{"RS256 query", rsURL + "?token=" + sign(t, jwt.SigningMethodRS256, rsaKey, good()), nil},
		{"expired within leeway", esURL, bearer(sign(t, jwt.SigningMethodES256, ecKey, with("exp", now.Add(-5*time.Second).Unix())))},
	} {
		c := dialAuth(t, tc.url, tc.h)
		if me := c.joinAs("claimed"); me != want {
			t.Fatalf("%s: joined as %+v", tc.name, me)
		}
		// leave by the identity's id, so the next case may join again
		c.send(&sgcwire.Message{Method: sgcwire.MethodRemoveMember, Member: sgcwire.Member{ID: "u-carol"}})
		c.send(&sgcwire.Message{Method: sgcwire.MethodGetMembers})
		c.expectError(sgcwire.CodeMemberNotExists)
		c.conn.Close()
	}

	if _, err := New(Options{Auth: Auth{JWT: &JWTAuth{}}}); err == nil {
		t.Fatal("JWT auth without a key accepted")
	}
	if _, err := New(Options{Auth: Auth{JWT: &JWTAuth{Secret: secret, PublicKey: ecPub}}}); err == nil {
		t.Fatal("JWT auth with two keys accepted")
	}
}

// TestAuthBasicOrJWT: with both configured, either credential works and a
// refusal names both schemes.
func TestAuthBasicOrJWT(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	srv, u := startServer(t, Options{Auth: Auth{Basic: basicAuth, JWT: &JWTAuth{Secret: secret}}})
	resp, _ := refused(t, u, nil)
	if got := resp.Header.Values("WWW-Authenticate"); len(got) != 2 {
		t.Fatalf("WWW-Authenticate %q", got)
	}
	nothingCreated(t, srv)
	dialAuth(t, u, basicHeader("alice", "s3cret"))
	dialAuth(t, u, bearer(sign(t, jwt.SigningMethodHS256, secret, jwt.MapClaims{"sub": "x", "exp": time.Now().Add(time.Minute).Unix()})))
}

// TestConnectionHooks: OnConnect sees the identity and Data, engine hooks
// see Data, OnDisconnect gets the close code.
func TestConnectionHooks(t *testing.T) {
	type call struct {
		ident presence.Member
		data  any
		code  int
	}
	var (
		mu           sync.Mutex
		connected    []call
		disconnected = make(chan call, 4)
		published    = make(chan any, 4)
	)
	srv, u := startServer(t, Options{
		Auth: Auth{Basic: basicAuth},
		OnConnect: func(ctx context.Context, c *presence.Conn) {
			id, _ := c.Identity()
			mu.Lock()
			connected = append(connected, call{ident: id, data: c.Data()})
			mu.Unlock()
		},
		OnDisconnect: func(c *presence.Conn, code int) {
			id, _ := c.Identity()
			disconnected <- call{ident: id, data: c.Data(), code: code}
		},
		Hooks: presence.Hooks{
			BeforePublish: func(ctx context.Context, c *presence.Conn, channel string, m presence.Member, text string) error {
				published <- c.Data()
				if a, ok := c.Data().(*account); ok && a.plan == "gold" {
					return nil
				}
				return presence.ErrPublishDenied
			},
		},
	})
	_ = srv
	c := dialAuth(t, u, basicHeader("alice", "s3cret"))
	c.joinAs("")
	mu.Lock()
	got := slices.Clone(connected)
	mu.Unlock()
	wantIdent := presence.Member{ID: "u-alice", Name: "Alice", Info: []byte("ops")}
	if len(got) != 1 || !got[0].ident.Equal(wantIdent) || got[0].data.(*account).plan != "gold" {
		t.Fatalf("OnConnect calls %+v", got)
	}
	c.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Text: "hello"})
	c.expect(sgcwire.MethodPublishMsg, nil)
	if d := <-published; d.(*account).plan != "gold" {
		t.Fatalf("BeforePublish saw %v", d)
	}
	c.sendFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye")))
	select {
	case d := <-disconnected:
		if d.code != 1000 || !d.ident.Equal(wantIdent) || d.data.(*account).plan != "gold" {
			t.Fatalf("OnDisconnect %+v", d)
		}
	case <-time.After(testTimeout):
		t.Fatal("OnDisconnect not called")
	}

	// an open server calls the hooks too, without identity
	_, u2 := startServer(t, Options{
		OnDisconnect: func(c *presence.Conn, code int) {
			_, ok := c.Identity()
			disconnected <- call{code: code, data: ok}
		},
	})
	c2 := dial(t, u2)
	c2.conn.Close()
	select {
	case d := <-disconnected:
		if d.code != 1006 || d.data != false {
			t.Fatalf("OnDisconnect %+v", d)
		}
	case <-time.After(testTimeout):
		t.Fatal("OnDisconnect not called")
	}
}
