package pusher_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/server"
)

// presenceSub subscribes r to a presence channel of the default app as
// user.
func presenceSub(r *raw, channel, user string) {
	cd := `{"user_id":` + strconvQuote(user) + `,"user_info":{"name":"n"}}`
	r.subscribe(channel, pusherwire.PresenceAuth(appKey, appSecret, r.socketID, channel, cd), cd)
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// sgcClient dials an sgc Go client that records the errors of its
// publishes and the messages it hears.
type sgcClient struct {
	*client.Client
	pubErr chan client.Error
	heard  chan string
}

func dialSgc(t *testing.T, e *env, opts client.Options) *sgcClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sc := &sgcClient{pubErr: make(chan client.Error, 16), heard: make(chan string, 16)}
	opts.OnErrorPublishMsg = func(err client.Error, _, _ string, _ client.Member) { sc.pubErr <- err }
	opts.OnPublishMsg = func(text, channel string, _ client.Member) { sc.heard <- channel + " " + text }
	opts.NoReconnect = true
	c, err := client.Dial(ctx, "ws://"+e.host+":"+e.port+"/", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sc.Client = c
	return sc
}

// wantDenied checks that err is the sgc error code whose text names the
// reason.
func wantDenied(t *testing.T, what string, err error, code int, reason string) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Code != code || !strings.Contains(ce.Text, reason) {
		t.Errorf("%s: %v, want error %d naming %q", what, err, code, reason)
	}
}

// TestSgcKeptOutOfReservedChannels: by default an sgc client can neither
// subscribe to, nor list the members of, nor publish into the channels
// Pusher reserves (the default app's private, encrypted and presence
// channels and their cache variants, user channels, other apps' channels),
// even while Pusher users are in them: sgc errors 10 (subscription), 30
// (member list) and 20 (publish), naming the reason each time. Public
// channels stay shared.
func TestSgcKeptOutOfReservedChannels(t *testing.T) {
	e := start(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := e.dial(t, appKey)
	presenceSub(p, "presence-x", "pia")
	p.expect(pusherwire.EventSubscriptionSucceeded)
	p.subscribe("private-x", pusherwire.PrivateAuth(appKey, appSecret, p.socketID, "private-x"), "")
	p.expect(pusherwire.EventSubscriptionSucceeded)

	c := dialSgc(t, e, client.Options{Name: "snoop"})
	for _, tc := range []struct{ channel, reason string }{
		{"presence-x", `"presence-x" is a Pusher presence channel: it needs Pusher's authorization`},
		{"presence-cache-x", "Pusher presence channel"},
		{"private-x", `"private-x" is a Pusher private channel: it needs Pusher's authorization`},
		{"private-cache-x", "Pusher private channel"},
		{"private-encrypted-x", "Pusher encrypted channel"},
		{"private-encrypted-cache-x", "Pusher encrypted channel"},
		{"#server-to-user-pia", "Pusher user channel"},
		{"app-" + otherID + ":news", "belongs to a Pusher app"},
	} {
		wantDenied(t, "subscribe "+tc.channel, c.Subscribe(ctx, tc.channel), client.CodeSubscriptionDenied, tc.reason)
		_, err := c.GetMembers(ctx, tc.channel)
		wantDenied(t, "get members "+tc.channel, err, client.CodeSendMembersDenied, tc.reason)
		if err := c.Publish(ctx, tc.channel, "psst"); err != nil {
			t.Fatal(err)
		}
		select {
		case ce := <-c.pubErr:
			wantDenied(t, "publish "+tc.channel, &ce, client.CodePublishDenied, tc.reason)
		case <-ctx.Done():
			t.Fatalf("no answer to the publish into %s", tc.channel)
		}
	}
	// A public channel is shared.
	if err := c.Subscribe(ctx, "lobby"); err != nil {
		t.Errorf("public channel: %v", err)
	}
}

// TestSgcLetIntoReservedChannels: the AuthorizeSgc hook lets an sgc client
// into the reserved channels it names; SgcChannels lets authenticated sgc
// clients into those their patterns match; anyone else stays out. An open
// server refuses SgcChannels.
func TestSgcLetIntoReservedChannels(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e := start(t, func(o *server.Options) {
		o.Pusher.AuthorizeSgc = func(_ context.Context, c *presence.Conn, channel string, _ presence.Access) error {
			if m, ok := c.Member(); ok && m.Name == "staff" && channel == "presence-desk" {
				return nil
			}
			return &presence.Error{Text: "staff only"}
		}
	})
	staff := dialSgc(t, e, client.Options{Name: "staff"})
	if err := staff.Subscribe(ctx, "presence-desk"); err != nil {
		t.Fatal(err)
	}
	if _, err := staff.GetMembers(ctx, "presence-desk"); err != nil {
		t.Fatal(err)
	}
	other := dialSgc(t, e, client.Options{Name: "guest"})
	wantDenied(t, "guest", other.Subscribe(ctx, "presence-desk"), client.CodeSubscriptionDenied, "staff only")

	if _, err := server.New(server.Options{Pusher: server.PusherOptions{
		Apps: []pusher.App{{ID: appID, Key: appKey, Secret: appSecret, Default: true}}, SgcChannels: []string{"presence-*"},
	}}); err == nil {
		t.Error("an open server took SgcChannels")
	}
	users := map[string]string{"ann": "pw"}
	a := start(t, func(o *server.Options) {
		o.Auth.Basic = func(_ context.Context, _ *http.Request, user, password string) (server.Identity, error) {
			if users[user] != password {
				return server.Identity{}, errors.New("no")
			}
			return server.Identity{ID: user, Name: user}, nil
		}
		o.Pusher.SgcChannels = []string{"presence-team-*"}
	})
	h := http.Header{}
	h.Set("Authorization", "Basic YW5uOnB3") // ann:pw
	ann := dialSgc(t, a, client.Options{HTTPHeader: h})
	if err := ann.Subscribe(ctx, "presence-team-blue"); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, "outside the pattern", ann.Subscribe(ctx, "presence-other"), client.CodeSubscriptionDenied, "Pusher presence channel")
}

