package web_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/server"
	"github.com/rollcall/rollcall/web"
)

// The browser scenario's timing. The server's idle timeout is short so that
// "closing a page removes it within the idle timeout" is checked in seconds;
// each step may take much longer on a busy machine.
const (
	browserPing = 2 * time.Second
	browserIdle = 8 * time.Second
	browserStep = 20 * time.Second
)

// TestBrowserScenario drives the demo page in two headless Chromium pages
// (testdata/browser.mjs, with playwright-core) against a real server, with a
// Go client in the same channel: each page lists the other two, a message
// typed in one page reaches the other page and the Go client, the second page
// invites the Go client (which accepts) and shows the acceptance, and
// closing the first page removes it from the second page and at the Go
// client within the idle timeout. Screenshots go to browserArtifacts().
func TestBrowserScenario(t *testing.T) {
	node, chromium := browserPrerequisites(t)
	artifacts := browserArtifacts(t)

	srv, err := server.New(server.Options{PingInterval: browserPing, IdleTimeout: browserIdle, Web: web.Handler()})
	if err != nil {
		t.Fatal(err)
	}
	hs := testkit.Serve(t, srv) // on 127.0.0.1

	const goName, message = "gopher", "hello from alice ☃"
	published := make(chan client.Member, 1)
	accepted := make(chan error, 1)
	removed := make(chan struct{}, 1)
	gc, err := client.Dial(stepContext(t), testkit.WSURL(hs, "/"), client.Options{
		Name:        goName,
		NoReconnect: true,
		OnPublishMsg: func(text, channel string, from client.Member) {
			if text == message && channel == "lobby" {
				trySend(published, from)
			}
		},
		OnChannelInvitation: func(inv *client.Invitation) {
			if inv.Channel != "side" || inv.From.Name != "bob" {
				trySend(accepted, fmt.Errorf("unexpected invitation to %q from %q", inv.Channel, inv.From.Name))
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), browserStep)
			defer cancel()
			trySend(accepted, inv.Accept(ctx))
		},
		OnRemoveMember: func(m client.Member) {
			if m.Name == "alice" {
				trySend(removed, struct{}{})
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gc.Close() })
	if err := gc.Subscribe(stepContext(t), "lobby"); err != nil {
		t.Fatal(err)
	}

	run := startBrowserScenario(t, node, chromium, hs.URL+"/", artifacts, goName, message)
	sawOK := false
	for run.lines.Scan() {
		line := run.lines.Text()
		t.Log(line)
		switch line {
		case "step: members listed":
			checkLobby(t, gc, "alice", "bob", goName)
		case "step: message shown":
			select {
			case from := <-published:
				if from.Name != "alice" {
					t.Fatalf("the message reached the Go client from %q, want alice", from.Name)
				}
			case <-time.After(browserStep):
				t.Fatal("alice's message did not reach the Go client")
			}
		case "step: invitation accepted":
			select {
			case err := <-accepted:
				if err != nil {
					t.Fatal("the Go client's acceptance:", err)
				}
			case <-time.After(browserStep):
				t.Fatal("the Go client was not invited")
			}
			if !slices.Contains(gc.Subscriptions(), "side") {
				t.Fatalf("the Go client accepted but is in %q, not in side", gc.Subscriptions())
			}
			if len(removed) > 0 {
				t.Fatal("the Go client saw alice leave before her page was closed")
			}
		case "step: closing alice":
			select {
			case <-removed:
			case <-time.After(browserIdle):
				t.Fatalf("alice's page closed, but the Go client did not see her leave within the idle timeout (%v)", browserIdle)
			}
			checkLobby(t, gc, "bob", goName)
		case "browser: ok":
			sawOK = true
		}
	}
	if err := run.wait(); err != nil || !sawOK {
		t.Fatalf("the browser scenario failed (%v); its output is above, screenshots are in %s\nstderr:\n%s", err, artifacts, run.stderr)
	}
	t.Logf("screenshots of both pages are in %s", artifacts)
}

// checkLobby fails the test unless the Go client's member list of #lobby
// holds exactly these names.
func checkLobby(t *testing.T, gc *client.Client, want ...string) {
	t.Helper()
	members, err := gc.GetMembers(stepContext(t), "lobby")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range members {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("the Go client lists %q in #lobby, want %q", names, want)
	}
}

// stepContext returns a context for one step of the Go client, ended with
// the test.
func stepContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), browserStep)
	t.Cleanup(cancel)
	return ctx
}

// trySend sends v on ch unless ch is full: an event handler must not block
// the Go client's event goroutine.
func trySend[T any](ch chan T, v T) {
	select {
	case ch <- v:
	default:
	}
}

// browserPrerequisites returns node and chromium, and fails the test when
// either, or playwright-core, is missing: scripts/browser-deps installs them.
func browserPrerequisites(t *testing.T) (node, chromium string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: the browser test needs Node 20 or later")
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("chromium is missing (%v): run scripts/browser-deps, which installs Debian's chromium with apt (or set CHROMIUM to another Chromium)", err)
	}
	if _, err := os.Stat("../node_modules/playwright-core/package.json"); err != nil {
		t.Fatalf("playwright-core is missing (%v): run scripts/browser-deps, which runs npm ci at the repository root", err)
	}
	return node, chromium
}

// browserArtifacts returns the directory for the screenshots:
// $ROLLCALL_ARTIFACTS (relative to the repository root) or test-artifacts
// at the repository root.
func browserArtifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ROLLCALL_ARTIFACTS")
	if dir == "" {
		dir = "test-artifacts"
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir) // tests run in web/
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// browserRun is the running node process of the browser scenario.
type browserRun struct {
	lines  *bufio.Scanner // its stdout, line by line
	stderr *strings.Builder
	wait   func() error
}

// startBrowserScenario starts testdata/browser.mjs. On timeout or when the
// test ends early, node gets SIGINT, on which playwright-core closes the
// browser before node exits; it is killed if it is still there 15 s later
// (Chromium then exits too, as its DevTools pipe to node closes).
func startBrowserScenario(t *testing.T, node, chromium, url, artifacts, goName, message string) *browserRun {
	t.Helper()
	return startNodeScript(t, node, chromium, 8*browserStep, "testdata/browser.mjs", url, artifacts,
		strconv.FormatInt(browserIdle.Milliseconds(), 10), goName, message)
}

// startNodeScript starts node on script with args and CHROMIUM set, as
// startBrowserScenario does, within timeout.
func startNodeScript(t *testing.T, node, chromium string, timeout time.Duration, script string, args ...string) *browserRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	cmd := exec.CommandContext(ctx, node, append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 15 * time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	run := &browserRun{lines: bufio.NewScanner(stdout), stderr: new(strings.Builder)}
	cmd.Stderr = run.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	var waitErr error
	waited := false
	run.wait = func() error {
		if !waited {
			waited = true
			waitErr = cmd.Wait()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				waitErr = fmt.Errorf("timed out after %v: %w", timeout, waitErr)
			}
		}
		return waitErr
	}
	t.Cleanup(func() {
		cancel()
		_ = run.wait()
	})
	return run
}
