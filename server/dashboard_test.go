package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/presence"
)

// httpBase turns a test server's ws:// URL into its http:// base.
func httpBase(wsURL string) string {
	return "http" + strings.TrimSuffix(strings.TrimPrefix(wsURL, "ws"), "/")
}

// get makes a GET with an optional bearer key and returns the status,
// content type and body.
func get(t *testing.T, url, key string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
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
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(body)
}

// TestDashboardData: the snapshot lists the channels, largest first, with
// their counts and members, everyone online, and the stats.
func TestDashboardData(t *testing.T) {
	_, url := startServer(t, Options{Dashboard: true})
	a, b := dial(t, url), dial(t, url)
	alice := a.join("alice", "tea")
	bob := b.join("bob", "")
	a.subscribe("sales/eu")
	a.subscribe("room")
	b.subscribe("room")

	code, ctype, body := get(t, httpBase(url)+"/dashboard/data", "")
	if code != 200 || ctype != "application/json; charset=utf-8" {
		t.Fatalf("GET /dashboard/data: %d %q %s", code, ctype, body)
	}
	var snap dashboardSnapshot
	if err := json.Unmarshal([]byte(body), &snap); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	alicej, bobj := apiMember(alice), apiMember(bob)
	want := []dashboardChannel{
		{Name: "room", Members: 2, List: []apiMember{alicej, bobj}},
		{Name: "sales/eu", Members: 1, List: []apiMember{alicej}},
	}
	if fmt.Sprint(snap.Channels) != fmt.Sprint(want) || snap.MoreChannels != 0 {
		t.Fatalf("channels %+v (+%d), want %+v", snap.Channels, snap.MoreChannels, want)
	}
	if fmt.Sprint(snap.Online) != fmt.Sprint([]apiMember{alicej, bobj}) || snap.MoreOnline != 0 {
		t.Fatalf("online %+v (+%d)", snap.Online, snap.MoreOnline)
	}
	if s := snap.Stats; s.Connections != 2 || s.Members != 2 || s.Channels != 2 || s.MessagesIn != 5 {
		t.Fatalf("stats %+v", s)
	}
	// The JSON names of the documented shape.
	for _, name := range []string{`"stats":{"started":`, `"uptime_seconds":`, `"messages_out":`, `"more_channels":0`,
		`"online":[`, `"more_online":0`, `{"name":"room","members":2,"list":[`, `"more_members":0`} {
		if !strings.Contains(body, name) {
			t.Errorf("the snapshot lacks %s: %s", name, body)
		}
	}
}

