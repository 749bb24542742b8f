package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gobwas/ws"
	"go.uber.org/goleak"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// encodings runs f once with plain values and once with the server and the
// clients writing sgc@b64: values.
func encodings(t *testing.T, f func(t *testing.T, b64 bool)) {
	for _, b64 := range []bool{false, true} {
		t.Run(fmt.Sprintf("base64=%v", b64), func(t *testing.T) { f(t, b64) })
	}
}

func dialEnc(t *testing.T, url string, b64 bool) *rawClient {
	t.Helper()
	c := dial(t, url)
	c.enc = sgcwire.Encoder{Base64: b64}
	return c
}

// TestPresenceFlow walks every method between three clients and checks the
// exact frames each one receives.
func TestPresenceFlow(t *testing.T) {
	encodings(t, func(t *testing.T, b64 bool) {
		_, url := startServer(t, Options{EncodeBase64: b64})
		enc := sgcwire.Encoder{Base64: b64}
		a, b, c := dialEnc(t, url, b64), dialEnc(t, url, b64), dialEnc(t, url, b64)

		// join: each member@new reaches every member, the joiner included.
		alice := a.join("alice", "role=qa\r\n")
		want := enc.Encode(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: alice})
		bob := b.join("bob", "")
		if got := a.readRaw(); !jsonEqual(t, got, enc.Encode(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: bob})) {
			t.Fatalf("alice saw %s", got)
		}
		carol := c.join("carol", "é ☃")
		a.expect(sgcwire.MethodNewMember, nil)
		b.expect(sgcwire.MethodNewMember, nil)
		if b64 && !strings.Contains(string(want), "sgc@b64:") {
			t.Fatalf("base64 server wrote plain values: %s", want)
		}

		// subscribe: channel@member@new reaches the channel's members only.
		a.subscribe("room")
		b.subscribe("room")
		if m := a.expect(sgcwire.MethodNewChannelMember, nil); m.Member != bob || m.Channel != "room" {
			t.Fatalf("alice saw %+v", m)
		}

		// channel publish reaches the channel, sender included, with the
		// sender's stored identity (not what it claimed).
		a.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Text: "hi room", Channel: "room", Member: sgcwire.Member{ID: alice.ID, Name: "mallory"}})
		for _, cl := range []*rawClient{a, b} {
			got := cl.readRaw()
			exp := enc.Encode(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Text: "hi room", Channel: "room", Member: alice})
			if string(got) != string(exp) {
				t.Fatalf("publish frame:\n got %s\nwant %s", got, exp)
			}
		}

		// global publish reaches every member.
		c.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Text: "hi all", Member: sgcwire.Member{ID: carol.ID}})
		for _, cl := range []*rawClient{a, b, c} {
			m := cl.expect(sgcwire.MethodPublishMsg, nil)
			if m.Text != "hi all" || m.Channel != "" || m.Member != carol {
				t.Fatalf("global publish: %+v", m)
			}
		}

		// get members: global in join order, then the channel's.
		c.send(&sgcwire.Message{Method: sgcwire.MethodGetMembers, Member: sgcwire.Member{ID: carol.ID}})
		m := c.expect(sgcwire.MethodSendMembers, nil)
		if m.Channel != "" || m.Member != carol || len(m.Members) != 3 || m.Members[0] != alice || m.Members[1] != bob || m.Members[2] != carol {
			t.Fatalf("global members: %+v", m)
		}
		c.send(&sgcwire.Message{Method: sgcwire.MethodGetMembers, Channel: "room", Member: sgcwire.Member{ID: carol.ID}})
		m = c.expect(sgcwire.MethodSendMembers, nil)
		if m.Channel != "room" || len(m.Members) != 2 || m.Members[0] != alice || m.Members[1] != bob {
			t.Fatalf("room members: %+v", m)
		}

		// invitation refused: the inviter hears why.
		a.send(&sgcwire.Message{Method: sgcwire.MethodChannelInvitation, Channel: "room", Member: alice, Members: []sgcwire.Member{{ID: carol.ID}}})
		inv := c.expect(sgcwire.MethodChannelInvitation, nil)
		if inv.Member != alice || inv.Channel != "room" || len(inv.Members) != 0 {
			t.Fatalf("invitation: %+v", inv)
		}
		c.send(&sgcwire.Message{Method: sgcwire.MethodInvitationResponse, Channel: "room", Member: sgcwire.Member{ID: carol.ID},
			Members: []sgcwire.Member{{ID: alice.ID}}, Error: sgcwire.Error{Code: 100, Text: "busy"}})
		resp := a.expect(sgcwire.MethodInvitationResponse, nil)
		if resp.Member != carol || resp.Channel != "room" || resp.Error.Code != 100 || resp.Error.Text != "busy" ||
			len(resp.Members) != 1 || resp.Members[0] != alice {
			t.Fatalf("refusal: %+v", resp)
		}
		// an invitation can be answered once.
		c.send(&sgcwire.Message{Method: sgcwire.MethodInvitationResponse, Channel: "room", Members: []sgcwire.Member{{ID: alice.ID}}})
		c.expectError(sgcwire.CodeNoInvitation)

		// invitation accepted: the invitee subscribes and answers code 0.
		a.send(&sgcwire.Message{Method: sgcwire.MethodChannelInvitation, Channel: "room", Member: alice, Members: []sgcwire.Member{{ID: carol.ID}}})
		c.expect(sgcwire.MethodChannelInvitation, nil)
		c.subscribe("room")
		c.send(&sgcwire.Message{Method: sgcwire.MethodInvitationResponse, Channel: "room", Members: []sgcwire.Member{{ID: alice.ID}}})
		resp = a.expect(sgcwire.MethodInvitationResponse, nil)
		if resp.Member != carol || resp.Error.Code != 0 {
			t.Fatalf("acceptance: %+v", resp)
		}

		// unsubscribe: as in sgc, every member hears it.
		b.send(&sgcwire.Message{Method: sgcwire.MethodRemoveChannelMember, Channel: "room", Member: sgcwire.Member{ID: bob.ID}})
		for _, cl := range []*rawClient{a, b, c} {
			m := cl.expect(sgcwire.MethodRemoveChannelMember, nil)
			if m.Member != bob || m.Channel != "room" {
				t.Fatalf("unsubscribe: %+v", m)
			}
		}

		// leave: channel members hear the channel leave, everyone else the
		// member leave; the leaver hears neither.
		a.send(&sgcwire.Message{Method: sgcwire.MethodRemoveMember, Member: sgcwire.Member{ID: alice.ID}})
		if m := c.read(); m.Method != sgcwire.MethodRemoveChannelMember || m.Member != alice || m.Channel != "room" {
			t.Fatalf("carol saw %+v", m)
		}
		for _, cl := range []*rawClient{b, c} {
			if m := cl.expect(sgcwire.MethodRemoveMember, nil); m.Member != alice {
				t.Fatalf("member leave: %+v", m)
			}
		}
		// alice, no longer a member, may not publish.
		a.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Text: "x", Channel: "room"})
		if e := a.expectError(sgcwire.CodeMemberNotExists); !e.HasText || e.Text != "x" {
			t.Fatalf("publish error should carry the message: %+v", e)
		}

		// disconnect: carol's channel leave and member leave reach bob.
		c.conn.Close()
		if m := b.expect(sgcwire.MethodRemoveMember, nil); m.Member != carol {
			t.Fatalf("disconnect: %+v", m)
		}
	})
}

