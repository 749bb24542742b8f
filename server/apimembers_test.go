package server

import (
	"context"
	"encoding/json"
	"fmt"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rollcall/rollcall/presence"
)

// getPage gets one page of members from the HTTP API.
func getPage(t *testing.T, url, path string) apiPage {
	t.Helper()
	code, v := apiCall(t, url, "GET", path, testKey, "")
	if code != 200 {
		t.Fatalf("GET %s: %d %v", path, code, v)
	}
	raw, _ := json.Marshal(v)
	var p apiPage
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("GET %s: %s: %v", path, raw, err)
	}
	return p
}

// pageAll pages through path (which ends in "?limit=N") and returns the
// ids in the order the pages gave them, and how many pages there were.
func pageAll(t *testing.T, url, path string) (ids []string, pages int) {
	t.Helper()
	for cursor := ""; ; pages++ {
		p := getPage(t, url, path+cursor)
		for _, m := range p.Members {
			ids = append(ids, m.ID)
		}
		if p.Next == "" {
			return ids, pages + 1
		}
		cursor = "&cursor=" + p.Next
	}
}

// TestAPIMembersPaged: with limit (or cursor) the member lists answer
// pages that join into the plain list, with the total and the version;
// without either they answer the plain array as before.
func TestAPIMembersPaged(t *testing.T) {
	_, url := startServer(t, Options{APIKey: testKey})
	var want []string
	for _, name := range []string{"ann", "bob", "cy"} {
		c := dial(t, url)
		want = append(want, c.join(name, "i-"+name).ID)
		c.subscribe("sales/eu")
	}
	channel := "/api/channels/" + neturl.PathEscape("sales/eu") + "/members"
	for _, path := range []string{channel, "/api/members"} {
		first := getPage(t, url, path+"?limit=2")
		if len(first.Members) != 2 || first.Total != 3 || first.Next == "" || first.Version == 0 ||
			first.Members[0] != (apiMember{want[0], "ann", "i-ann"}) {
			t.Fatalf("%s first page: %+v", path, first)
		}
		last := getPage(t, url, path+"?limit=2&cursor="+first.Next)
		if len(last.Members) != 1 || last.Members[0].ID != want[2] || last.Total != 3 || last.Next != "" || last.Version != first.Version {
			t.Fatalf("%s last page: %+v", path, last)
		}
		// A cursor alone pages with the largest limit: everything here.
		if all := getPage(t, url, path+"?cursor=0"); len(all.Members) != 3 || all.Next != "" {
			t.Fatalf("%s with cursor 0: %+v", path, all)
		}
		// The last page says so: "next" is left out.
		if _, v := apiCall(t, url, "GET", path+"?limit=3", testKey, ""); strings.Contains(fmt.Sprint(v), "next") {
			t.Fatalf("%s: the last page has a next: %v", path, v)
		}
		// Without limit and cursor: the plain array.
		if _, v := apiCall(t, url, "GET", path, testKey, ""); fmt.Sprintf("%T", v) != "[]interface {}" {
			t.Fatalf("%s without paging: %v", path, v)
		}
	}
	// The version is the channel's: a change moves it.
	before := getPage(t, url, channel+"?limit=1").Version
	d := dial(t, url)
	d.join("eve", "")
	d.subscribe("sales/eu")
	if after := getPage(t, url, channel+"?limit=1"); after.Version <= before || after.Total != 4 {
		t.Fatalf("after a join: version %d (was %d), total %d", after.Version, before, after.Total)
	}
	if code, v := apiCall(t, url, "GET", "/api/channels/nope/members?limit=5", testKey, ""); code != 404 || errorText(v) != `no channel "nope"` {
		t.Fatalf("unknown channel: %d %v", code, v)
	}
}

// TestAPIChannelState: GET /api/channels/{name} answers the count and the
// version that a page of the same moment carries.
func TestAPIChannelState(t *testing.T) {
	_, url := startServer(t, Options{APIKey: testKey})
	a, b := dial(t, url), dial(t, url)
	a.join("ann", "")
	b.join("bob", "")
	a.subscribe("sales/eu")
	b.subscribe("sales/eu")
	path := "/api/channels/" + neturl.PathEscape("sales/eu")
	version := getPage(t, url, path+"/members?limit=1").Version
	code, v := apiCall(t, url, "GET", path, testKey, "")
	want := fmt.Sprintf(`{"name":"sales/eu","members":2,"version":%d}`, version)
	if code != 200 || !jsonEqualValue(t, v, want) {
		t.Fatalf("channel: %d %v, want %s", code, v, want)
	}
	if code, v := apiCall(t, url, "GET", "/api/channels/nope", testKey, ""); code != 404 || errorText(v) != `no channel "nope"` {
		t.Fatalf("unknown channel: %d %v", code, v)
	}
}