// TestDashboardBounded: a snapshot shows the largest channels and the first
// members, and says how many it left out.
func TestDashboardBounded(t *testing.T) {
	srv, _ := startServer(t, Options{Dashboard: true})
	e, ctx := srv.Engine(), context.Background()
	const n = dashboardMembers + 1
	for i := range n {
		c := e.Connect(fmt.Sprintf("S%03d", i), discard{})
		if err := e.Join(ctx, c, presenceMember(fmt.Sprintf("m%03d", i))); err != nil {
			t.Fatal(err)
		}
		if err := e.Subscribe(ctx, c, "big"); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			for j := range dashboardChannels + 1 {
				if err := e.Subscribe(ctx, c, fmt.Sprintf("c%02d", j)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	snap := srv.dashboardSnapshot()
	if len(snap.Channels) != dashboardChannels || snap.MoreChannels != 2 {
		t.Fatalf("%d channels shown, %d more; want %d and 2", len(snap.Channels), snap.MoreChannels, dashboardChannels)
	}
	big := snap.Channels[0]
	if big.Name != "big" || big.Members != n || len(big.List) != dashboardMembers || big.MoreMembers != 1 || big.List[0].Name != "m000" {
		t.Fatalf("largest channel: %s, %d members, %d listed, %d more", big.Name, big.Members, len(big.List), big.MoreMembers)
	}
	if c := snap.Channels[1]; c.Name != "c00" || c.Members != 1 {
		t.Fatalf("second channel: %+v", c)
	}
	if len(snap.Online) != dashboardMembers || snap.MoreOnline != 1 || snap.Stats.Channels != dashboardChannels+2 {
		t.Fatalf("%d online shown, %d more, %d channels", len(snap.Online), snap.MoreOnline, snap.Stats.Channels)
	}
}

type discard struct{}

func (discard) Deliver(*presence.Event) {}

func presenceMember(name string) presence.Member { return presence.Member{Name: name} }

// TestDashboardAccess: without an API key the dashboard is open; with one,
// its data needs the key (401 with the reason otherwise); an
// authenticating server without a key refuses it (403); off, every path
// under /dashboard is 404, and the page comes from Options.Web.
func TestDashboardAccess(t *testing.T) {
	page := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "page "+r.URL.Path)
	})
	_, open := startServer(t, Options{Dashboard: true, Web: page})
	base := httpBase(open)
	if code, _, body := get(t, base+"/dashboard", ""); code != 200 || body != "page /dashboard" {
		t.Fatalf("GET /dashboard: %d %q", code, body)
	}
	if code, _, body := get(t, base+"/dashboard/data", ""); code != 200 || !strings.Contains(body, `"stats"`) {
		t.Fatalf("open server: %d %s", code, body)
	}
	if code, _, body := get(t, base+"/dashboard/nothing", ""); code != 404 || !strings.Contains(body, "no such dashboard route") {
		t.Fatalf("unknown route: %d %s", code, body)
	}
	if code, _, body := get(t, base+"/api/stats", ""); code != 404 {
		t.Fatalf("/api/stats without an API key configured: %d %s", code, body)
	}

	_, keyed := startServer(t, Options{Dashboard: true, Web: page, APIKey: testKey})
	base = httpBase(keyed)
	for _, path := range []string{"/dashboard/data", "/dashboard/events", "/api/stats"} {
		for _, key := range []string{"", "wrong"} {
			code, ctype, body := get(t, base+path, key)
			var e apiError
			_ = json.Unmarshal([]byte(body), &e)
			if code != 401 || !strings.HasPrefix(ctype, "application/json") || e.Error != "missing or wrong API key: send Authorization: Bearer <key>" {
				t.Fatalf("%s with key %q: %d %q %s", path, key, code, ctype, body)
			}
		}
	}
	if code, _, body := get(t, base+"/dashboard/data", testKey); code != 200 || !strings.Contains(body, `"stats"`) {
		t.Fatalf("with the key: %d %s", code, body)
	}
	code, _, body := get(t, base+"/api/stats", testKey)
	var st Stats
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil || st.Started.IsZero() || st.Goroutines == 0 {
		t.Fatalf("/api/stats: %d %s %v", code, body, err)
	}
	if code, _, body := get(t, base+"/dashboard", ""); code != 200 || body != "page /dashboard" {
		t.Fatalf("the page itself is not secret: %d %q", code, body)
	}

	basic := func(context.Context, *http.Request, string, string) (Identity, error) {
		return Identity{}, errors.New("nobody")
	}
	_, authed := startServer(t, Options{Dashboard: true, Auth: Auth{Basic: basic}})
	if code, _, body := get(t, httpBase(authed)+"/dashboard/data", ""); code != 403 || !strings.Contains(body, "--api-key") {
		t.Fatalf("authenticating server without an API key: %d %s", code, body)
	}
	_, both := startServer(t, Options{Dashboard: true, Auth: Auth{Basic: basic}, APIKey: testKey})
	if code, _, _ := get(t, httpBase(both)+"/dashboard/data", testKey); code != 200 {
		t.Fatalf("authenticating server with the API key: %d", code)
	}

	_, off := startServer(t, Options{Web: page, APIKey: testKey})
	for _, path := range []string{"/dashboard", "/dashboard/data", "/dashboard/events"} {
		if code, _, _ := get(t, httpBase(off)+path, testKey); code != 404 {
			t.Fatalf("dashboard off: %s: %d", path, code)
		}
	}
	// WebSocket upgrades on /dashboard still reach the presence protocol.
	c := dial(t, strings.TrimSuffix(open, "/")+"/dashboard")
	c.join("alice", "")
}

// readEvent reads one Server-Sent Event and returns its name and data.
func readEvent(r *bufio.Reader) (event, data string, err error) {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return event, data, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && data != "":
			return event, data, nil
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

// openEvents opens /dashboard/events; cancel ends the request.
func openEvents(t *testing.T, url string) (*bufio.Reader, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", httpBase(url)+"/dashboard/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET /dashboard/events: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return bufio.NewReader(resp.Body), cancel
}

// waitStreams polls until the server has n open event streams.
func waitStreams(t *testing.T, srv *Server, n int64) {
	t.Helper()
	testkit.Poll(t, testTimeout, func() error {
		if got := srv.dashboardStreams.Load(); got != n {
			return fmt.Errorf("%d event streams open, want %d", got, n)
		}
		return nil
	})
}

// TestDashboardEvents: the stream sends a snapshot at once and then one a
// second that follows the server's state; its handler ends when the client
// goes away, and when the server shuts down.
func TestDashboardEvents(t *testing.T) {
	srv, url := startServer(t, Options{Dashboard: true})
	events, cancel := openEvents(t, url)
	event, data, err := readEvent(events)
	var snap dashboardSnapshot
	if err != nil || event != "snapshot" || json.Unmarshal([]byte(data), &snap) != nil || snap.Stats.Connections != 0 {
		t.Fatalf("first event %q %s: %v", event, data, err)
	}
	a := dial(t, url)
	a.join("alice", "")
	a.subscribe("room")
	deadline := time.Now().Add(testTimeout)
	for len(snap.Channels) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no snapshot showed the channel")
		}
		if _, data, err = readEvent(events); err != nil || json.Unmarshal([]byte(data), &snap) != nil {
			t.Fatalf("event %s: %v", data, err)
		}
	}
	if c := snap.Channels[0]; c.Name != "room" || c.Members != 1 || c.List[0].Name != "alice" {
		t.Fatalf("channel %+v", c)
	}
	waitStreams(t, srv, 1)
	cancel()
	waitStreams(t, srv, 0)

	events, cancel = openEvents(t, url)
	defer cancel()
	if _, _, err := readEvent(events); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithTimeout(context.Background(), testTimeout)
	defer stop()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, _, err = readEvent(events) // until the end of the stream
	}
	if !errors.Is(err, io.EOF) {
		t.Fatalf("stream after shutdown: %v", err)
	}
	waitStreams(t, srv, 0)
}
