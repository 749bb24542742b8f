package pusher_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/server"
)

// raw is a Pusher connection driven frame by frame.
type raw struct {
	t        *testing.T
	c        *websocket.Conn
	socketID string
	frames   chan frame
	end      chan error // the read error that ended the connection
}

type frame struct {
	Event   string          `json:"event"`
	Channel string          `json:"channel"`
	Data    json.RawMessage `json:"data"`
	UserID  string          `json:"user_id"`
}

// inner is the frame's data, decoded once more when it is a string.
func (f frame) inner() map[string]any {
	var s string
	raw := []byte(f.Data)
	if json.Unmarshal(f.Data, &s) == nil {
		raw = []byte(s)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return m
}

func (e *env) wsURL(key, query string) string {
	return "ws://" + e.host + ":" + e.port + "/app/" + key + "?" + query
}

func (e *env) dial(t *testing.T, key string) *raw {
	t.Helper()
	r := e.dialURL(t, e.wsURL(key, "protocol=7&client=go&version=1"))
	f := r.next()
	if f.Event != pusherwire.EventConnectionEstablished {
		t.Fatalf("first frame %+v", f)
	}
	r.socketID = f.inner()["socket_id"].(string)
	if f.inner()["activity_timeout"].(float64) < 1 {
		t.Fatalf("activity_timeout %v", f.inner())
	}
	return r
}

// dialURL connects to u and reads every frame that comes.
func (e *env) dialURL(t *testing.T, u string) *raw {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	r := &raw{t: t, c: c, frames: make(chan frame, 1024), end: make(chan error, 1)}
	r.start()
	return r
}

// start runs one reader for the connection's life (a Read whose context
// ends would close the connection); it also answers pings.
func (r *raw) start() {
	c := r.c
	go func() {
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				r.end <- err
				close(r.frames)
				return
			}
			var f frame
			if err := json.Unmarshal(b, &f); err != nil {
				f = frame{Event: "NOT JSON: " + string(b)}
			}
			r.frames <- f
		}
	}()
}

func (r *raw) send(s string) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

var errNoFrame = errors.New("no frame")

// read returns the next frame, errNoFrame after d, or the error that ended
// the connection.
func (r *raw) read(d time.Duration) (frame, error) {
	select {
	case f, ok := <-r.frames:
		if !ok {
			err := <-r.end
			r.end <- err
			return frame{}, err
		}
		if strings.HasPrefix(f.Event, "NOT JSON") {
			r.t.Fatalf("server sent %s", f.Event)
		}
		return f, nil
	case <-time.After(d):
		return frame{}, errNoFrame
	}
}

func (r *raw) next() frame {
	r.t.Helper()
	f, err := r.read(5 * time.Second)
	if err != nil {
		r.t.Fatal(err)
	}
	return f
}

// expect reads frames until one with the event arrives.
func (r *raw) expect(event string) frame {
	r.t.Helper()
	for {
		if f := r.next(); f.Event == event {
			return f
		}
	}
}

// quiet checks that nothing arrives for a while.
func (r *raw) quiet(d time.Duration) {
	r.t.Helper()
	if f, err := r.read(d); err == nil {
		r.t.Fatalf("unexpected frame %+v", f)
	}
}

// alive checks the connection still answers pusher:ping.
func (r *raw) alive() {
	r.t.Helper()
	r.send(`{"event":"pusher:ping","data":{}}`)
	r.expect(pusherwire.EventPong)
}