// TestDisconnectCleanup checks a dropped connection leaves its channels
// with the channel-leave event first, then the member leave.
func TestDisconnectCleanup(t *testing.T) {
	srv, url := startServer(t, Options{})
	a, b := dial(t, url), dial(t, url)
	alice := a.join("alice", "")
	b.join("bob", "")
	a.subscribe("x")
	b.subscribe("x")
	a.expect(sgcwire.MethodNewChannelMember, nil)
	a.conn.Close()
	if m := b.read(); m.Method != sgcwire.MethodRemoveChannelMember || m.Member != alice || m.Channel != "x" {
		t.Fatalf("got %+v", m)
	}
	if m := b.read(); m.Method != sgcwire.MethodRemoveMember || m.Member != alice {
		t.Fatalf("got %+v", m)
	}
	if n := srv.Engine().MemberCount(); n != 1 {
		t.Fatalf("%d members left", n)
	}
}

// TestHooksVeto checks every veto hook produces its code and text.
func TestHooksVeto(t *testing.T) {
	deny := errors.New("no")
	hooks := presence.Hooks{
		BeforeNewMember: func(_ context.Context, _ *presence.Conn, m presence.Member) error {
			if m.Name == "banned" {
				return deny
			}
			return nil
		},
		BeforeNewChannel: func(_ context.Context, _ *presence.Conn, ch string, _ presence.Member) error {
			if ch == "no-create" {
				return deny
			}
			return nil
		},
		BeforeNewChannelMember: func(_ context.Context, _ *presence.Conn, ch string, _ presence.Member) error {
			if ch == "closed" {
				return deny
			}
			return nil
		},
		BeforePublish: func(_ context.Context, _ *presence.Conn, _ string, _ presence.Member, text string) error {
			if text == "spam" {
				return deny
			}
			if text == "custom" {
				return &presence.Error{Code: sgcwire.CodePublishDenied, Text: "muted"}
			}
			return nil
		},
		BeforeSendMembers: func(_ context.Context, _ *presence.Conn, ch string, _ presence.Member) error {
			if ch == "secret" {
				return deny
			}
			return nil
		},
	}
	_, url := startServer(t, Options{Hooks: hooks, KeepEmptyChannels: true})
	other := dial(t, url)
	other.join("other", "")

	a := dial(t, url)
	a.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: a.session, Name: "banned"}})
	if e := a.expectError(2); e.Error.Text != "Create New Member request has been denied." {
		t.Fatalf("text %q", e.Error.Text)
	}
	a.join("alice", "")
	other.expect(sgcwire.MethodNewMember, nil)

	cases := []struct {
		method, channel, text string
		code                  int
		wantText              string
	}{
		{sgcwire.MethodNewChannelMember, "no-create", "", 6, "Create New Channel request has been denied."},
		{sgcwire.MethodNewChannelMember, "closed", "", 10, "Create Subscription request has been denied."},
		{sgcwire.MethodGetMembers, "secret", "", 30, "Send Members request has been denied."},
	}
	for _, tc := range cases {
		a.send(&sgcwire.Message{Method: tc.method, Channel: tc.channel, Text: tc.text})
		e := a.expectError(tc.code)
		if e.Error.Text != tc.wantText || e.Channel != tc.channel || e.Member.Name != "alice" {
			t.Fatalf("%s %s: %+v", tc.method, tc.channel, e)
		}
	}
	a.subscribe("room")
	for _, p := range []struct{ channel, text, want string }{
		{"room", "spam", "Publish Message request has been denied."},
		{"room", "custom", "muted"},
		{"", "spam", "Publish Message request has been denied."},
	} {
		a.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: p.channel, Text: p.text})
		e := a.expectError(20)
		if e.Error.Text != p.want || e.Text != p.text {
			t.Fatalf("publish veto: %+v", e)
		}
	}
	// the vetoed global publish reached nobody; the next one does.
	a.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Text: "fine"})
	if m := other.expect(sgcwire.MethodPublishMsg, nil); m.Text != "fine" {
		t.Fatalf("other got %+v", m)
	}
}

