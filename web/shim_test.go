package web

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClassicScriptsUnderNode fetches the classic scripts from the handler
// and runs testdata/sgc-shim.mjs on them under node: each loads as a
// classic script (not a module), rollcall.classic.js defines
// window.Rollcall, presence.esegece.com.js gives sgc's browser API
// (constructor forms, the credentials path, events, methods, send's frame
// form, open() after a disconnect, Base64, acknowledgments) and
// sgcWebSockets.js sgc's base library (GUID, sgcEncodeB64, sgcDecodeB64,
// sgcWebSocket), over a fake WebSocket.
func TestClassicScriptsUnderNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the classic scripts are tested under node (Node 20 or later)")
	}
	hs := httptest.NewServer(Handler())
	defer hs.Close()
	dir := t.TempDir()
	fetch := func(path string) string {
		t.Helper()
		resp, err := http.Get(hs.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
		}
		f := filepath.Join(dir, strings.ReplaceAll(strings.Trim(path, "/"), "/", "_"))
		if err := os.WriteFile(f, body, 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	sgc := fetch("/js/presence.esegece.com.js")
	classic := fetch(ClassicScript)
	base := fetch("/js/sgcWebSockets.js")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--test", "--test-reporter=spec", "testdata/sgc-shim.mjs")
	cmd.Env = append(os.Environ(), "SGC_SCRIPT="+sgc, "CLASSIC_SCRIPT="+classic, "SGC_BASE_SCRIPT="+base)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "ℹ fail 0") || strings.Contains(string(out), "ℹ pass 0") {
		t.Fatalf("node --test testdata/sgc-shim.mjs: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
