package web_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/server"
	"github.com/rollcall/rollcall/web"
)

// TestBrowserClientAgainstServer runs rollcall.js under node against a real
// server (plain and Base64, with acknowledgments on): join, member lists,
// invitation accepted, publish, an error, and a dropped socket restored.
func TestBrowserClientAgainstServer(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the browser client is tested under node (scripts/test requires it)")
	}
	// Node 20 has WebSocket behind a flag; later versions have it built in.
	var args []string
	if out, _ := exec.Command(node, "-e", "process.stdout.write(typeof WebSocket)").Output(); string(out) != "function" {
		args = append(args, "--experimental-websocket")
	}
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
