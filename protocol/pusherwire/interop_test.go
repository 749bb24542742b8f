package pusherwire

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The interop test runs the real `pusher` server SDK (npm, pinned in the
// repository's package.json) on testdata/interop.mjs and checks that this
// package produces and verifies the same bytes: channel and user auth, signed
// HTTP API requests (captured by a loopback httptest server), and webhooks
// made here and validated by the SDK. It fails, not skips, when Node or the
// npm packages are missing: run `npm ci` at the repository root
// (scripts/browser-deps does it).

// interopNode returns the node binary after checking that the npm packages
// the drivers import are installed at the repository root, at the pinned
// major versions; it fails the test saying how to get them.
func interopNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (this test runs the pusher npm packages): install Node 20 or later (Debian: apt-get install nodejs npm), then run `npm ci` at the repository root (scripts/browser-deps runs it when packages are missing)")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for name, major := range map[string]string{"pusher": "5.", "pusher-js": "8."} {
		pkg, err := os.ReadFile(filepath.Join(root, "node_modules", name, "package.json"))
		if err != nil {
			t.Fatalf("the %s npm package is missing from %s/node_modules: run `npm ci` at the repository root (scripts/browser-deps does it): %v", name, root, err)
		}
		var meta struct{ Version string }
		if err := json.Unmarshal(pkg, &meta); err != nil || !strings.HasPrefix(meta.Version, major) {
			t.Fatalf("node_modules/%s is version %q, want %sx as pinned in package.json: run `npm ci` at the repository root", name, meta.Version, major)
		}
	}
	return node
}

type capturedRequest struct {
	Method, Path, RawPath, RawQuery, ContentType string
	Query                                        url.Values
	Body                                         []byte
}

