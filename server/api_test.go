package server

import (
	"encoding/json"
	"io"
	"net/http"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/transport"
)

const testKey = "s3cret"

// apiCall makes one HTTP API request and decodes the JSON answer.
func apiCall(t *testing.T, wsURL, method, path, key, body string) (int, any) {
	t.Helper()
	base := "http" + strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws"), "/")
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: content type %q, body %s", method, path, ct, raw)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s %s: %s: %v", method, path, raw, err)
	}
	return resp.StatusCode, v
}

func errorText(v any) string {
	m, _ := v.(map[string]any)
	s, _ := m["error"].(string)
	return s
}

func TestAPIAuth(t *testing.T) {
	_, off := startServer(t, Options{})
	if code, v := apiCall(t, off, "GET", "/api/channels", testKey, ""); code != 404 || !strings.Contains(errorText(v), "--api-key") {
		t.Fatalf("API without a key configured: %d %v", code, v)
	}
	_, on := startServer(t, Options{APIKey: testKey})
	for _, key := range []string{"", "wrong"} {
		if code, v := apiCall(t, on, "GET", "/api/channels", key, ""); code != 401 || !strings.Contains(errorText(v), "API key") {
			t.Fatalf("key %q: %d %v", key, code, v)
		}
	}
	if code, _ := apiCall(t, on, "GET", "/api/nothing", testKey, ""); code != 404 {
		t.Fatalf("unknown route: %d", code)
	}
}

func TestAPIReadRoutes(t *testing.T) {
	_, url := startServer(t, Options{APIKey: testKey})
	a, b := dial(t, url), dial(t, url)
	alice := a.join("alice", "tea")
	bob := b.join("bob", "")
	a.subscribe("room")
	a.subscribe("sales/eu")

	code, v := apiCall(t, url, "GET", "/api/channels", testKey, "")
	if code != 200 || !jsonEqualValue(t, v, `[{"name":"room","members":1},{"name":"sales/eu","members":1}]`) {
		t.Fatalf("channels: %d %v", code, v)
	}
	code, v = apiCall(t, url, "GET", "/api/members", testKey, "")
	want := `[{"id":"` + alice.ID + `","name":"alice","info":"tea"},{"id":"` + bob.ID + `","name":"bob","info":""}]`
	if code != 200 || !jsonEqualValue(t, v, want) {
		t.Fatalf("members: %d %v", code, v)
	}
	code, v = apiCall(t, url, "GET", "/api/channels/"+neturl.PathEscape("sales/eu")+"/members", testKey, "")
	if code != 200 || !jsonEqualValue(t, v, `[{"id":"`+alice.ID+`","name":"alice","info":"tea"}]`) {
		t.Fatalf("channel members: %d %v", code, v)
	}
	if code, v := apiCall(t, url, "GET", "/api/channels/nope/members", testKey, ""); code != 404 || errorText(v) != `no channel "nope"` {
		t.Fatalf("unknown channel: %d %v", code, v)
	}
}

func TestAPIPublish(t *testing.T) {
	_, url := startServer(t, Options{APIKey: testKey})
	a := dial(t, url)
	a.join("alice", "")
	a.subscribe("room")
	if code, _ := apiCall(t, url, "POST", "/api/publish", testKey, `{"channel":"room","text":"from the API"}`); code != 200 {
		t.Fatalf("publish: %d", code)
	}
	if m := a.expect(sgcwire.MethodPublishMsg, nil); m.Text != "from the API" || m.Channel != "room" || m.Member != (sgcwire.Member{}) {
		t.Fatalf("got %+v", m)
	}
	if code, _ := apiCall(t, url, "POST", "/api/publish", testKey, `{"text":"to all"}`); code != 200 {
		t.Fatalf("publish to all: %d", code)
	}
	if m := a.expect(sgcwire.MethodPublishMsg, nil); m.Text != "to all" || m.Channel != "" {
		t.Fatalf("got %+v", m)
	}
	bad := []struct {
		body string
		code int
		err  string
	}{
		{`{"channel":"room"`, 400, "invalid JSON body"},
		{`not json`, 400, "invalid JSON body"},
		{`{"channel":"room","text":"x","extra":1}`, 400, `unknown field "extra"`},
		{`{"channel":5,"text":"x"}`, 400, "invalid JSON body"},
		{`{"channel":"room"}`, 400, `"text" is required`},
		{`{"channel":"room","text":"x"} {}`, 400, "more than one JSON value"},
		{`{"channel":"nope","text":"x"}`, 404, `no channel "nope"`},
		{`{"text":"` + strings.Repeat("a", maxAPIBody) + `"}`, 413, "too large"},
	}
	for _, tt := range bad {
		code, v := apiCall(t, url, "POST", "/api/publish", testKey, tt.body)
		if code != tt.code || !strings.Contains(errorText(v), tt.err) {
			t.Errorf("%.40s: %d %v, want %d %q", tt.body, code, v, tt.code, tt.err)
		}
	}
	// nothing reached the client from the bad requests
	a.expectNothing(50 * time.Millisecond)
}

