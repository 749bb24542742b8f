package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// TestServeLogsEndpoints: `rollcall serve` logs the URLs to open, and each
// one works: the demo page and the dashboard load, the sgc URL gets its
// session frame and the Pusher URL its connection_established. On
// loopback it warns of nothing.
func TestServeLogsEndpoints(t *testing.T) {
	_, addr, logs := startBinary(t, nil, "serve", "--addr", "127.0.0.1:0", "--pusher-app", "7:key7:secret7")
	urls := map[string]string{}
	lineRe := regexp.MustCompile(`level=(\w+) msg=("[^"]*"|\S+)(?: url=(\S+))?`)
	for len(urls) < 4 && logs.Scan() {
		m := lineRe.FindStringSubmatch(logs.Text())
		if m == nil {
			continue
		}
		if m[1] == "WARN" {
			t.Errorf("warning on loopback: %s", logs.Text())
		}
		if m[3] != "" {
			urls[strings.Trim(m[2], `"`)] = m[3]
		}
	}
	go func() { // keep reading the log so the child never blocks on stderr
		for logs.Scan() {
		}
	}()
	want := map[string]string{
		"demo page":                 "http://" + addr + "/",
		"dashboard":                 "http://" + addr + "/dashboard",
		"sgc Presence WebSocket":    "ws://" + addr + "/",
		"Pusher Channels WebSocket": "ws://" + addr + "/app/key7",
	}
	for name, u := range want {
		if urls[name] != u {
			t.Errorf("%s: logged %q, want %q (all: %v)", name, urls[name], u, urls)
		}
	}
	for _, name := range []string{"demo page", "dashboard"} {
		resp, err := http.Get(urls[name])
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: %d", name, urls[name], resp.StatusCode)
		}
	}
	firstFrame := func(url string, protocols ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, br, _, err := ws.Dialer{Protocols: protocols}.Dial(ctx, url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		b, err := wsutil.ReadServerText(wsStream(conn, br))
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		return string(b)
	}
	if f := firstFrame(urls["sgc Presence WebSocket"], sgcwire.Subprotocol); !strings.Contains(f, sgcwire.MethodSession) {
		t.Errorf("sgc URL: first frame %s", f)
	}
	if f := firstFrame(urls["Pusher Channels WebSocket"] + "?protocol=7"); !strings.Contains(f, pusherwire.EventConnectionEstablished) {
		t.Errorf("Pusher URL: first frame %s", f)
	}
}

// TestEndpointWarnings: a listener beyond loopback warns when it serves
// member lists (no --auth) or the dashboard (no --auth, no --api-key, web
// on) to anyone who can reach it, and says how to close it.
func TestEndpointWarnings(t *testing.T) {
	every := &net.TCPAddr{IP: net.IPv6zero, Port: 8080}
	public := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 8080}
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	for _, c := range []struct {
		name      string
		addr      net.Addr
		tweak     func(*config)
		members   bool
		dashboard bool
	}{
		{"every interface, open", every, nil, true, true},
		{"public address, open", public, nil, true, true},
		{"loopback", local, nil, false, false},
		{"api key", every, func(c *config) { c.APIKey = "k" }, true, false},
		{"no web", every, func(c *config) { c.NoWeb = true }, true, false},
		{"auth", every, func(c *config) { c.Auth.Mode = "basic" }, false, false},
	} {
		cfg := defaultConfig()
		if c.tweak != nil {
			c.tweak(&cfg)
		}
		var buf bytes.Buffer
		logEndpoints(slog.New(slog.NewTextHandler(&buf, nil)), &cfg, c.addr, false, []pusher.App{{ID: "1", Key: "k1"}})
		out := buf.String()
		if got := strings.Contains(out, `level=WARN msg="open server`); got != c.members {
			t.Errorf("%s: member-list warning %v, want %v:\n%s", c.name, got, c.members, out)
		}
		if got := strings.Contains(out, `level=WARN msg="dashboard open`); got != c.dashboard {
			t.Errorf("%s: dashboard warning %v, want %v:\n%s", c.name, got, c.dashboard, out)
		}
		if c.members && !strings.Contains(out, "--auth") || c.dashboard && !strings.Contains(out, "--api-key") {
			t.Errorf("%s: a warning does not say how to close it:\n%s", c.name, out)
		}
		host := "localhost:8080"
		if c.addr != every {
			host = c.addr.String()
		}
		if !strings.Contains(out, "url=ws://"+host+"/app/k1 ") {
			t.Errorf("%s: no Pusher URL on %s:\n%s", c.name, host, out)
		}
	}
}