// TestProtocolErrors covers the error codes of the sgc flows.
func TestProtocolErrors(t *testing.T) {
	_, url := startServer(t, Options{Limits: Limits{MaxChannelsPerConn: 2, MaxMembersPerChannel: 1}})
	a, b := dial(t, url), dial(t, url)
	// not joined yet
	a.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: "x"})
	a.expectError(sgcwire.CodeMemberNotExists)
	alice := a.join("alice", "")
	a.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: alice})
	a.expectError(sgcwire.CodeMemberExists)
	b.join("bob", "")
	a.subscribe("x")
	a.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: "x"})
	a.expectError(sgcwire.CodeSubscriptionExists)
	b.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: "x"})
	b.expectError(sgcwire.CodeChannelFull)
	a.subscribe("y")
	a.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: "z"})
	a.expectError(sgcwire.CodeTooManyChannels)
	a.send(&sgcwire.Message{Method: sgcwire.MethodChannelInvitation, Channel: "", Members: []sgcwire.Member{{ID: b.session}}})
	a.expectError(sgcwire.CodeInvalidChannel)
	b.send(&sgcwire.Message{Method: sgcwire.MethodRemoveChannelMember, Channel: "nope"})
	b.expectError(sgcwire.CodeChannelNotExists)
	b.send(&sgcwire.Message{Method: sgcwire.MethodRemoveChannelMember, Channel: "x"})
	b.expectError(sgcwire.CodeSubscriptionNotExists)
	b.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: "x", Text: "t"})
	b.expectError(sgcwire.CodeSubscriptionNotExists)
	b.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: "nope", Text: "t"})
	b.expectError(sgcwire.CodeChannelNotExists)
	b.send(&sgcwire.Message{Method: sgcwire.MethodGetMembers, Channel: "nope"})
	b.expectError(sgcwire.CodeChannelNotExists)
	b.send(&sgcwire.Message{Method: sgcwire.MethodChannelInvitation, Channel: "x", Members: []sgcwire.Member{{ID: "NOBODY"}}})
	b.expectError(sgcwire.CodeMemberNotExists)
	b.send(&sgcwire.Message{Method: sgcwire.MethodChannelInvitation, Channel: "x"})
	b.expectError(sgcwire.CodeInvalidMessage)
}

