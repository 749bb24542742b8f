package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/server"
	"github.com/rollcall/rollcall/web"
)

// TestBrowserClientAgainstServer runs rollcall.js under node against a real
// server (plain and Base64, with acknowledgments on): join, member lists,
// the rollcall extension taken and a member map kept, invitation accepted,
// publish, an error, and a dropped socket restored.
func TestBrowserClientAgainstServer(t *testing.T) {
	node := nodePath(t)
	args := nodeArgs(node)
	for _, b64 := range []bool{false, true} {
		mode := "plain"
		if b64 {
			mode = "base64"
		}
		t.Run(mode, func(t *testing.T) {
			srv, err := server.New(server.Options{
				EncodeBase64:   b64,
				Acknowledgment: server.Acknowledgment{Enabled: true},
				Web:            web.Handler(),
			})
			if err != nil {
				t.Fatal(err)
			}
			url := testkit.WSURL(testkit.Serve(t, srv), "/")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := exec.CommandContext(ctx, node, append(args, "testdata/e2e.mjs", url, mode)...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "e2e: ok") {
				t.Fatalf("%s: %v\n%s", mode, err, out)
			}
		})
	}
}

// TestBrowserClientExtension runs rollcall.js's rollcall extension under
// node against a real server with a presence grace: a per-event and a diff
// client hear a storm of joins, leaves and updates with the same callbacks
// and end with the same members, the server's; an update is confirmed and a
// refused one is an error; a late client gets a 3,000-member list in pages
// and hears only what changes after it; a counts-only subscriber hears the
// count, paced, through a join storm; a client whose socket is cut comes
// back with its resume token and nobody hears it leave or join, and one
// whose token is refused comes back as a new member; through a proxy that
// drops its hello (an sgc server ignores it), a client stays per event.
func TestBrowserClientExtension(t *testing.T) {
	node := nodePath(t)
	hooks := presence.Hooks{BeforeMemberUpdate: func(_ context.Context, _ *presence.Conn, _, m presence.Member) error {
		if m.Name == "forbidden" {
			return presence.ErrUpdateDenied
		}
		return nil
	}}
	srv, err := server.New(server.Options{
		PresenceGrace: 10 * time.Second,
		Hooks:         hooks,
		Limits:        server.Limits{ListPageSize: 100, MessagesPerSecond: server.NoRateLimit},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := testkit.Serve(t, srv)
	cut := testkit.NewCutter(t, strings.TrimPrefix(hs.URL, "http://"))
	dropper := &helloDropper{upstream: testkit.WSURL(hs, "/"), dropped: make(chan struct{}, 10)}
	sgcLike := httptest.NewServer(dropper)
	defer sgcLike.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cut", func(http.ResponseWriter, *http.Request) { cut.Cut() })
	mux.HandleFunc("GET /ghosts", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, srv.Engine().Ghosts()) })
	(&engineMembers{eng: srv.Engine()}).routes(mux)
	ctl := httptest.NewServer(mux)
	defer ctl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append(nodeArgs(node), "testdata/e2e-ext.mjs", testkit.WSURL(hs, "/"), "ws://"+cut.Addr()+"/",
		testkit.WSURL(sgcLike, "/"), ctl.URL+"/", fmt.Sprint(presence.DefaultCountInterval.Milliseconds()))
	out, err := exec.CommandContext(ctx, node, args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "e2e-ext: ok") {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(dropper.dropped) == 0 {
		t.Fatal("the client behind the hello dropper sent no hello")
	}
}

// nodePath is node's path; the test fails without it.
func nodePath(t *testing.T) string {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the browser client is tested under node (scripts/test requires it)")
	}
	return node
}

// nodeArgs turns WebSocket on where node has it behind a flag (Node 20;
// later versions have it built in).
func nodeArgs(node string) []string {
	if out, _ := exec.Command(node, "-e", "process.stdout.write(typeof WebSocket)").Output(); string(out) != "function" {
		return []string{"--experimental-websocket"}
	}
	return nil
}
