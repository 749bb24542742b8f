package web_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/server"
	"github.com/rollcall/rollcall/web"
)

// TestBrowserSGCPage runs a page written against sgc's browser API
// (testdata/sgc-page.html: classic scripts from /sgcWebSockets.js and
// /presence.esegece.com.js, sgcws_presence, sgc... events) in headless
// Chromium against a server with Basic authentication, next to a Go client
// (testdata/sgc-browser.mjs drives it). The page connects with its
// credentials in sgc's /sgc/auth/url/ path, joins, subscribes and lists
// #lobby; the Go client sees it join, receives its message, and its own
// message reaches the page, as do the join, channel leave and leave of a
// second Go client. A page with a wrong password is refused.
func TestBrowserSGCPage(t *testing.T) {
	node, chromium := browserPrerequisites(t)
	artifacts := browserArtifacts(t)
	page, err := os.ReadFile("testdata/sgc-page.html")
	if err != nil {
		t.Fatal(err)
	}
	const (
		pageUser, pagePass = "carol", "p@ss/w ☃%"
		goName, goPass     = "gopher", "go-pass"
		newbie             = "newbie"
		pageMessage        = `hello from an sgc page: "quoted" ☃`
		goMessage          = "hello sgc page, from Go ☃"
	)
	passwords := map[string]string{pageUser: pagePass, goName: goPass, newbie: goPass}
	site := http.NewServeMux()
	site.HandleFunc("/sgc-page.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	site.Handle("/", web.Handler())
	srv, err := server.New(server.Options{
		Web: site,
		Auth: server.Auth{Basic: func(_ context.Context, _ *http.Request, user, password string) (server.Identity, error) {
			if want, ok := passwords[user]; !ok || password != want {
				return server.Identity{}, errors.New("wrong password")
			}
			return server.Identity{}, nil
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := testkit.Serve(t, srv)
	wsURL := testkit.WSURL(hs, "/")
	dial := func(name string, o client.Options) *client.Client {
		t.Helper()
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(name, passwords[name])
		o.Name, o.HTTPHeader, o.NoReconnect = name, r.Header, true
		c, err := client.Dial(stepContext(t), wsURL, o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	joined := make(chan client.Member, 1)
	published := make(chan client.Member, 1)
	gc := dial(goName, client.Options{
		OnNewChannelMember: func(channel string, m client.Member) {
			if channel == "lobby" && m.Name == pageUser {
				trySend(joined, m)
			}
		},
		OnPublishMsg: func(text, channel string, from client.Member) {
			if text == pageMessage && channel == "lobby" {
				trySend(published, from)
			}
		},
	})
	if err := gc.Subscribe(stepContext(t), "lobby"); err != nil {
		t.Fatal(err)
	}

	pageURL := hs.URL + "/sgc-page.html?" + url.Values{"user": {pageUser}, "password": {pagePass}}.Encode()
	badURL := hs.URL + "/sgc-page.html?" + url.Values{"user": {pageUser}, "password": {"wrong"}}.Encode()
	run := startNodeScript(t, node, chromium, 6*browserStep, "testdata/sgc-browser.mjs",
		pageURL, badURL, artifacts, goName, pageMessage, goMessage, newbie)
	sawOK := false
	for run.lines.Scan() {
		line := run.lines.Text()
		t.Log(line)
		switch {
		case strings.HasPrefix(line, "step: subscribed "):
			var got struct {
				Me      client.Member
				Members []string
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "step: subscribed ")), &got); err != nil {
				t.Fatal(err)
			}
			// The server's identity: the login is the member id.
			if got.Me.ID != pageUser || got.Me.Name != pageUser || got.Me.Info != "from an sgc page" {
				t.Fatalf("the page joined as %+v", got.Me)
			}
			if want := []string{pageUser + "/" + pageUser, goName + "/" + goName}; !slices.Equal(got.Members, want) {
				t.Fatalf("the page lists %q in #lobby, want %q", got.Members, want)
			}
			select {
			case m := <-joined:
				if m.ID != pageUser {
					t.Fatalf("the Go client saw the page join as %+v", m)
				}
			case <-time.After(browserStep):
				t.Fatal("the Go client did not see the page join #lobby")
			}
			if err := gc.Publish(stepContext(t), "lobby", goMessage); err != nil {
				t.Fatal(err)
			}
			nb := dial(newbie, client.Options{})
			if err := nb.Subscribe(stepContext(t), "lobby"); err != nil {
				t.Fatal(err)
			}
			if err := nb.Unsubscribe(stepContext(t), "lobby"); err != nil {
				t.Fatal(err)
			}
			_ = nb.Close()
		case line == "step: published":
			select {
			case from := <-published:
				if from.ID != pageUser || from.Name != pageUser {
					t.Fatalf("the page's message reached the Go client from %+v", from)
				}
			case <-time.After(browserStep):
				t.Fatal("the page's message did not reach the Go client")
			}
		case line == "browser: ok":
			sawOK = true
		}
	}
	if err := run.wait(); err != nil || !sawOK {
		t.Fatalf("the sgc page scenario failed (%v); its output is above, a screenshot is in %s\nstderr:\n%s", err, artifacts, run.stderr)
	}
}

// TestBrowserSGCStandIn runs a page written only against sgc's browser API
// (testdata/sgc-standin.html, driven by testdata/sgc-standin.mjs) in
// headless Chromium against a server with Basic authentication, with
// sgc's scripts loaded from the server: the base library's globals (GUID,
// sgcEncodeBase64, sgcEncodeB64, sgcDecodeB64, sgcWebSocket); an
// sgcws_presence whose host ends in "/", so it opens "//sgc/auth/url/…",
// with its host, subprotocol and websocket, a member list asked for with
// send(method, member, channel), and no message event; a plain
// sgcWebSocket whose session frame is a message event and whose sendbin
// gets a clean close 1003. The test then restarts the server (a new server
// behind the same address, the old one shut down): the page sees a clean
// 1001, calls open(), and joins #lobby again on the new server.
func TestBrowserSGCStandIn(t *testing.T) {
	node, chromium := browserPrerequisites(t)
	artifacts := browserArtifacts(t)
	page, err := os.ReadFile("testdata/sgc-standin.html")
	if err != nil {
		t.Fatal(err)
	}
	const (
		pageUser, pagePass = "carol", "p@ss/w ☃%"
		goName, goPass     = "gopher", "go-pass"
	)
	passwords := map[string]string{pageUser: pagePass, goName: goPass}
	site := http.NewServeMux()
	site.HandleFunc("/sgc-standin.html", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(page)
	})
	site.Handle("/", web.Handler())
	// joined gets the member id of each join of #lobby, on either server.
	joined := make(chan string, 8)
	newServer := func() *server.Server {
		srv, err := server.New(server.Options{
			Web: site,
			Auth: server.Auth{Basic: func(_ context.Context, _ *http.Request, user, password string) (server.Identity, error) {
				if want, ok := passwords[user]; !ok || password != want {
					return server.Identity{}, errors.New("wrong password")
				}
				return server.Identity{}, nil
			}},
			Events: presence.Events{OnNewChannelMember: func(_ *presence.Conn, channel string, m presence.Member) {
				if channel == "lobby" {
					trySend(joined, m.ID)
				}
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	// The address stays; the server behind it is replaced on "restart".
	var current swappedServer
	first := newServer()
	current.Store(first)
	hs := testkit.Serve(t, &current)
	wsURL := testkit.WSURL(hs, "/")
	joinLobby := func() {
		t.Helper()
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(goName, goPass)
		c, err := client.Dial(stepContext(t), wsURL, client.Options{Name: goName, HTTPHeader: r.Header, NoReconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if err := c.Subscribe(stepContext(t), "lobby"); err != nil {
			t.Fatal(err)
		}
	}
	awaitJoin := func(who string) {
		t.Helper()
		deadline := time.After(browserStep)
		for {
			select {
			case id := <-joined:
				if id == who {
					return
				}
			case <-deadline:
				t.Fatalf("%s did not join #lobby", who)
			}
		}
	}
	joinLobby()
	awaitJoin(goName)

	pageURL := hs.URL + "/sgc-standin.html?" + url.Values{"user": {pageUser}, "password": {pagePass}}.Encode()
	run := startNodeScript(t, node, chromium, 5*browserStep, "testdata/sgc-standin.mjs", pageURL, artifacts, goName)
	sawOK := false
	for run.lines.Scan() {
		line := run.lines.Text()
		t.Log(line)
		switch {
		case strings.HasPrefix(line, "step: subscribed "):
			awaitJoin(pageUser)
		case line == "step: raw":
			// Restart: new handshakes reach a new server at once (the Go
			// client is in its #lobby first); the old one closes its
			// connections (1001) as it shuts down.
			current.Store(newServer())
			joinLobby()
			awaitJoin(goName)
			ctx, cancel := context.WithTimeout(context.Background(), browserStep)
			err := first.Shutdown(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(line, "step: rejoined "):
			var got struct{ Members []string }
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "step: rejoined ")), &got); err != nil {
				t.Fatal(err)
			}
			if want := []string{pageUser, goName}; !slices.Equal(got.Members, want) {
				t.Fatalf("after the restart the page lists %q in #lobby, want %q", got.Members, want)
			}
		case line == "browser: ok":
			sawOK = true
		}
	}
	if err := run.wait(); err != nil || !sawOK {
		t.Fatalf("the sgc stand-in scenario failed (%v); its output is above, a screenshot is in %s\nstderr:\n%s", err, artifacts, run.stderr)
	}
}

// swappedServer serves with the server it holds, which a test may replace
// (a restart behind the same address).
type swappedServer struct{ atomic.Pointer[server.Server] }

func (s *swappedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.Load().ServeHTTP(w, r)
}

// Shutdown shuts down the server it holds now.
func (s *swappedServer) Shutdown(ctx context.Context) error { return s.Load().Shutdown(ctx) }