func TestHealthzAndPlainHTTP(t *testing.T) {
	_, url := startServer(t, Options{})
	base := "http" + strings.TrimPrefix(url, "ws")
	resp, err := http.Get(base + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Fatalf("healthz: %d %q", resp.StatusCode, body)
	}
	resp, err = http.Get(base)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(body), "WebSocket") {
		t.Fatalf("plain GET: %d %q", resp.StatusCode, body)
	}
}

// TestSubprotocols: with or without the header, on any path, and the
// envelope.
func TestSubprotocols(t *testing.T) {
	_, url := startServer(t, Options{})
	plain := dialProto(t, url+"some/path")
	if m := plain.read(); m.Method != sgcwire.MethodSession {
		t.Fatalf("no session without subprotocol: %+v", m)
	}
	br := dialProto(t, url, sgcwire.EnvelopeSubprotocol)
	br.enveloped = true
	raw := br.readRaw()
	if !strings.HasPrefix(string(raw), "021.presence.esegece.com{") {
		t.Fatalf("enveloped frame: %s", raw)
	}
	m, err := sgcwire.Decode(raw[24:])
	if err != nil || m.Method != sgcwire.MethodSession {
		t.Fatalf("enveloped session: %s %v", raw, err)
	}
	br.session = m.Text
	br.join("broker-user", "")
	// a frame for another protocol in the envelope is ignored
	br.sendFrame(wsText([]byte("000{}")))
	br.subscribe("c")
}

// TestServerBroadcast: Server.Broadcast reaches a channel's members, or
// everyone, as a publish@msg with an empty member.
func TestServerBroadcast(t *testing.T) {
	srv, url := startServer(t, Options{})
	a, b := dial(t, url), dial(t, url)
	a.join("a", "")
	b.join("b", "")
	a.subscribe("room")
	if err := srv.Broadcast(t.Context(), "room", "room notice"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Broadcast(t.Context(), "", "all notice"); err != nil {
		t.Fatal(err)
	}
	if err := srv.Broadcast(t.Context(), "nowhere", "x"); !errors.Is(err, presence.ErrChannelNotExists) {
		t.Fatalf("unknown channel: %v", err)
	}
	want := `{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"room notice"},"channel":{"name":"room"},"member":{"id":"","name":"","info":""}}`
	if got := string(a.readRaw()); got != want {
		t.Fatalf("got %s", got)
	}
	for _, c := range []*rawClient{a, b} {
		if m := c.expect(sgcwire.MethodPublishMsg, nil); m.Text != "all notice" || m.Member != (sgcwire.Member{}) {
			t.Fatalf("got %+v", m)
		}
	}
}

// TestWebHandler: with Options.Web a plain GET or HEAD goes to it (not
// /healthz, not /api/), other methods still get 426, and WebSocket upgrades on
// the same path still work; without it, a plain GET gets 426.
func TestWebHandler(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "the page at "+r.URL.Path)
	})
	get := func(method, url string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	_, url := startServer(t, Options{Web: page, APIKey: "k"})
	base := "http" + strings.TrimPrefix(url, "ws")
	if code, body := get("GET", base); code != 200 || body != "the page at /" {
		t.Fatalf("GET /: %d %q", code, body)
	}
	if code, body := get("GET", base+"x/y"); code != 200 || body != "the page at /x/y" {
		t.Fatalf("GET /x/y: %d %q", code, body)
	}
	if code, _ := get("HEAD", base); code != 200 {
		t.Fatalf("HEAD /: %d", code)
	}
	if code, _ := get("POST", base); code != http.StatusUpgradeRequired {
		t.Fatalf("POST /: %d", code)
	}
	if code, body := get("GET", base+"healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	if code, _ := get("GET", base+"api/channels"); code != http.StatusUnauthorized {
		t.Fatalf("api without key: %d, want 401 from the API", code)
	}
	a := dial(t, url)
	a.join("alice", "")

	_, plain := startServer(t, Options{})
	if code, _ := get("GET", "http"+strings.TrimPrefix(plain, "ws")); code != http.StatusUpgradeRequired {
		t.Fatalf("GET / without Web: %d", code)
	}
}

