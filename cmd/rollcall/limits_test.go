package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/server"
)

// TestServeHTTPBoundsFlags: the HTTP and connection bounds have safe
// defaults, flags and YAML keys, and 0 on a cap means no limit.
func TestServeHTTPBoundsFlags(t *testing.T) {
	cfg, err := loadConfig(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.serverOptions(nil)
	if cfg.HTTPReadTimeout != 60*time.Second || cfg.HTTPIdleTimeout != 120*time.Second ||
		o.Limits.MaxConnections != 100_000 || o.Limits.MaxConnectionsPerIP != 1_000 || o.Limits.MaxDashboardStreams != 16 {
		t.Fatalf("defaults: %v %v %+v", cfg.HTTPReadTimeout, cfg.HTTPIdleTimeout, o.Limits)
	}
	if a, err := cfg.authOptions(); err != nil || a.FailuresPerMinute != 30 {
		t.Fatalf("auth defaults: %+v %v", a, err)
	}

	yaml := filepath.Join(t.TempDir(), "rollcall.yaml")
	if err := os.WriteFile(yaml, []byte("public_origins: [\"https://a.example\"]\nhttp_idle_timeout: 5s\nlimits:\n  max_connections: 7\nauth:\n  jwt_max_age: 1h\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = loadConfig([]string{"--config", yaml, "--max-connections-per-ip", "0", "--auth-failures-per-minute", "0",
		"--public-origin", "https://b.example", "--public-origin", "https://c.example,https://d.example", "--http-read-timeout", "2s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o = cfg.serverOptions(nil)
	a, _ := cfg.authOptions()
	if o.Limits.MaxConnections != 7 || o.Limits.MaxConnectionsPerIP != server.NoLimit || o.Limits.BodyTimeout != 2*time.Second ||
		cfg.HTTPIdleTimeout != 5*time.Second || cfg.Auth.JWTMaxAge != time.Hour || a.FailuresPerMinute != server.NoLimit ||
		!slices.Equal(o.PublicOrigins, []string{"https://b.example", "https://c.example", "https://d.example"}) {
		t.Fatalf("flags over the file: %+v %+v %+v", o.Limits, o.PublicOrigins, cfg)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--http-read-timeout", "0s"}, "--http-read-timeout (http_read_timeout) must be positive"},
		{[]string{"--http-idle-timeout", "0s"}, "--http-idle-timeout (http_idle_timeout) must be positive"},
		{[]string{"--max-connections", "-1"}, "--max-connections (limits.max_connections) must be at least 0"},
		{[]string{"--max-connections-per-ip", "-1"}, "must be at least 0"},
		{[]string{"--jwt-max-age", "-1s"}, "--jwt-max-age (auth.jwt_max_age) must be 0"},
		{[]string{"--jwt-name-claim", ""}, "--jwt-name-claim"},
	} {
		_, err := loadConfig(tc.args, io.Discard)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestServeIdleKeepAliveClosed: an idle keep-alive HTTP connection is
// closed after --http-idle-timeout, and a WebSocket connection opened on
// the same server outlives it.
func TestServeIdleKeepAliveClosed(t *testing.T) {
	_, addr, logs := startBinary(t, nil, "serve", "--addr", "127.0.0.1:0", "--http-idle-timeout", "300ms", "--http-read-timeout", "300ms")
	go func() {
		for logs.Scan() {
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wc, wbr, _, err := ws.Dialer{Protocols: []string{sgcwire.Subprotocol}}.Dial(ctx, "ws://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	rd := wsStream(wc, wbr)
	_ = wc.SetDeadline(time.Now().Add(10 * time.Second))
	first, err := wsutil.ReadServerText(rd)
	var session sgcwire.Message
	if err != nil || json.Unmarshal(first, &session) != nil || session.Method != sgcwire.MethodSession {
		t.Fatalf("session frame: %s %v", first, err)
	}
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle keep-alive connection: %v after %v, want EOF", err, time.Since(start))
	}
	// The WebSocket connection, older than the idle close, took no
	// deadline from the HTTP bounds: it still answers.
	var enc sgcwire.Encoder
	if err := wsutil.WriteClientText(wc, enc.Encode(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: session.Text, Name: "a"}})); err != nil {
		t.Fatal(err)
	}
	if reply, err := wsutil.ReadServerText(rd); err != nil || !strings.Contains(string(reply), sgcwire.MethodNewMember) {
		t.Fatalf("after the idle close: %s %v", reply, err)
	}
}