func TestInteropNodeSDK(t *testing.T) {
	node := interopNode(t)
	const (
		appID  = "3"
		key    = "278d425bdf160c739803"
		secret = "7ad3773142a6692b25b8"
		sid    = "1234.1234"
	)
	masterKey := []byte("0123456789abcdef0123456789abcdef")

	var (
		mu       sync.Mutex
		captured []capturedRequest
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		captured = append(captured, capturedRequest{r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery,
			r.Header.Get("Content-Type"), r.URL.Query(), body})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)

	hookEvents := []WebhookEvent{
		{Name: WebhookChannelOccupied, Channel: "presence-room"},
		{Name: WebhookMemberAdded, Channel: "presence-room", UserID: "42"},
		ClientEventWebhook("presence-room", "client-typing", json.RawMessage(`{"text":"Zoë <b>\"hi\"</b>"}`), sid, "42"),
		ClientEventWebhook("private-orders", "client-x", json.RawMessage(`"plain"`), sid, ""),
		{Name: WebhookMemberRemoved, Channel: "presence-room", UserID: "42"},
		{Name: WebhookChannelVacated, Channel: "presence-room"},
		{Name: WebhookCacheMiss, Channel: "cache-news"},
	}
	const hookTime = 1700000000123
	hookBody := AppendWebhookBody(nil, hookTime, hookEvents)
	input, _ := json.Marshal(map[string]any{
		"appId": appID, "key": key, "secret": secret, "host": u.Hostname(), "port": u.Port(), "socketId": sid,
		"masterKeyBase64": base64.StdEncoding.EncodeToString(masterKey),
		"webhook":         map[string]string{"body": string(hookBody), "signature": SignWebhook(secret, hookBody)},
	})

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "interop.mjs"))
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node testdata/interop.mjs: %v\n%s", err, stderr.Bytes())
	}
	var out struct {
		Private, Encrypted, PresenceString, PresenceInt, PresenceNoInfo struct {
			Auth         string `json:"auth"`
			ChannelData  string `json:"channel_data"`
			SharedSecret string `json:"shared_secret"`
		}
		EncryptedSharedSecret string
		Signin                struct {
			Auth     string `json:"auth"`
			UserData string `json:"user_data"`
		}
		Webhook struct {
			Valid, TamperedValid, WrongKeyValid, CharsetValid bool
			Events                                            []map[string]any
			Time                                              int64
		}
	}
	if err := json.Unmarshal(stdout, &out); err != nil {
		t.Fatalf("node output %s: %v", stdout, err)
	}

	t.Run("channel auth", func(t *testing.T) {
		if want := PrivateAuth(key, secret, sid, "private-orders"); out.Private.Auth != want {
			t.Errorf("private: SDK %q, Go %q", out.Private.Auth, want)
		}
		if err := VerifyChannelAuth(key, secret, sid, Subscribe{Channel: "private-orders", Auth: out.Private.Auth}); err != nil {
			t.Errorf("private: %v", err)
		}
		if want := PrivateAuth(key, secret, sid, "private-encrypted-vault"); out.Encrypted.Auth != want {
			t.Errorf("encrypted: SDK %q, Go %q", out.Encrypted.Auth, want)
		}
		ss := ChannelSharedSecret("private-encrypted-vault", masterKey)
		if want := base64.StdEncoding.EncodeToString(ss[:]); out.Encrypted.SharedSecret != want || out.EncryptedSharedSecret != want {
			t.Errorf("shared_secret: SDK %q / %q, Go %q", out.Encrypted.SharedSecret, out.EncryptedSharedSecret, want)
		}
		for _, tc := range []struct {
			name, channel, channelData, auth string
			id                               string
			number                           bool
			info                             string
		}{
			{"string user_id", "presence-room", out.PresenceString.ChannelData, out.PresenceString.Auth, "u1", false,
				`{"name":"Zoë \"Z\"","html":"<b>&</b>","emoji":"😀","nested":{"list":[1,2.5,null,true]}}`},
			{"integer user_id", "presence-room", out.PresenceInt.ChannelData, out.PresenceInt.Auth, "42", true, `{"name":"Bob"}`},
			{"no user_info", "presence-cache-room", out.PresenceNoInfo.ChannelData, out.PresenceNoInfo.Auth, "7", false, ``},
		} {
			if want := PresenceAuth(key, secret, sid, tc.channel, tc.channelData); tc.auth != want {
				t.Errorf("%s: SDK %q, Go %q", tc.name, tc.auth, want)
			}
			sub := Subscribe{Channel: tc.channel, Auth: tc.auth, ChannelData: tc.channelData, HasChannelData: true}
			if err := VerifyChannelAuth(key, secret, sid, sub); err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			// The subscribe frame pusher-js would send decodes to the same
			// channel_data string.
			frame, _ := json.Marshal(map[string]any{"event": "pusher:subscribe", "data": map[string]string{
				"auth": tc.auth, "channel": tc.channel, "channel_data": tc.channelData}})
			cf, err := DecodeClientFrame(frame)
			if err != nil || cf.Subscribe != sub {
				t.Errorf("%s: decoded %+v, %v", tc.name, cf.Subscribe, err)
			}
			cd, err := ParseChannelData(tc.channelData)
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
				continue
			}
			if cd.UserID != tc.id || cd.UserIDIsNumber != tc.number || string(cd.UserInfo) != tc.info {
				t.Errorf("%s: parsed %+v (user_info %s)", tc.name, cd, cd.UserInfo)
			}
		}
	})

	t.Run("user auth", func(t *testing.T) {
		if want := UserAuth(key, secret, sid, out.Signin.UserData); out.Signin.Auth != want {
			t.Errorf("signin: SDK %q, Go %q", out.Signin.Auth, want)
		}
		if err := VerifyUserAuth(key, secret, sid, Signin{Auth: out.Signin.Auth, UserData: out.Signin.UserData}); err != nil {
			t.Error(err)
		}
		ud, err := ParseUserData(out.Signin.UserData)
		if err != nil || ud.ID != "u1" || string(ud.UserInfo) != `{"name":"Ann"}` || string(ud.Watchlist) != `["u2","u3"]` {
			t.Errorf("user_data %q: %+v, %v", out.Signin.UserData, ud, err)
		}
	})

	t.Run("http api", func(t *testing.T) {
		mu.Lock()
		reqs := append([]capturedRequest(nil), captured...)
		mu.Unlock()
		want := []struct {
			method, path string
			body         string // "" for none; "*" for any
			params       url.Values
		}{
			{"POST", "/apps/3/events", `{"name":"my-event","data":"{\"message\":\"hello world\"}","channels":["my-channel"]}`, nil},
			{"POST", "/apps/3/events", `{"name":"ev","data":"plain string","channels":["a-1","presence-b"],"socket_id":"1.2","info":"user_count,subscription_count"}`, nil},
			{"POST", "/apps/3/batch_events", `{"batch":[{"channel":"c1","name":"e1","data":"{\"x\":1}"},{"channel":"c2","name":"e2","data":"s"}]}`, nil},
			{"GET", "/apps/3/channels", "", url.Values{"filter_by_prefix": {"presence-"}, "info": {"user_count"}}},
			{"GET", "/apps/3/channels/presence-room/users", "", nil},
			{"POST", "/apps/3/events", `{"name":"notice","data":"{\"n\":1}","channels":["#server-to-user-u1"]}`, nil},
			{"POST", "/apps/3/users/u1/terminate_connections", `{}`, nil},
			// A user id with a character the URL escapes: the signature
			// covers the decoded path (URL.Path, not the escaped form).
			{"POST", "/apps/3/users/auth0|1/terminate_connections", `{}`, nil},
		}
		if len(reqs) != len(want) {
			t.Fatalf("captured %d requests, want %d: %+v", len(reqs), len(want), reqs)
		}
		v := RequestVerifier{Key: key, Secret: secret}
		for i, r := range reqs {
			w := want[i]
			if r.Method != w.method || r.Path != w.path {
				t.Errorf("request %d: %s %s, want %s %s", i, r.Method, r.Path, w.method, w.path)
				continue
			}
			if w.body != "*" && string(r.Body) != w.body {
				t.Errorf("request %d body:\n got %s\nwant %s", i, r.Body, w.body)
			}
			// The bodies decode and pass the default limits.
			switch r.Path {
			case "/apps/3/events":
				tr, err := DecodeTrigger(r.Body)
				if err == nil {
					err = tr.Check(Limits{})
				}
				if err != nil {
					t.Errorf("request %d: %v", i, err)
				}
			case "/apps/3/batch_events":
				b, err := DecodeBatch(r.Body)
				if err == nil {
					err = CheckBatch(b, Limits{})
				}
				if err != nil || len(b) != 2 || b[0].Data != `{"x":1}` {
					t.Errorf("request %d: %+v, %v", i, b, err)
				}
			}
			if len(r.Body) > 0 && r.ContentType != "application/json" {
				t.Errorf("request %d: content-type %q", i, r.ContentType)
			}
			if err := v.Verify(r.Method, r.Path, r.Query, r.Body); err != nil {
				t.Errorf("request %d (%s %s?%s): %v", i, r.Method, r.Path, r.RawQuery, err)
			}
			// Signing the same request here gives the SDK's bytes.
			params := url.Values{}
			for k, vs := range r.Query {
				if !strings.HasPrefix(k, "auth_") && k != ParamBodyMD5 {
					params[k] = vs
				}
			}
			if w.params != nil && !reflect.DeepEqual(params, w.params) {
				t.Errorf("request %d: params %v, want %v", i, params, w.params)
			}
			sec, err := strconv.ParseInt(r.Query.Get(ParamAuthTimestamp), 10, 64)
			if err != nil {
				t.Errorf("request %d: auth_timestamp %q", i, r.Query.Get(ParamAuthTimestamp))
				continue
			}
			ts := time.Unix(sec, 0)
			mine := SignRequest(key, secret, r.Method, r.Path, params, r.Body, ts)
			for _, p := range []string{ParamAuthKey, ParamAuthTimestamp, ParamAuthVersion, ParamBodyMD5, ParamAuthSignature} {
				if got, want := r.Query[p], mine[p]; !reflect.DeepEqual(got, want) {
					t.Errorf("request %d: %s: SDK %q, Go %q", i, p, got, want)
				}
			}
			// A changed body or secret is refused.
			if len(r.Body) > 0 {
				if err := v.Verify(r.Method, r.Path, r.Query, append([]byte(" "), r.Body...)); err == nil {
					t.Errorf("request %d: changed body accepted", i)
				}
			}
			bad := RequestVerifier{Key: key, Secret: secret + "x"}
			if err := bad.Verify(r.Method, r.Path, r.Query, r.Body); err == nil {
				t.Errorf("request %d: wrong secret accepted", i)
			}
		}
	})

	t.Run("webhook", func(t *testing.T) {
		if !out.Webhook.Valid {
			t.Fatalf("the SDK refused the webhook %s", hookBody)
		}
		if out.Webhook.TamperedValid || out.Webhook.WrongKeyValid {
			t.Errorf("the SDK accepted a tampered body (%v) or another key (%v)", out.Webhook.TamperedValid, out.Webhook.WrongKeyValid)
		}
		if out.Webhook.CharsetValid {
			t.Errorf("the SDK accepted a content type other than %s; the spec says it does not", WebhookContentType)
		}
		if out.Webhook.Time != hookTime {
			t.Errorf("time %d, want %d", out.Webhook.Time, hookTime)
		}
		var want struct{ Events []map[string]any }
		if err := json.Unmarshal(hookBody, &want); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out.Webhook.Events, want.Events) {
			t.Errorf("SDK events %v\nwant %v", out.Webhook.Events, want.Events)
		}
	})
}
