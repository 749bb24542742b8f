package pusherwire

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestInteropPusherJS drives a real pusher-js client against a loopback
// WebSocket server that speaks only through this package: the server decodes
// every client frame with DecodeClientFrame, checks auth with the Verify
// functions (the auth values come from the real `pusher` SDK) and answers
// with the Append* encoders. What pusher-js makes of the answers shows that
// the frames are right: members, me, member events, channel and client
// events, the user channel, pusher:error and cache misses.
func TestInteropPusherJS(t *testing.T) {
	node := interopNode(t)
	const (
		appID  = "3"
		key    = "app-key"
		secret = "app-secret"
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var (
		mu        sync.Mutex
		serverLog []string // problems seen by the server
		pings     int
	)
	logf := func(s string) { mu.Lock(); serverLog = append(serverLog, s); mu.Unlock() }

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app/"+key {
			logf("path " + r.URL.Path)
			http.NotFound(w, r)
			return
		}
		if code := CheckProtocol(r.URL.Query().Get("protocol")); code != 0 {
			logf("protocol " + r.URL.RawQuery)
		}
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			logf("accept: " + err.Error())
			return
		}
		defer c.CloseNow()
		socketID := NewSocketID()
		var buf []byte
		send := func(b []byte) {
			if err := c.Write(ctx, websocket.MessageText, b); err != nil {
				logf("write: " + err.Error())
			}
		}
		send(AppendConnectionEstablished(buf[:0], socketID, 1))
		for {
			_, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			cf, err := DecodeClientFrame(msg)
			if err != nil {
				logf("decode " + string(msg) + ": " + err.Error())
				send(AppendError(nil, err.(*FrameError).Code(), err.(*FrameError).Message()))
				continue
			}
			switch cf.Type {
			case TypePing:
				mu.Lock()
				pings++
				mu.Unlock()
				send(AppendPong(nil))
				send(AppendChannelEvent(nil, "public-news", "after-ping", "{}"))
			case TypeSignin:
				if err := VerifyUserAuth(key, secret, socketID, cf.Signin); err != nil {
					logf("signin: " + err.Error())
					continue
				}
				if _, err := ParseUserData(cf.Signin.UserData); err != nil {
					logf("user_data: " + err.Error())
				}
				send(AppendSigninSuccess(nil, cf.Signin.UserData))
			case TypeSubscribe:
				s := cf.Subscribe
				if err := ValidateChannelName(s.Channel, 0); err != nil {
					logf("channel: " + err.Error())
				}
				typ := ClassifyChannel(s.Channel)
				if typ.Kind.RequiresAuth() {
					if err := VerifyChannelAuth(key, secret, socketID, s); err != nil {
						if s.Channel != "private-denied" {
							logf("auth " + s.Channel + ": " + err.Error())
						}
						send(AppendSubscriptionError(nil, s.Channel, SubscriptionErrorAuth, err.Error(), 401))
						continue
					}
				}
				switch {
				case typ.Kind == Presence:
					cd, err := ParseChannelData(s.ChannelData)
					if err != nil {
						logf("channel_data: " + err.Error())
						continue
					}
					send(AppendPresenceSubscriptionSucceeded(nil, s.Channel, []Member{
						{ID: `u"2`, Info: json.RawMessage(`{"name":"Zoë <b>\"Z\"</b>","tags":["a\\b","\u2028"]}`)},
						{ID: cd.UserID, Info: cd.UserInfo},
						{ID: "no-info"},
					}))
					send(AppendMemberAdded(nil, s.Channel, "7", json.RawMessage(`{"name":"Seven"}`)))
					send(AppendMemberRemoved(nil, s.Channel, `u"2`))
					send(AppendClientEvent(nil, s.Channel, "client-typing", json.RawMessage(`{"text":"hi"}`), "7"))
				case typ.Kind == ServerToUser:
					send(AppendSubscriptionSucceeded(nil, s.Channel))
					send(AppendChannelEvent(nil, s.Channel, "notice", `{"n":1}`))
				case typ.Cache:
					send(AppendSubscriptionSucceeded(nil, s.Channel))
					send(AppendCacheMiss(nil, s.Channel))
				case typ.Kind == Private:
					send(AppendSubscriptionSucceeded(nil, s.Channel))
					send(AppendClientEvent(nil, s.Channel, "client-typing", json.RawMessage(`{"text":"hi \"there\""}`), ""))
				default:
					send(AppendSubscriptionSucceeded(nil, s.Channel))
					send(AppendChannelEvent(nil, s.Channel, "ev", `{"hello":"wörld","n":[1,2]}`))
					send(AppendChannelEvent(nil, s.Channel, "ev-plain", "plain \"string\""))
					send(AppendError(nil, CodeClientEventRejected, `Client event rejected: "too fast"`))
				}
			default:
				logf("unexpected " + string(msg))
			}
		}
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)

	input, _ := json.Marshal(map[string]string{"appId": appID, "key": key, "secret": secret, "host": u.Hostname(), "port": u.Port()})
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "pusherjs.mjs"))
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	var out struct {
		State, SocketID string
		Timeout         bool
		Errors          []string
		Events          map[string]json.RawMessage
	}
	if jerr := json.Unmarshal(stdout, &out); jerr != nil || err != nil {
		t.Fatalf("node testdata/pusherjs.mjs: %v; output %s (%v)\nstderr: %s\nserver: %q", err, stdout, jerr, stderr.Bytes(), serverLog)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(serverLog) > 0 {
		t.Errorf("server saw: %q", serverLog)
	}
	if out.State != "connected" || !ValidSocketID(out.SocketID) || len(out.Errors) > 0 {
		t.Errorf("state %q, socket id %q, errors %q", out.State, out.SocketID, out.Errors)
	}
	for name, want := range map[string]string{
		"public":         `{"hello":"wörld","n":[1,2]}`,
		"public-plain":   `"plain \"string\""`,
		"private-client": `{"data":{"text":"hi \"there\""},"meta":{}}`,
		// pusher-js hands the top-level user_id over on presence channels.
		"presence-client": `{"data":{"text":"hi"},"meta":{"user_id":"7"}}`,
		"pinged":          `{}`,
		// me.id is the user_id of the client's own channel_data, the
		// integer 42, while the member hash key is "42"; pusher-js finds
		// one by the other. The list is sorted by id here: JavaScript
		// puts integer-like keys first.
		"presence-succeeded": `{"count":3,"me":{"id":42,"info":{"name":"Bob"}},"list":[{"id":"42","info":{"name":"Bob"}},{"id":"no-info","info":null},{"id":"u\"2","info":{"name":"Zoë <b>\"Z\"</b>","tags":["a\\b","` + "\u2028" + `"]}}]}`,
		"presence-added":     `{"id":"7","info":{"name":"Seven"}}`,
		"presence-removed":   `{"id":"u\"2","info":{"name":"Zoë <b>\"Z\"</b>","tags":["a\\b","` + "\u2028" + `"]}}`,
		"user":               `{"n":1}`,
		"error":              `{"code":4301,"message":"Client event rejected: \"too fast\""}`,
		"cache-miss":         `true`,
		"subscription-error": `{"type":"AuthError","error":"Invalid signature: Expected HMAC SHA256 hex digest of SOCKET:private-denied, but got 0000","status":401}`,
	} {
		var got, w any
		if err := json.Unmarshal(out.Events[name], &got); err != nil {
			t.Errorf("%s: pusher-js gave %s", name, out.Events[name])
			continue
		}
		want = strings.ReplaceAll(want, "SOCKET", out.SocketID)
		if err := json.Unmarshal([]byte(want), &w); err != nil {
			t.Fatalf("%s: bad want: %v", name, err)
		}
		if !reflect.DeepEqual(got, w) {
			t.Errorf("%s:\n pusher-js %s\n     want %s", name, out.Events[name], want)
		}
	}
	// activity_timeout 1 made pusher-js ping: "pinged" is the event sent
	// after the pong.
	if pings == 0 {
		t.Error("pusher-js never pinged")
	}
}