func TestAPIDisconnect(t *testing.T) {
	_, url := startServer(t, Options{APIKey: testKey})
	a, b := dial(t, url), dial(t, url)
	alice := a.join("alice", "")
	b.join("bob", "")
	code, _ := apiCall(t, url, "POST", "/api/connections/"+a.session+"/disconnect", testKey, "")
	if code != 200 {
		t.Fatalf("disconnect: %d", code)
	}
	if r := a.expectClose(transport.ClosePolicyViolation); r != "disconnected by the server" {
		t.Fatalf("reason %q", r)
	}
	if m := b.expect(sgcwire.MethodRemoveMember, nil); m.Member != alice {
		t.Fatalf("got %+v", m)
	}
	if code, v := apiCall(t, url, "POST", "/api/connections/NOPE/disconnect", testKey, ""); code != 404 || !strings.Contains(errorText(v), "NOPE") {
		t.Fatalf("unknown session: %d %v", code, v)
	}
}

func jsonEqualValue(t *testing.T, v any, want string) bool {
	t.Helper()
	got, _ := json.Marshal(v)
	return jsonEqual(t, got, []byte(want))
}

func TestAPIGroups(t *testing.T) {
	srv, url := startServer(t, Options{APIKey: testKey})
	a, b := dial(t, url), dial(t, url)
	alice := a.join("alice", "")
	groups := srv.Engine().Groups()
	for _, g := range []string{"sales/eu", "sales/us"} {
		if err := groups.Add(g, srv.Engine().Conn(a.session)); err != nil {
			t.Fatal(err)
		}
	}
	if err := groups.Add("sales/us", srv.Engine().Conn(b.session)); err != nil {
		t.Fatal(err)
	}

	code, v := apiCall(t, url, "GET", "/api/groups", testKey, "")
	if code != 200 || !jsonEqualValue(t, v, `[{"name":"sales/eu","connections":1},{"name":"sales/us","connections":2}]`) {
		t.Fatalf("groups: %d %v", code, v)
	}
	code, v = apiCall(t, url, "GET", "/api/groups/"+neturl.PathEscape("sales/eu"), testKey, "")
	want := `{"name":"sales/eu","connections":[{"session":"` + a.session + `","member":{"id":"` + alice.ID + `","name":"alice","info":""}}]}`
	if code != 200 || !jsonEqualValue(t, v, want) {
		t.Fatalf("group: %d %v", code, v)
	}
	if code, v := apiCall(t, url, "GET", "/api/groups/nope", testKey, ""); code != 404 || errorText(v) != `no group "nope"` {
		t.Fatalf("unknown group: %d %v", code, v)
	}

	// alice is in both matching groups and hears the broadcast once.
	code, v = apiCall(t, url, "POST", "/api/broadcast", testKey, `{"pattern":"sales/*","text":"quota met"}`)
	if code != 200 || !jsonEqualValue(t, v, `{"ok":true,"pattern":"sales/*","delivered":2}`) {
		t.Fatalf("broadcast: %d %v", code, v)
	}
	for _, c := range []*rawClient{a, b} {
		if m := c.expect(sgcwire.MethodPublishMsg, nil); m.Text != "quota met" || m.Member != (sgcwire.Member{}) {
			t.Fatalf("got %+v", m)
		}
	}
	a.expectNothing(50 * time.Millisecond)
	for _, tt := range []struct{ body, err string }{
		{`{"pattern":"[","text":"x"}`, "syntax error in pattern"},
		{`{"pattern":"sales/*"}`, `"pattern" and "text" are required`},
		{`{"pattern":1,"text":"x"}`, "invalid JSON body"},
	} {
		if code, v := apiCall(t, url, "POST", "/api/broadcast", testKey, tt.body); code != 400 || !strings.Contains(errorText(v), tt.err) {
			t.Errorf("%s: %d %v", tt.body, code, v)
		}
	}
}

// TestAPIMethodNotAllowed: a known route with another method is 405 with
// an Allow header naming the route's methods; an unknown route stays 404.
func TestAPIMethodNotAllowed(t *testing.T) {
	_, url := startServer(t, Options{APIKey: testKey})
	base := "http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), "/")
	for _, c := range []struct{ method, path, allow string }{
		{"GET", "/api/publish", "POST"},
		{"DELETE", "/api/channels", "GET, HEAD"},
		{"POST", "/api/channels/room/members", "GET, HEAD"},
		{"GET", "/api/connections/ABC/disconnect", "POST"},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, nil)
		req.Header.Set("Authorization", "Bearer "+testKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != c.allow ||
			!strings.Contains(string(raw), c.allow) {
			t.Errorf("%s %s: %d Allow %q %s", c.method, c.path, resp.StatusCode, resp.Header.Get("Allow"), raw)
		}
	}
	if code, _ := apiCall(t, url, "GET", "/api/nothing", testKey, ""); code != http.StatusNotFound {
		t.Fatalf("unknown route: %d", code)
	}
}

// TestAPIErrorsReadable: error bodies keep <, > and & as they are, not
// \u003c.
func TestAPIErrorsReadable(t *testing.T) {
	_, url := startServer(t, Options{APIKey: testKey})
	base := "http" + strings.TrimSuffix(strings.TrimPrefix(url, "ws"), "/")
	resp, err := http.Get(base + "/api/channels")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(raw), "Bearer <key>") ||
		strings.Contains(string(raw), `\u003c`) {
		t.Fatalf("401 body: %d %s", resp.StatusCode, raw)
	}
}
