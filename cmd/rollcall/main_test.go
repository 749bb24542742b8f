package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"go.uber.org/goleak"

	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// TestMain doubles as the rollcall binary: with ROLLCALL_RUN_MAIN set the
// test executable runs main, so tests can start real processes and signal
// them without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv("ROLLCALL_RUN_MAIN") == "1" {
		main()
		return
	}
	goleak.VerifyTestMain(m)
}

// startBinary runs `rollcall args...` as a child process and returns it with
// the address it listens on, read from its startup log line.
func startBinary(t *testing.T, env []string, args ...string) (*exec.Cmd, string, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "ROLLCALL_RUN_MAIN=1"), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	sc := bufio.NewScanner(stderr)
	addrRe := regexp.MustCompile(`msg="rollcall listening" addr=(\S+)`)
	deadline := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		if m := addrRe.FindStringSubmatch(sc.Text()); m != nil {
			return cmd, m[1], sc
		}
	}
	t.Fatalf("server did not start: %v", sc.Err())
	return nil, "", nil
}

func TestServeHealthzAndGracefulShutdown(t *testing.T) {
	cmd, addr, logs := startBinary(t, nil, "serve", "--addr", "127.0.0.1:0", "--log-level", "debug")
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz %d", resp.StatusCode)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dialer{Protocols: []string{sgcwire.Subprotocol}}.Dial(ctx, "ws://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := wsStream(conn, br)
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	first, err := wsutil.ReadServerText(rd)
	if err != nil || !strings.Contains(string(first), sgcwire.MethodSession) {
		t.Fatalf("session frame: %s %v", first, err)
	}

	go func() { // keep reading the log so the child never blocks on stderr
		for logs.Scan() {
		}
	}()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The client receives close 1001 before the process exits.
	_, err = wsutil.ReadServerText(rd)
	var ce wsutil.ClosedError
	if !asClosed(err, &ce) || ce.Code != ws.StatusGoingAway || ce.Reason != "server shutting down" {
		t.Fatalf("want close 1001, got %v", err)
	}
	conn.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v", err)
	}
}

func asClosed(err error, ce *wsutil.ClosedError) bool {
	c, ok := err.(wsutil.ClosedError)
	if ok {
		*ce = c
	}
	return ok
}

func TestServeConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rollcall.yaml")
	yaml := "addr: \":9001\"\nbase64: true\nack:\n  enabled: true\n  timeout: 3s\nlimits:\n  max_channels_per_conn: 7\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ROLLCALL_ADDR", ":9002")
	cfg, err := loadConfig([]string{"--config", path, "--ack-timeout", "2s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":9002" || !cfg.Base64 || !cfg.Ack.Enabled || cfg.Ack.Timeout != 2*time.Second ||
		cfg.Limits.MaxChannelsPerConn != 7 || cfg.Ack.Interval != time.Second {
		t.Fatalf("config %+v", cfg)
	}
	cfg, err = loadConfig([]string{"--config", path, "--addr", ":9003"}, io.Discard)
	if err != nil || cfg.Addr != ":9003" || cfg.Ack.Timeout != 3*time.Second {
		t.Fatalf("flag over env: %+v %v", cfg, err)
	}

	// --strict, in the file or on the command line, reaches the server.
	if err := os.WriteFile(path, []byte("strict: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err = loadConfig([]string{"--config", path}, io.Discard); err != nil || !cfg.serverOptions(nil).Strict {
		t.Fatalf("strict: true: %+v %v", cfg, err)
	}
	if cfg, err = loadConfig([]string{"--strict"}, io.Discard); err != nil || !cfg.serverOptions(nil).Strict {
		t.Fatalf("--strict: %+v %v", cfg, err)
	}
	if cfg, err = loadConfig(nil, io.Discard); err != nil || cfg.serverOptions(nil).Strict {
		t.Fatalf("strict by default: %+v %v", cfg, err)
	}

	if err := os.WriteFile(path, []byte("adr: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig([]string{"--config", path}, io.Discard); err == nil || !strings.Contains(err.Error(), "adr") {
		t.Fatalf("unknown key accepted: %v", err)
	}
	if _, err := loadConfig([]string{"--ack-timeout", "soon"}, io.Discard); err == nil {
		t.Fatal("bad duration accepted")
	}
}

func TestRunCommands(t *testing.T) {
	var out, errb strings.Builder
	if code := run([]string{"version"}, nil, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "rollcall ") {
		t.Fatalf("version: %d %q", code, out.String())
	}
	if code := run([]string{"frobnicate"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("unknown: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"serve", "--log-level", "loud", "--addr", "127.0.0.1:0"}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "bad log level") {
		t.Fatalf("bad level: %d %q", code, errb.String())
	}
	errb.Reset()
	if code := run([]string{"serve", "--idle-timeout", "1s", "--ping-interval", "2s", "--addr", "127.0.0.1:0"}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "idle timeout") {
		t.Fatalf("bad timeouts: %d %q", code, errb.String())
	}
}

// TestBadFlag: a flag that does not exist is named, with one line on where
// the usage is, not the whole usage; -h still prints it.
func TestBadFlag(t *testing.T) {
	for _, cmd := range []string{"serve", "connect"} {
		var out, errb strings.Builder
		code := run([]string{cmd, "-x"}, strings.NewReader(""), &out, &errb)
		want := "rollcall " + cmd + ": flag provided but not defined: -x\nrun 'rollcall " + cmd + " -h' for the flags\n"
		if code != 2 || errb.String() != want {
			t.Errorf("%s -x: %d %q, want %q", cmd, code, errb.String(), want)
		}
		errb.Reset()
		if code := run([]string{cmd, "-h"}, strings.NewReader(""), &out, &errb); code != 0 || !strings.Contains(errb.String(), "-name") && !strings.Contains(errb.String(), "-addr") {
			t.Errorf("%s -h: %d %q", cmd, code, errb.String())
		}
	}
}

// TestServeTLS: with a certificate, the binary serves https and wss.
func TestServeTLS(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, pool := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	_, addr, logs := startBinary(t, nil, "serve", "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	go func() {
		for logs.Scan() {
		}
	}()
	tlsConf := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConf}}
	resp, err := hc.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz over TLS: %d", resp.StatusCode)
	}
	hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dialer{TLSConfig: tlsConf}.Dial(ctx, "wss://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := wsStream(conn, br)
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if first, err := wsutil.ReadServerText(rd); err != nil || !strings.Contains(string(first), sgcwire.MethodSession) {
		t.Fatalf("session over wss: %s %v", first, err)
	}
	// a plain-text request gets no healthy answer from a TLS server
	if r, err := http.Get("http://" + addr + "/healthz"); err == nil {
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served by a TLS server")
		}
	}
	var out, errb strings.Builder
	if code := run([]string{"serve", "--tls-cert", certFile}, nil, &out, &errb); code != 2 {
		t.Fatalf("cert without key: %d %s", code, errb.String())
	}
}

// selfSigned makes a certificate for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "rollcall test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), pool
}

// wsStream reads a dialled WebSocket through the dialer's buffer, where
// frames the server sent right after the handshake may already sit.
func wsStream(conn net.Conn, br *bufio.Reader) io.ReadWriter {
	if br == nil {
		return conn
	}
	return struct {
		io.Reader
		io.Writer
	}{br, conn}
}

// TestServeWeb: rollcall serve answers a plain GET / with the demo page,
// /rollcall.js with the browser client and /dashboard with the dashboard;
// --no-web (or no_web in YAML) turns them off, leaving the 426 answer for /
// and 404 for the dashboard.
func TestServeWeb(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type")
	}
	_, addr, _ := startBinary(t, nil, "serve", "--addr", "127.0.0.1:0")
	if code, ct := get("http://" + addr + "/"); code != 200 || ct != "text/html; charset=utf-8" {
		t.Fatalf("GET /: %d %q", code, ct)
	}
	if code, ct := get("http://" + addr + "/rollcall.js"); code != 200 || ct != "text/javascript; charset=utf-8" {
		t.Fatalf("GET /rollcall.js: %d %q", code, ct)
	}
	if code, ct := get("http://" + addr + "/dashboard"); code != 200 || ct != "text/html; charset=utf-8" {
		t.Fatalf("GET /dashboard: %d %q", code, ct)
	}
	if code, ct := get("http://" + addr + "/dashboard/data"); code != 200 || ct != "application/json; charset=utf-8" {
		t.Fatalf("GET /dashboard/data: %d %q", code, ct)
	}
	// An unknown path: 404 with the pages on (docs/protocol.md, Connecting).
	if code, _ := get("http://" + addr + "/favicon.ico"); code != http.StatusNotFound {
		t.Fatalf("GET /favicon.ico: %d, want 404", code)
	}
	if code, ct := get("http://" + addr + "/rollcall.classic.js"); code != 200 || ct != "text/javascript; charset=utf-8" {
		t.Fatalf("GET /rollcall.classic.js: %d %q", code, ct)
	}
	_, addr, _ = startBinary(t, nil, "serve", "--addr", "127.0.0.1:0", "--no-web")
	if code, _ := get("http://" + addr + "/"); code != http.StatusUpgradeRequired {
		t.Fatalf("GET / with --no-web: %d", code)
	}
	if code, _ := get("http://" + addr + "/favicon.ico"); code != http.StatusUpgradeRequired {
		t.Fatalf("GET /favicon.ico with --no-web: %d, want 426", code)
	}
	for _, path := range []string{"/dashboard", "/dashboard/data", "/dashboard/events"} {
		if code, _ := get("http://" + addr + path); code != http.StatusNotFound {
			t.Fatalf("GET %s with --no-web: %d", path, code)
		}
	}

	path := filepath.Join(t.TempDir(), "rollcall.yaml")
	if err := os.WriteFile(path, []byte("no_web: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := loadConfig([]string{"--config", path}, io.Discard); err != nil || !cfg.NoWeb {
		t.Fatalf("no_web in YAML: %+v %v", cfg.NoWeb, err)
	}
}

// A bad --member-events (or member_events in the config file) stops serve
// before it listens, with exit status 2 and a message that names the
// setting, the value and what it accepts.
func TestServeRefusesBadMemberEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rollcall.yaml")
	if err := os.WriteFile(path, []byte("member_events: everyone\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		bad  string
	}{
		{[]string{"--member-events", "bogus"}, "bogus"},
		{[]string{"--member-events=SELF"}, "SELF"},
		{[]string{"--config", path}, "everyone"},
	} {
		args := append([]string{"serve", "--addr", "127.0.0.1:0"}, tc.args...)
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "ROLLCALL_RUN_MAIN=1")
		timer := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() })
		out, err := cmd.CombinedOutput()
		timer.Stop()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("serve %s: exit %v, want status 2\n%s", strings.Join(tc.args, " "), err, out)
			continue
		}
		msg := string(out)
		for _, want := range []string{"--member-events", `"` + tc.bad + `"`, "all", "self"} {
			if !strings.Contains(msg, want) {
				t.Errorf("serve %s: message lacks %q:\n%s", strings.Join(tc.args, " "), want, msg)
			}
		}
		if strings.Contains(msg, "rollcall listening") {
			t.Errorf("serve %s: listened before refusing:\n%s", strings.Join(tc.args, " "), msg)
		}
	}
}