// TestAPIMembersBadPage: a bad limit or cursor is a 400 that says what is
// wrong; the cap on the limit is Limits.MaxMembersPage.
func TestAPIMembersBadPage(t *testing.T) {
	_, url := startServer(t, Options{APIKey: testKey, Limits: Limits{MaxMembersPage: 5}})
	c := dial(t, url)
	c.join("ann", "")
	c.subscribe("room")
	for _, path := range []string{"/api/channels/room/members", "/api/members"} {
		for _, tt := range []struct{ query, err string }{
			{"limit=0", `"limit" must be a whole number from 1 to 5, not "0"`},
			{"limit=-1", `"limit" must be a whole number from 1 to 5, not "-1"`},
			{"limit=6", `"limit" must be a whole number from 1 to 5, not "6"`},
			{"limit=two", `"limit" must be a whole number from 1 to 5, not "two"`},
			{"limit=", `"limit" must be a whole number from 1 to 5, not ""`},
			{"limit=2&cursor=", `"cursor" must be the "next" of the page before (the last page has none), not ""`},
			{"cursor=abc", `not "abc"`},
			{"cursor=-3", `not "-3"`},
			{"cursor=18446744073709551616", `not "18446744073709551616"`},
		} {
			if code, v := apiCall(t, url, "GET", path+"?"+tt.query, testKey, ""); code != 400 || !strings.Contains(errorText(v), tt.err) {
				t.Errorf("%s?%s: %d %v, want 400 %q", path, tt.query, code, v, tt.err)
			}
		}
		if p := getPage(t, url, path+"?limit=5"); len(p.Members) != 1 {
			t.Errorf("%s?limit=5: %+v", path, p)
		}
	}
	// NoLimit lifts the cap.
	_, open := startServer(t, Options{APIKey: testKey, Limits: Limits{MaxMembersPage: NoLimit}})
	if p := getPage(t, open, "/api/members?limit=1000000"); p.Total != 0 || len(p.Members) != 0 {
		t.Fatalf("without a cap: %+v", p)
	}
	if code, v := apiCall(t, open, "GET", "/api/members?limit=0", testKey, ""); code != 400 || errorText(v) != `"limit" must be a whole number from 1 up, not "0"` {
		t.Fatalf("limit 0 without a cap: %d %v", code, v)
	}
}

// TestAPINewRoutesNeedTheKey: the routes of member pages, channel state and
// member updates are behind the API key like the others.
func TestAPINewRoutesNeedTheKey(t *testing.T) {
	_, url := startServer(t, Options{APIKey: testKey})
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/members?limit=1", ""},
		{"GET", "/api/channels/room/members?limit=1", ""},
		{"GET", "/api/channels/room", ""},
		{"POST", "/api/members/ann", `{"name":"x","info":""}`},
	} {
		for _, key := range []string{"", "wrong"} {
			if code, v := apiCall(t, url, r.method, r.path, key, r.body); code != 401 || !strings.Contains(errorText(v), "API key") {
				t.Errorf("%s %s with key %q: %d %v", r.method, r.path, key, code, v)
			}
		}
	}
}

// recorder is a presence.Sink that hands on the events of one kind.
type recorder struct {
	kind presence.Kind
	ch   chan *presence.Event
}

func (r *recorder) Deliver(ev *presence.Event) {
	if ev.Kind == r.kind {
		r.ch <- ev
	}
}

