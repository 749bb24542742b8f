package pusher_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// docBlocks returns the fenced code blocks of docs/pusher.md by the file
// name on their first line ("// auth-server.mjs: …" names auth-server.mjs).
func docBlocks(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "pusher.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	re := regexp.MustCompile("(?s)```(?:js|go)\n// ([a-z-]+\\.(?:mjs|go)):[^\n]*\n(.*?)```")
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		blocks[m[1]] = "// " + m[1] + "\n" + m[2]
	}
	return blocks
}

// TestDocsAuthEndpoints runs the auth endpoints of docs/pusher.md, Node and
// Go, as copied, and the Node client of the same page with its ports set to
// a real server's and the endpoint's: the client enters presence-room as
// the user its header names, which it does only if rollcall accepted the
// endpoint's signature over its channel_data.
func TestDocsAuthEndpoints(t *testing.T) {
	node := nodeBin(t)
	blocks := docBlocks(t)
	for _, name := range []string{"auth-server.mjs", "auth-server.go", "client.mjs"} {
		if blocks[name] == "" {
			t.Fatalf("docs/pusher.md has no block starting // %s:", name)
		}
	}
	modules, err := filepath.Abs(filepath.Join("..", "..", "node_modules"))
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, nil)
	for _, c := range []struct {
		file string
		run  []string
	}{
		{"auth-server.mjs", []string{node, "auth-server.mjs"}},
		{"auth-server.go", []string{"./auth-server"}}, // built below: killing `go run` would leave its child
	} {
		t.Run(c.file, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
				t.Fatal(err)
			}
			port := freeLoopbackPort(t)
			client := blocks["client.mjs"]
			for old, new := range map[string]string{
				"wsPort: 8080":          "wsPort: " + e.port,
				"http://127.0.0.1:3000": "http://127.0.0.1:" + port,
			} {
				if !strings.Contains(client, old) {
					t.Fatalf("client.mjs lacks %q", old)
				}
				client = strings.Replace(client, old, new, 1)
			}
			client += `room.bind("pusher:subscription_succeeded", () => pusher.disconnect());
room.bind("pusher:subscription_error", (err) => { console.error("subscription_error", JSON.stringify(err)); process.exit(1); });
`
			for name, text := range map[string]string{c.file: blocks[c.file], "client.mjs": client} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if strings.HasSuffix(c.file, ".go") {
				build := exec.CommandContext(ctx, "go", "build", "-o", "auth-server", c.file)
				build.Dir = dir
				if out, err := build.CombinedOutput(); err != nil {
					t.Fatalf("go build %s: %v\n%s", c.file, err, out)
				}
			}
			startEndpoint(ctx, t, dir, []string{"PORT=" + port, "PUSHER_APP_ID=" + appID, "PUSHER_APP_KEY=" + appKey, "PUSHER_APP_SECRET=" + appSecret}, c.run...)

			cmd := exec.CommandContext(ctx, node, "client.mjs")
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("client.mjs: %v\n%s", err, out)
			}
			if want := "in presence-room as 42 (User 42), 1 present"; !strings.Contains(string(out), want) {
				t.Fatalf("client.mjs printed %q, want %q", out, want)
			}
		})
	}
}

// startEndpoint runs an auth endpoint in dir and waits for it to print
// that it is ready; it is killed when the test ends.
func startEndpoint(ctx context.Context, t *testing.T, dir string, env []string, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	stderr, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	ready := make(chan bool, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		found := false
		for sc.Scan() {
			if !found && sc.Text() == "auth endpoint ready" {
				found = true
				ready <- true
			}
		}
		if !found {
			ready <- false
		}
		_ = cmd.Wait()
	}()
	select {
	case ok := <-ready:
		if !ok {
			errText, _ := os.ReadFile(stderr.Name())
			t.Fatalf("%s exited before it was ready: %s", strings.Join(argv, " "), errText)
		}
	case <-ctx.Done():
		errText, _ := os.ReadFile(stderr.Name())
		t.Fatalf("%s: not ready in time: %s", strings.Join(argv, " "), errText)
	}
}

// freeLoopbackPort returns a loopback port free at the time of the call.
func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}