// rawSgc is an sgc connection driven frame by frame.
type rawSgc struct {
	t *testing.T
	c *websocket.Conn
}

func dialRawSgc(t *testing.T, e *env) *rawSgc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+e.host+":"+e.port+"/", &websocket.DialOptions{Subprotocols: []string{sgcwire.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	r := &rawSgc{t: t, c: c}
	if m := r.next(); m.Method != sgcwire.MethodSession {
		t.Fatalf("first frame %+v", m)
	}
	return r
}

func (r *rawSgc) send(m *sgcwire.Message) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.c.Write(ctx, websocket.MessageText, sgcwire.Encoder{}.Encode(m)); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawSgc) next() *sgcwire.Message {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := r.c.Read(ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	m, err := sgcwire.Decode(b)
	if err != nil {
		r.t.Fatalf("frame %s: %v", b, err)
	}
	return m
}

// expect reads until a frame of the method arrives.
func (r *rawSgc) expect(method string) *sgcwire.Message {
	r.t.Helper()
	for {
		if m := r.next(); m.Method == method {
			return m
		}
	}
}

// TestMemberIDsOneNamespace: an sgc client cannot join under the user_id
// of a Pusher user present in the default app (error 1, member exists),
// nor can a Pusher user take the id of an sgc member (subscription_error
// naming it); a non-default app's user ids are its own.
func TestMemberIDsOneNamespace(t *testing.T) {
	e := start(t, nil)
	p := e.dial(t, appKey)
	presenceSub(p, "presence-room", "u1")
	p.expect(pusherwire.EventSubscriptionSucceeded)

	s := dialRawSgc(t, e)
	s.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: "u1", Name: "fake"}})
	if m := s.expect(sgcwire.MethodErrorMemberChannel); m.Error.Code != sgcwire.CodeMemberExists {
		t.Fatalf("sgc join as a Pusher user's id: %+v", m.Error)
	}
	s.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: "u2", Name: "sam"}})
	if m := s.expect(sgcwire.MethodNewMember); m.Member.ID != "u2" {
		t.Fatalf("sgc join: %+v", m)
	}
	q := e.dial(t, appKey)
	presenceSub(q, "presence-room", "u2")
	f := q.expect(pusherwire.EventSubscriptionError)
	if d := f.inner(); int(d["status"].(float64)) != 403 || !strings.Contains(d["error"].(string), "sgc member") {
		t.Fatalf("Pusher user with an sgc member's id: %v", d)
	}
	// App 2's ids are another namespace.
	o := e.dial(t, otherKey)
	cd := `{"user_id":"u2"}`
	o.subscribe("presence-room", pusherwire.PresenceAuth(otherKey, otherSecret, o.socketID, "presence-room", cd), cd)
	o.expect(pusherwire.EventSubscriptionSucceeded)
}