// closed reads until the connection is closed and returns the close code.
func (r *raw) closed() websocket.StatusCode {
	r.t.Helper()
	for {
		_, err := r.read(5 * time.Second)
		if errors.Is(err, errNoFrame) {
			r.t.Fatal("the connection was not closed")
		}
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

func (r *raw) subscribe(channel, auth, channelData string) {
	d := map[string]string{"channel": channel}
	if auth != "" {
		d["auth"] = auth
	}
	if channelData != "" {
		d["channel_data"] = channelData
	}
	b, _ := json.Marshal(map[string]any{"event": pusherwire.EventSubscribe, "data": d})
	r.send(string(b))
}

// api calls the Pusher HTTP API of app 1, signed like the SDK.
func (e *env) api(t *testing.T, method, path string, body []byte, mut func(url.Values)) (int, string) {
	t.Helper()
	q := pusherwire.SignRequest(appKey, appSecret, method, path, nil, body, time.Now())
	if mut != nil {
		mut(q)
	}
	req, _ := http.NewRequest(method, e.hs.URL+path+"?"+q.Encode(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postRaw(t *testing.T, e *env, pathQuery string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(e.hs.URL+pathQuery, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) trigger(t *testing.T, channel, event, data string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": event, "channels": []string{channel}, "data": data})
	if st, b := e.api(t, "POST", "/apps/"+appID+"/events", body, nil); st != 200 {
		t.Fatalf("trigger: %d %s", st, b)
	}
}

// TestBadInput sends every kind of bad frame on one connection: each gets
// a clear pusher:error (or subscription_error) naming the problem, the
// connection stays open, and a bystander's subscription still gets its
// events.
func TestBadInput(t *testing.T) {
	e := start(t, nil)
	by := e.dial(t, appKey)
	by.subscribe("news", "", "")
	by.expect(pusherwire.EventSubscriptionSucceeded)
	bad := e.dial(t, appKey)
	n := 0
	check := func() {
		t.Helper()
		n++
		bad.alive()
		ev := fmt.Sprintf("still-%d", n)
		e.trigger(t, "news", ev, "{}")
		if f := by.expect(ev); f.Channel != "news" {
			t.Fatalf("bystander got %+v", f)
		}
	}
	wantError := func(code int, text string) {
		t.Helper()
		f := bad.expect(pusherwire.EventError)
		d := f.inner()
		if int(d["code"].(float64)) != code || !strings.Contains(d["message"].(string), text) {
			t.Fatalf("error %v, want code %d with %q", d, code, text)
		}
	}
	wantSubError := func(channel, typ string, status int) {
		t.Helper()
		f := bad.expect(pusherwire.EventSubscriptionError)
		d := f.inner()
		if f.Channel != channel || d["type"] != typ || int(d["status"].(float64)) != status || d["error"] == "" {
			t.Fatalf("subscription error %+v %v, want %s %s %d", f, d, channel, typ, status)
		}
	}
	for _, c := range []struct{ frame, text string }{
		{`not json at all`, "frame is not valid JSON"},
		{`[1,2,3]`, "frame is an array, want an object"},
		{`{"data":{}}`, "event is missing"},
		{`{"event":42}`, "event is a number, want a string"},
		{`{"event":"pusher:hack","data":{}}`, "clients may not send this event"},
		{`{"event":"pusher_internal:member_added","channel":"presence-x","data":{"user_id":"x"}}`, "clients may not send this event"},
		{`{"event":"pusher_internal:subscription_succeeded","channel":"news","data":"{}"}`, "clients may not send this event"},
		{`{"event":"pusher:subscribe"}`, "data is missing"},
		{`{"event":"pusher:subscribe","data":{"channel":42}}`, "data.channel is a number, want a string"},
		{`{"event":"pusher:subscribe","data":{"channel":"private-x","auth":7}}`, "data.auth is a number"},
		{`{"event":"pusher:subscribe","data":"not an object"}`, "data is a string, want an object"},
		{`{"event":"pusher:unsubscribe","data":{}}`, "data.channel is missing"},
		{`{"event":"pusher:signin","data":{"auth":"k:s"}}`, "data.user_data is missing"},
		{`{"event":"client-x","data":{}}`, "channel is missing"},
	} {
		bad.send(c.frame)
		wantError(pusherwire.CodeReconnect, c.text)
		check()
	}
	// An event that is neither: refused like a client event.
	bad.send(`{"event":"hello","channel":"news","data":{}}`)
	wantError(pusherwire.CodeClientEventRejected, "not a client event")
	check()

	// Signatures.
	bad.subscribe("private-x", "", "")
	wantSubError("private-x", pusherwire.SubscriptionErrorAuth, 401)
	bad.subscribe("private-x", appKey+":"+strings.Repeat("0", 64), "")
	wantSubError("private-x", pusherwire.SubscriptionErrorAuth, 401)
	bad.subscribe("private-x", "other-key:"+pusherwire.Sign(appSecret, bad.socketID+":private-x"), "")
	wantSubError("private-x", pusherwire.SubscriptionErrorAuth, 401)
	// Signed for another socket.
	bad.subscribe("private-x", pusherwire.PrivateAuth(appKey, appSecret, "1.2", "private-x"), "")
	wantSubError("private-x", pusherwire.SubscriptionErrorAuth, 401)
	// Presence: channel_data changed after signing.
	cd := `{"user_id":"mallory"}`
	bad.subscribe("presence-x", pusherwire.PresenceAuth(appKey, appSecret, bad.socketID, "presence-x", cd), `{"user_id":"admin"}`)
	wantSubError("presence-x", pusherwire.SubscriptionErrorAuth, 401)
	// Signed channel_data without a user_id.
	cd = `{"user_info":{}}`
	bad.subscribe("presence-x", pusherwire.PresenceAuth(appKey, appSecret, bad.socketID, "presence-x", cd), cd)
	wantSubError("presence-x", pusherwire.SubscriptionErrorAuth, 401)
	// Names: invalid, too long, reserved, another user's channel.
	bad.subscribe("bad name!", "", "")
	wantSubError("bad name!", "InvalidChannel", pusherwire.CodeUnauthorized)
	long := strings.Repeat("a", 201)
	bad.subscribe(long, "", "")
	wantSubError(long, pusherwire.SubscriptionErrorLimit, pusherwire.CodeUnauthorized)
	bad.subscribe("#secret", "", "")
	wantSubError("#secret", "InvalidChannel", pusherwire.CodeUnauthorized)
	bad.subscribe("#server-to-user-u1", "", "")
	wantSubError("#server-to-user-u1", pusherwire.SubscriptionErrorAuth, 401)
	// A forged signin closes with 4009: tried last, on its own socket.
	check()

	// Client events: on a public channel, not subscribed, oversized, flood.
	bad.subscribe("news", "", "")
	bad.expect(pusherwire.EventSubscriptionSucceeded)
	bad.send(`{"event":"client-x","channel":"news","data":{}}`)
	wantError(pusherwire.CodeClientEventRejected, "only allowed on private and presence channels")
	by.quiet(100 * time.Millisecond)
	bad.send(`{"event":"client-x","channel":"private-nope","data":{}}`)
	wantError(pusherwire.CodeClientEventRejected, "not subscribed")
	bad.subscribe("private-room", pusherwire.PrivateAuth(appKey, appSecret, bad.socketID, "private-room"), "")
	bad.expect(pusherwire.EventSubscriptionSucceeded)
	by.subscribe("private-room", pusherwire.PrivateAuth(appKey, appSecret, by.socketID, "private-room"), "")
	by.expect(pusherwire.EventSubscriptionSucceeded)
	bad.send(`{"event":"client-big","channel":"private-room","data":{"x":"` + strings.Repeat("x", 10*1024) + `"}}`)
	wantError(pusherwire.CodeClientEventRejected, "data is larger than 10240 bytes")
	bad.send(`{"event":"client-` + strings.Repeat("n", 200) + `","channel":"private-room","data":{}}`)
	wantError(pusherwire.CodeClientEventRejected, "event name is longer than 200")
	by.quiet(100 * time.Millisecond)
	// The flood comes from a socket of its own: its bucket is full.
	flood := e.dial(t, appKey)
	flood.subscribe("private-room", pusherwire.PrivateAuth(appKey, appSecret, flood.socketID, "private-room"), "")
	flood.expect(pusherwire.EventSubscriptionSucceeded)
	for i := 0; i < 25; i++ {
		flood.send(fmt.Sprintf(`{"event":"client-flood","channel":"private-room","data":{"i":%d}}`, i))
	}
	if d := flood.expect(pusherwire.EventError).inner(); int(d["code"].(float64)) != pusherwire.CodeClientEventRejected || !strings.Contains(d["message"].(string), "rate limit") {
		t.Fatalf("error %v, want code %d with %q", d, pusherwire.CodeClientEventRejected, "rate limit")
	}
	got := 0
	for {
		f, err := by.read(300 * time.Millisecond)
		if err != nil {
			break
		}
		if f.Event == "client-flood" {
			got++
		}
	}
	if got < 10 || got > 12 {
		t.Errorf("%d of the flood passed, want the burst of 10", got)
	}
	check()

	// A forged signin: 4009 and closed; the others go on.
	bad.send(`{"event":"pusher:signin","data":{"auth":"` + appKey + `:` + strings.Repeat("0", 64) + `","user_data":"{\"id\":\"evil\"}"}}`)
	wantError(pusherwire.CodeUnauthorized, "Invalid signature")
	if code := bad.closed(); code != pusherwire.CodeUnauthorized {
		t.Errorf("forged signin closed with %d", code)
	}
	e.trigger(t, "news", "after", "{}")
	by.expect("after")
}

// TestRefusedConnections: unknown key, bad protocol versions, a bad path.
func TestRefusedConnections(t *testing.T) {
	e := start(t, nil)
	for _, c := range []struct {
		url  string
		code int
	}{
		{e.wsURL("no-such-key", "protocol=7"), pusherwire.CodeAppNotFound},
		{e.wsURL(appKey, "protocol=6"), pusherwire.CodeUnsupportedProtocol},
		{e.wsURL(appKey, "protocol=seven"), pusherwire.CodeInvalidVersion},
		{e.wsURL(appKey, "client=js"), pusherwire.CodeNoProtocol},
		{"ws://" + e.host + ":" + e.port + "/app/" + appKey + "/extra?protocol=7", pusherwire.CodePathNotFound},
	} {
		r := e.dialURL(t, c.url)
		f := r.next()
		if f.Event != pusherwire.EventError || int(f.inner()["code"].(float64)) != c.code {
			t.Errorf("%s: first frame %+v, want pusher:error %d", c.url, f, c.code)
		}
		if msg, _ := f.inner()["message"].(string); c.code == pusherwire.CodeAppNotFound && msg != `Application does not exist: no app has the key "no-such-key"` {
			t.Errorf("%s: message %q, want Pusher's text for 4001 and the key", c.url, msg)
		}
		if code := r.closed(); int(code) != c.code {
			t.Errorf("%s: closed with %d, want %d", c.url, code, c.code)
		}
	}
	// The server still serves.
	r := e.dial(t, appKey)
	r.alive()
}

// TestHTTPAPIRefusals: signatures, timestamps, bodies and sizes, each with
// its status and a message.
func TestHTTPAPIRefusals(t *testing.T) {
	e := start(t, nil)
	body := []byte(`{"name":"e","channels":["news"],"data":"{}"}`)
	path := "/apps/" + appID + "/events"
	for _, c := range []struct {
		name   string
		body   []byte
		path   string
		mut    func(url.Values)
		status int
		text   string
	}{
		{"bad signature", body, path, func(q url.Values) { q.Set("auth_signature", strings.Repeat("0", 64)) }, 401, "Invalid signature"},
		{"missing signature", body, path, func(q url.Values) { q.Del("auth_signature") }, 401, "Missing auth_signature"},
		{"stale timestamp", body, path, func(q url.Values) {
			old := pusherwire.SignRequest(appKey, appSecret, "POST", path, nil, body, time.Now().Add(-601*time.Second))
			for k := range q {
				q.Set(k, old.Get(k))
			}
		}, 401, "Timestamp expired"},
		{"wrong key", body, path, func(q url.Values) { q.Set("auth_key", otherKey) }, 401, "Invalid auth_key"},
		{"body changed", body, path, func(q url.Values) { q.Set("body_md5", pusherwire.BodyMD5([]byte("{}"))) }, 401, "Invalid body_md5"},
		{"unknown app", body, "/apps/99/events", nil, 404, "Unknown app"},
		{"not JSON", []byte(`nope`), path, nil, 400, "JSON object"},
		{"no name", []byte(`{"channels":["news"],"data":"{}"}`), path, nil, 400, "Missing name"},
		{"protocol event", []byte(`{"name":"pusher:x","channels":["news"],"data":"{}"}`), path, nil, 400, "reserved"},
		{"oversized", []byte(`{"name":"e","channels":["news"],"data":"` + strings.Repeat("x", 10*1024+1) + `"}`), path, nil, 413, "larger than 10240"},
		{"101 channels", []byte(`{"name":"e","channels":[` + strings.Repeat(`"c",`, 100) + `"c"],"data":"{}"}`), path, nil, 400, "More than 100 channels"},
		{"bad socket_id", []byte(`{"name":"e","channels":["news"],"data":"{}","socket_id":"x"}`), path, nil, 400, "Invalid socket_id"},
	} {
		st, b := e.api(t, "POST", c.path, c.body, c.mut)
		if st != c.status || !strings.Contains(b, c.text) {
			t.Errorf("%s: %d %s, want %d with %q", c.name, st, b, c.status, c.text)
		}
	}
	if st, b := e.api(t, "GET", "/apps/"+appID+"/nothing", nil, nil); st != 404 {
		t.Errorf("unknown route: %d %s", st, b)
	}
	// A known route with another method: 405, naming the method to use.
	if st, b := e.api(t, "GET", path, nil, nil); st != 405 || !strings.Contains(b, "is not allowed: use POST") {
		t.Errorf("GET %s: %d %s, want 405", path, st, b)
	}
	if st, _ := e.api(t, "POST", path, body, nil); st != 200 {
		t.Errorf("a good request after the bad ones: %d", st)
	}
}

// TestPresenceAcrossDrops: a socket that vanishes without a close frame
// still removes its member; the members limit of app 2.
func TestPresenceAcrossDrops(t *testing.T) {
	e := start(t, nil)
	sub := func(r *raw, key, secret, channel, user string) {
		cd := `{"user_id":"` + user + `","user_info":{"name":"` + user + `"}}`
		r.subscribe(channel, pusherwire.PresenceAuth(key, secret, r.socketID, channel, cd), cd)
	}
	a, b := e.dial(t, appKey), e.dial(t, appKey)
	sub(a, appKey, appSecret, "presence-d", "a")
	a.expect(pusherwire.EventSubscriptionSucceeded)
	sub(b, appKey, appSecret, "presence-d", "b")
	b.expect(pusherwire.EventSubscriptionSucceeded)
	if f := a.expect(pusherwire.EventMemberAdded); f.inner()["user_id"] != "b" {
		t.Fatalf("member_added %v", f.inner())
	}
	// b vanishes: no close frame.
	b.c.CloseNow()
	if f := a.expect(pusherwire.EventMemberRemoved); f.inner()["user_id"] != "b" {
		t.Fatalf("member_removed %v", f.inner())
	}

	// App 2 allows 2 members per presence channel.
	x, y, z := e.dial(t, otherKey), e.dial(t, otherKey), e.dial(t, otherKey)
	sub(x, otherKey, otherSecret, "presence-full", "x")
	x.expect(pusherwire.EventSubscriptionSucceeded)
	sub(y, otherKey, otherSecret, "presence-full", "y")
	y.expect(pusherwire.EventSubscriptionSucceeded)
	sub(z, otherKey, otherSecret, "presence-full", "z")
	f := z.expect(pusherwire.EventSubscriptionError)
	if d := f.inner(); d["type"] != pusherwire.SubscriptionErrorLimit || int(d["status"].(float64)) != pusherwire.CodeOverCapacity {
		t.Fatalf("over the members limit: %v", d)
	}
	// A second socket of a member already there is no new member.
	sub(z, otherKey, otherSecret, "presence-full", "x")
	z.expect(pusherwire.EventSubscriptionSucceeded)
}

// TestShutdownAndIdle: Shutdown closes Pusher sockets with 4200 (pusher-js
// reconnects at once); a socket that stops answering pings is closed with
// 4201.
func TestShutdownAndIdle(t *testing.T) {
	e := start(t, func(o *server.Options) {
		o.PingInterval, o.IdleTimeout = 50*time.Millisecond, 300*time.Millisecond
	})
	idle := testkit.DialWS(t, e.wsURL(appKey, "protocol=7"), nil)
	idle.NoPong = true
	if ce := idle.ExpectClose(t, testkit.Timeout); ce.Code != pusherwire.CodePongNotReceived {
		t.Errorf("idle socket closed with %d, want 4201", ce.Code)
	}
	r := e.dial(t, appKey)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() { _ = e.srv.Shutdown(ctx) }()
	if code := r.closed(); code != pusherwire.CodeReconnect {
		t.Errorf("shutdown closed with %d, want 4200", code)
	}
}

// TestConnectionLimits: an app at its max_connections gets 4004, a server
// at its Pusher max_connections 4100, a disabled app 4003 (and 403 from
// the HTTP API); a slot freed is usable again.
func TestConnectionLimits(t *testing.T) {
	e := start(t, func(o *server.Options) {
		o.Pusher.MaxConnections = 3
		o.Pusher.Apps[1].MaxConnections = 1
		o.Pusher.Apps = append(o.Pusher.Apps, pusher.App{ID: "3", Key: "off-key", Secret: "off", Disabled: true})
	})
	refused := func(key string, code int) {
		t.Helper()
		r := e.dialURL(t, e.wsURL(key, "protocol=7"))
		if f := r.next(); f.Event != pusherwire.EventError || int(f.inner()["code"].(float64)) != code {
			t.Fatalf("%s: %+v, want pusher:error %d", key, f, code)
		}
		if c := r.closed(); int(c) != code {
			t.Fatalf("%s: closed with %d, want %d", key, c, code)
		}
	}
	refused("off-key", pusherwire.CodeAppDisabled)
	o1 := e.dial(t, otherKey)
	refused(otherKey, pusherwire.CodeOverQuota)
	a1, _ := e.dial(t, appKey), e.dial(t, appKey)
	refused(appKey, pusherwire.CodeOverCapacity)
	open := e.srv.Stats().Connections
	a1.c.Close(websocket.StatusNormalClosure, "")
	// Its place is free once the server has seen it go.
	testkit.Eventually(t, testkit.Timeout, "the closed connection to stop counting", func() bool { return e.srv.Stats().Connections < open })
	e.dial(t, appKey).alive()
	o1.alive()
	q := pusherwire.SignRequest("off-key", "off", "GET", "/apps/3/channels", nil, nil, time.Now())
	resp, err := http.Get(e.hs.URL + "/apps/3/channels?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("disabled app's API: %d, want 403", resp.StatusCode)
	}
}
