package bench

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// launch returns once the process reports its address, passes every line
// of its output (stdout and stderr) on, and stop ends it.
func TestLaunch(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	p, err := launch(context.Background(), launchSpec{
		name:      "sh",
		args:      []string{"sh", "-c", `echo starting >&2; echo "listening on 127.0.0.1:4242"; exec sleep 60`},
		listening: comparatorListening,
		line: func(l string) {
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.addr != "127.0.0.1:4242" {
		t.Errorf("addr %q, want 127.0.0.1:4242", p.addr)
	}
	start := time.Now()
	p.stop(10 * time.Second)
	if time.Since(start) > 5*time.Second {
		t.Errorf("stop took %v: the interrupt did not end the process", time.Since(start))
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(lines, "|") != "starting|listening on 127.0.0.1:4242" {
		t.Errorf("lines %q", lines)
	}
}

// A process that exits without reporting its address is an error at once,
// not after the launch timeout.
func TestLaunchExitsSilent(t *testing.T) {
	start := time.Now()
	_, err := launch(context.Background(), launchSpec{name: "quitter", args: []string{"sh", "-c", "echo no address; exit 3"}, listening: rollcallListening})
	if err == nil || !strings.Contains(err.Error(), "quitter exited before it reported its address") {
		t.Fatalf("err %v", err)
	}
	if time.Since(start) > launchTimeout/2 {
		t.Errorf("took %v", time.Since(start))
	}
}