// TestAPIUpdateMember: POST /api/members/{id} changes the member's name
// and info: the channel's subscribers are told, and the lists show it.
func TestAPIUpdateMember(t *testing.T) {
	srv, url := startServer(t, Options{APIKey: testKey})
	a := dial(t, url)
	ann := a.join("ann", "tea")
	a.subscribe("room")
	e, ctx := srv.Engine(), context.Background()
	rec := &recorder{kind: presence.KindUpdateChannelMember, ch: make(chan *presence.Event, 4)}
	watcher := e.Connect("WATCHER", rec)
	if err := e.Join(ctx, watcher, presence.Member{Name: "watcher"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Subscribe(ctx, watcher, "room"); err != nil {
		t.Fatal(err)
	}

	code, v := apiCall(t, url, "POST", "/api/members/"+ann.ID, testKey, `{"name":"ann <b>","info":"coffee"}`)
	if code != 200 || !jsonEqualValue(t, v, `{"ok":true,"id":"`+ann.ID+`"}`) {
		t.Fatalf("update: %d %v", code, v)
	}
	select {
	case ev := <-rec.ch:
		if ev.Channel != "room" || ev.Member.ID != ann.ID || ev.Member.Name != "ann <b>" || string(ev.Member.Info) != "coffee" {
			t.Fatalf("the watcher heard %+v", ev)
		}
	case <-time.After(testTimeout):
		t.Fatal("the watcher heard no update")
	}
	wantList := `[{"id":"` + ann.ID + `","name":"ann <b>","info":"coffee"},{"id":"WATCHER","name":"watcher","info":""}]`
	if code, v := apiCall(t, url, "GET", "/api/channels/room/members", testKey, ""); code != 200 || !jsonEqualValue(t, v, wantList) {
		t.Fatalf("channel members after the update: %d %v", code, v)
	}

	for _, tt := range []struct {
		path, body string
		code       int
		err        string
	}{
		{"/api/members/NOPE", `{"name":"x","info":""}`, 404, `no member "NOPE" on this node`},
		{"/api/members/" + ann.ID, `{"name":"x"}`, 400, `"name" and "info" are required`},
		{"/api/members/" + ann.ID, `{"info":"x"}`, 400, `"name" and "info" are required`},
		{"/api/members/" + ann.ID, `{"name":"x","info":"y","id":"z"}`, 400, `unknown field "id"`},
		{"/api/members/" + ann.ID, `{"name":1,"info":""}`, 400, "invalid JSON body"},
		{"/api/members/" + ann.ID, `{"name":"x","info":"` + strings.Repeat("a", maxAPIBody) + `"}`, 413, "too large"},
	} {
		if code, v := apiCall(t, url, "POST", tt.path, testKey, tt.body); code != tt.code || !strings.Contains(errorText(v), tt.err) {
			t.Errorf("%.60s: %d %v, want %d %q", tt.body, code, v, tt.code, tt.err)
		}
	}
	select {
	case ev := <-rec.ch:
		t.Fatalf("a refused update was told: %+v", ev)
	default:
	}
	if code, v := apiCall(t, url, "GET", "/api/members/"+ann.ID, testKey, ""); code != 405 || !strings.Contains(errorText(v), "use POST") {
		t.Fatalf("GET of a member: %d %v", code, v)
	}
}

// TestAPIMembersPagingUnderChurn: paging through a channel with limit 7
// while other members join and leave meanwhile (some of them placed
// between the members that stay) gives every member present throughout
// exactly once, and no member twice.
func TestAPIMembersPagingUnderChurn(t *testing.T) {
	srv, url := startServer(t, Options{APIKey: testKey})
	e, ctx := srv.Engine(), context.Background()
	enter := func(id string) *presence.Conn {
		c := e.Connect(id, discard{})
		if err := e.Join(ctx, c, presence.Member{Name: id}); err != nil {
			t.Error(err)
		}
		if err := e.Subscribe(ctx, c, "room"); err != nil {
			t.Error(err)
		}
		return c
	}
	const stable, churners = 500, 4
	// Every fifth member of the first ones is a churner's: they leave
	// from the middle of the order.
	var stay []string
	churn := make([][]*presence.Conn, churners)
	for i := range stable + stable/4 {
		if i%5 == 4 {
			k := i % churners
			churn[k] = append(churn[k], enter(fmt.Sprintf("C%d-%d", k, i)))
			continue
		}
		id := fmt.Sprintf("S%03d", i)
		enter(id)
		stay = append(stay, id)
	}
	if t.Failed() {
		t.FailNow()
	}

	var changes atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for k := range churners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns := churn[k]
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				// The oldest leaves, a new one enters at the end.
				e.Disconnect(conns[0])
				conns = append(conns[1:], enter(fmt.Sprintf("N%d-%d", k, n)))
				changes.Add(2)
			}
		}()
	}
	defer func() {
		close(stop)
		wg.Wait()
	}()

	for pass := range 3 {
		before := changes.Load()
		ids, pages := pageAll(t, url, "/api/channels/room/members?limit=7")
		if changes.Load() == before {
			t.Fatalf("pass %d: nobody joined or left while it paged", pass)
		}
		seen := make(map[string]int, len(ids))
		for _, id := range ids {
			if seen[id]++; seen[id] == 2 {
				t.Errorf("pass %d: %s on two pages", pass, id)
			}
		}
		for _, id := range stay {
			if seen[id] != 1 {
				t.Errorf("pass %d: %s, present throughout, seen %d times", pass, id, seen[id])
			}
		}
		if pages < len(stay)/7 {
			t.Errorf("pass %d: %d pages for %d members", pass, pages, len(ids))
		}
		t.Logf("pass %d: %d members on %d pages, %d joins and leaves meanwhile", pass, len(ids), pages, changes.Load()-before)
	}
}