// TestSgcMessagesAreClientEvents: what an sgc client publishes reaches
// Pusher clients only as a client event would: not in a public channel
// (where a Pusher client needs no authorization, so on a server with
// --auth an unauthenticated pusher-js reads nothing an authenticated sgc
// client says), not in an app without client events; the server's own
// broadcasts still reach them.
func TestSgcMessagesAreClientEvents(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, clientEvents := range []bool{true, false} {
		e := start(t, func(o *server.Options) {
			o.Pusher.Apps[0].ClientEvents = clientEvents
			o.Auth.Basic = func(_ context.Context, _ *http.Request, user, password string) (server.Identity, error) {
				return server.Identity{ID: user, Name: user}, nil
			}
			o.Pusher.SgcChannels = []string{"private-shared"}
		})
		p := e.dial(t, appKey)
		p.subscribe("lobby", "", "")
		p.expect(pusherwire.EventSubscriptionSucceeded)
		p.subscribe("private-shared", pusherwire.PrivateAuth(appKey, appSecret, p.socketID, "private-shared"), "")
		p.expect(pusherwire.EventSubscriptionSucceeded)
		h := http.Header{}
		h.Set("Authorization", "Basic c2FtOnB3") // sam:pw
		s := dialSgc(t, e, client.Options{HTTPHeader: h})
		for _, ch := range []string{"lobby", "private-shared"} {
			if err := s.Subscribe(ctx, ch); err != nil {
				t.Fatal(err)
			}
			if err := s.Publish(ctx, ch, "from sgc"); err != nil {
				t.Fatal(err)
			}
			// Once the sgc client hears its publish, the Pusher client
			// was served before it (one channel, one order).
			for heard := false; !heard; {
				select {
				case got := <-s.heard:
					heard = got == ch+" from sgc"
				case <-ctx.Done():
					t.Fatal("sgc never heard its own publish")
				}
			}
			if err := e.srv.Broadcast(ctx, ch, "from the server"); err != nil {
				t.Fatal(err)
			}
			f := p.expect(pusher.SgcMessageEvent)
			want := "from the server"
			if ch == "private-shared" && clientEvents {
				want = "from sgc"
			}
			if got := strings.Trim(string(f.Data), `"`); f.Channel != ch || got != want {
				t.Fatalf("client events %v, %s: Pusher got %s %s, want %q", clientEvents, ch, f.Channel, f.Data, want)
			}
		}
	}
}

// TestUserIDCap: a user_id longer than the app's MaxUserIDBytes (128 by
// default) is refused in a presence subscription (AuthError, 401) and in a
// signin (pusher:error and close 4009).
func TestUserIDCap(t *testing.T) {
	e := start(t, nil)
	long := strings.Repeat("u", pusher.DefaultMaxUserIDBytes+1)
	p := e.dial(t, appKey)
	presenceSub(p, "presence-big", long)
	f := p.expect(pusherwire.EventSubscriptionError)
	if d := f.inner(); d["type"] != pusherwire.SubscriptionErrorAuth || int(d["status"].(float64)) != 401 {
		t.Fatalf("long user_id: %v", d)
	}
	presenceSub(p, "presence-big", long[:pusher.DefaultMaxUserIDBytes])
	p.expect(pusherwire.EventSubscriptionSucceeded)

	ud := `{"id":"` + long + `"}`
	b, _ := json.Marshal(map[string]any{"event": "pusher:signin", "data": map[string]string{
		"user_data": ud, "auth": pusherwire.UserAuth(appKey, appSecret, p.socketID, ud),
	}})
	p.send(string(b))
	if code := p.closed(); code != pusherwire.CodeUnauthorized {
		t.Fatalf("signin with a long id closed with %d, want 4009", code)
	}
}

// TestDashboardHidesPusherChannels: without an API key the dashboard shows
// neither the names nor the members (with their user_info) of the channels
// only Pusher's authorization opens; public channels it shows. With the
// key, the operator sees them all.
func TestDashboardHidesPusherChannels(t *testing.T) {
	for _, key := range []string{"", "operator-key"} {
		e := start(t, func(o *server.Options) { o.Dashboard, o.APIKey = true, key })
		p := e.dial(t, appKey)
		presenceSub(p, "presence-secret", "pia")
		p.expect(pusherwire.EventSubscriptionSucceeded)
		p.subscribe("private-plans", pusherwire.PrivateAuth(appKey, appSecret, p.socketID, "private-plans"), "")
		p.expect(pusherwire.EventSubscriptionSucceeded)
		p.subscribe("news", "", "")
		p.expect(pusherwire.EventSubscriptionSucceeded)
		req, _ := http.NewRequest("GET", e.hs.URL+"/dashboard/data", nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var snap struct {
			Channels []struct {
				Name string
				List []json.RawMessage
			}
			HiddenChannels int `json:"hidden_channels"`
		}
		err = json.NewDecoder(resp.Body).Decode(&snap)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("key %q: %d %v", key, resp.StatusCode, err)
		}
		var names []string
		for _, c := range snap.Channels {
			names = append(names, c.Name)
		}
		got := strings.Join(names, " ")
		if key == "" && (got != "news" || snap.HiddenChannels != 2) {
			t.Errorf("no key: channels %q, %d hidden; want news alone, 2 hidden", got, snap.HiddenChannels)
		}
		if key != "" && (!strings.Contains(got, "presence-secret") || !strings.Contains(got, "private-plans")) {
			t.Errorf("with the key: channels %q, want every one", got)
		}
	}
}
