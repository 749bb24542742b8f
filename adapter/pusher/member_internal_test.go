package pusher

import (
	"testing"

	"github.com/rollcall/rollcall/presence"
)

func TestIdentityMapping(t *testing.T) {
	for _, c := range []struct {
		info     string
		name     string
		pusherJS string // user_info pusher-js gets
	}{
		{`{"name":"Pia","color":"red"}`, "Pia", `{"name":"Pia","color":"red"}`}, // a Pusher user, as signed
		{`{"color":"red"}`, "", `{"color":"red"}`},                              // no name
		{`"just a string"`, "", `"just a string"`},
		{`role=qa`, "Sam", `{"name":"Sam","info":"role=qa"}`}, // an sgc member
		{`{"name":"Other"}`, "Sam", `{"name":"Sam","info":"{\"name\":\"Other\"}"}`},
		{``, "Sam", `{"name":"Sam","info":""}`},
		{``, "", ``},
	} {
		m := presence.Member{ID: "x", Name: c.name, Info: []byte(c.info)}
		if got := string(userInfo(m)); got != c.pusherJS {
			t.Errorf("member %q/%q: user_info %s, want %s", c.name, c.info, got, c.pusherJS)
		}
	}
	m := memberOf("42", []byte(`{"name":"Carol","x":1}`))
	if m.ID != "42" || m.Name != "Carol" || string(m.Info) != `{"name":"Carol","x":1}` {
		t.Errorf("memberOf: %+v", m)
	}
	if m := memberOf("7", []byte(`null`)); m.Name != "" || m.Info != nil {
		t.Errorf("null user_info: %+v", m)
	}
}

// TestPublishFrameEncodedOnce: the frames of a fan-out come from the
// event's cache, one encoding per app for every recipient.
func TestPublishFrameEncodedOnce(t *testing.T) {
	app := &App{ID: "1"}
	app.setDefaults()
	ev := &presence.Event{Kind: presence.KindPublish, Channel: app.EngineChannel("presence-r"), Name: "client-x", Data: []byte(`{"a":1}`), Member: presence.Member{ID: "u"}}
	calls := 0
	enc := func(ev *presence.Event) []byte {
		calls++
		name, _ := app.PusherChannel(ev.Channel)
		return publishFrame(name, ev)
	}
	a, b := ev.Frame(app, enc), ev.Frame(app, enc)
	if calls != 1 || &a[0] != &b[0] {
		t.Errorf("encoded %d times", calls)
	}
	if want := `{"event":"client-x","channel":"presence-r","data":"{\"a\":1}","user_id":"u"}`; string(a) != want {
		t.Errorf("frame %s\nwant  %s", a, want)
	}
	ev = &presence.Event{Kind: presence.KindPublish, Channel: "news", Data: []byte("hi")}
	if got := string(publishFrame("news", ev)); got != `{"event":"client-message","channel":"news","data":"hi"}` {
		t.Errorf("sgc publish: %s", got)
	}
}

func TestAppChannelNames(t *testing.T) {
	def := &App{ID: "1", Default: true}
	def.setDefaults()
	other := &App{ID: "2"}
	other.setDefaults()
	if def.EngineChannel("news") != "news" || other.EngineChannel("news") != "app-2:news" {
		t.Error("engine names")
	}
	if _, ok := def.PusherChannel("app-2:news"); ok {
		t.Error("the default app owns another app's channel")
	}
	if n, ok := other.PusherChannel("app-2:news"); !ok || n != "news" {
		t.Error("app 2's channel")
	}
	if _, ok := other.PusherChannel("news"); ok {
		t.Error("app 2 owns a default channel")
	}
	if !Reserved("app-2:x") || !Reserved("#server-to-user-1") || Reserved("presence-lobby") || Reserved("app-x") {
		t.Error("Reserved")
	}
	if err := checkApps([]App{{ID: "1", Key: "k", Secret: "s", Default: true}, {ID: "2", Key: "k2", Secret: "s", Default: true}}); err == nil {
		t.Error("two default apps accepted")
	}
	if err := checkApps([]App{{ID: "a:b", Key: "k", Secret: "s"}}); err == nil {
		t.Error("an id with ':' accepted")
	}
	if err := checkApps([]App{{ID: "1", Key: "k", Secret: "s"}, {ID: "2", Key: "k", Secret: "s"}}); err == nil {
		t.Error("a key twice accepted")
	}
}

// TestMemberUpdatedFrame: rollcall:member_updated carries the data of
// member_added, {"user_id","user_info"}, as a JSON string pusher-js parses.
func TestMemberUpdatedFrame(t *testing.T) {
	for _, c := range []struct {
		m    presence.Member
		want string
	}{
		{presence.Member{ID: "42", Name: "Pia", Info: []byte(`{"name":"Pia","c":"<b>"}`)},
			`{"event":"rollcall:member_updated","channel":"presence-r","data":"{\"user_id\":\"42\",\"user_info\":{\"name\":\"Pia\",\"c\":\"<b>\"}}"}`},
		{presence.Member{ID: "S1", Name: "Sam", Info: []byte("busy")},
			`{"event":"rollcall:member_updated","channel":"presence-r","data":"{\"user_id\":\"S1\",\"user_info\":{\"name\":\"Sam\",\"info\":\"busy\"}}"}`},
		{presence.Member{ID: "7"},
			`{"event":"rollcall:member_updated","channel":"presence-r","data":"{\"user_id\":\"7\"}"}`},
	} {
		if got := string(memberUpdatedFrame("presence-r", c.m)); got != c.want {
			t.Errorf("%+v:\n got %s\nwant %s", c.m, got, c.want)
		}
	}
}