// TestEmptyChannelIsEveryone: sgc's server accepts subscribe(""). In
// rollcall "" is everyone (publish and member lists to "" reach every
// member), which a member is in from its join: subscribing to it and
// unsubscribing from it are answered to the sender alone with the echo sgc
// clients wait for, change nothing (no channel, no count, no event for
// others), and may be repeated; before a join both are error 3. A publish
// to "" still reaches every member, and the member list of "" is everyone.
func TestEmptyChannelIsEveryone(t *testing.T) {
	srv, u := startServer(t, Options{})
	a, b := dial(t, u), dial(t, u)
	for _, method := range []string{sgcwire.MethodNewChannelMember, sgcwire.MethodRemoveChannelMember} {
		a.send(&sgcwire.Message{Method: method, Channel: ""})
		a.expectError(sgcwire.CodeMemberNotExists)
	}
	alice := a.join("alice", "")
	bob := b.join("bob", "")
	a.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member == bob })
	for range 2 {
		for _, method := range []string{sgcwire.MethodNewChannelMember, sgcwire.MethodRemoveChannelMember} {
			a.send(&sgcwire.Message{Method: method, Member: alice, Channel: ""})
			if m := a.expect(method, nil); m.Member != alice || m.Channel != "" {
				t.Fatalf("%s \"\": echo %+v", method, m)
			}
		}
	}
	a.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: ""})
	a.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool { return m.Member == alice })
	if chans := srv.Engine().Channels(); len(chans) != 0 {
		t.Fatalf("channels %v after subscribe(\"\"), want none", chans)
	}
	// b heard none of it: its next frame is a's publish to everyone.
	a.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: "", Text: "to all"})
	if m := b.read(); m.Method != sgcwire.MethodPublishMsg || m.Text != "to all" || m.Member != alice {
		t.Fatalf("b's next frame is %+v, want a's publish to everyone", m)
	}
	a.expect(sgcwire.MethodPublishMsg, func(m *sgcwire.Message) bool { return m.Text == "to all" })
	a.send(&sgcwire.Message{Method: sgcwire.MethodGetMembers, Channel: ""})
	if m := a.expect(sgcwire.MethodSendMembers, nil); len(m.Members) != 2 {
		t.Fatalf("the members of \"\": %+v, want alice and bob", m.Members)
	}
}

// TestSubprotocolRefused: a handshake offering only subprotocols that are
// not sgc's gets 400 naming the accepted one, before any upgrade; offering
// sgc's among others still connects.
func TestSubprotocolRefused(t *testing.T) {
	_, url := startServer(t, Options{})
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	_, _, _, err := ws.Dialer{Protocols: []string{"chat", "superchat"}}.Dial(ctx, url)
	var status ws.StatusError
	if !errors.As(err, &status) || int(status) != http.StatusBadRequest {
		t.Fatalf("chat: %v", err)
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", "http"+strings.TrimPrefix(url, "ws"), nil)
	for k, v := range map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
		"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "chat"} {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), sgcwire.Subprotocol) ||
		!strings.Contains(string(body), "chat") {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	c := dialProto(t, url, "chat", sgcwire.Subprotocol)
	if m := c.read(); m.Method != sgcwire.MethodSession {
		t.Fatalf("chat and sgc: %+v", m)
	}
}
