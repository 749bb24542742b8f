package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/rollcall/rollcall/internal/bench"
)

// TestBenchClusterCentrifugeRedis runs the crash scenario with the
// Centrifuge-on-Redis comparator at a small size. Opt-in, as it needs
// Debian's redis-server and takes over a minute (Centrifuge's presence
// entries outlive a killed node by up to 60 s):
//
//	ROLLCALL_BENCH_REDIS=1 go test ./cmd/rollcall -run CentrifugeRedis
func TestBenchClusterCentrifugeRedis(t *testing.T) {
	if os.Getenv("ROLLCALL_BENCH_REDIS") != "1" {
		t.Skip("opt-in: set ROLLCALL_BENCH_REDIS=1 (with redis-server installed) to run the Redis comparator of bench cluster")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "centrifuge-bench")
	build := exec.Command("go", "build", "-C", "../../bench/centrifuge", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the comparator: %v\n%s", err, out)
	}
	report := filepath.Join(dir, "crash.json")
	stdout, stderr := benchCluster(t, "--only", "crash", "--members", "30", "--runs", "1",
		"--comparator", bin, "--leave-timeout", "75s", "--json", report)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	for _, server := range []string{"rollcall", "centrifuge"} {
		get := func(name string) float64 {
			v, ok := rep.Median(server, name)
			if !ok {
				t.Fatalf("%s: no %q", server, name)
			}
			return v
		}
		// 10 members on the killed node, 20 surviving subscribers.
		if subs, complete, missing := get(bench.FigSubs), get(bench.FigComplete), get(bench.FigMissing); subs != 20 || missing > 200 || (complete == 20) != (missing == 0) {
			t.Errorf("%s: %v subscribers, %v complete, %v missing", server, subs, complete, missing)
		}
		if get(bench.FigExtra) != 0 || get(bench.FigFalse) != 0 {
			t.Errorf("%s: extra %v, false %v", server, get(bench.FigExtra), get(bench.FigFalse))
		}
		// Both member lists drop the killed node's members in the end: rollcall's
		// at once, Centrifuge's when their presence entries expire in Redis.
		if _, ok := rep.Median(server, bench.FigListed); !ok {
			t.Errorf("%s: the member list still named the killed node's members", server)
		}
	}
	if v := rep.Outcomes[0]; v.Server != "rollcall" {
		t.Errorf("first run %s, want rollcall", v.Server)
	}
	if missing, _ := rep.Median("rollcall", bench.FigMissing); missing != 0 {
		t.Errorf("rollcall missed %v leaves", missing)
	}
	if !strings.Contains(stdout.String(), "rollcall / centrifuge") {
		t.Errorf("no ratio column:\n%s", stdout)
	}
}

// TestBenchClusterJoinstormGenerators runs the cluster join storm with its
// clients in generator processes, a few keeping views (per event and with
// diffs) and the rest counts-only: every view ends up holding every member
// and agreeing with a node's list.
func TestBenchClusterJoinstormGenerators(t *testing.T) {
	stdout, stderr := benchCluster(t, "--only", "joinstorm", "--storm", "90", "--observers", "9",
		"--generators", "2", "--presence", "per-event,diffs", "--timeout", "30s")
	for _, mode := range []string{"per-event", "diffs"} {
		if !strings.Contains(stdout.String(), "| "+mode+" | ") {
			t.Errorf("no %s row:\n%s", mode, stdout)
		}
		if !strings.Contains(stderr.String(), "joinstorm "+mode+": 90 clients in 2 generators") ||
			!strings.Contains(stderr.String(), "views unlike a node's list: 0") {
			t.Errorf("%s: the storm's log does not show 90 clients in 2 generators whose views agree:\n%s", mode, stderr)
		}
	}
}

// TestBenchClusterDeploy runs the deploy step at a small size: under a
// grace the observers hear nothing while the movers change nodes.
func TestBenchClusterDeploy(t *testing.T) {
	stdout, stderr := benchCluster(t, "--only", "deploy", "--movers", "10", "--deploy-observers", "4",
		"--grace", "2s", "--presence", "diffs", "--timeout", "30s")
	if !strings.Contains(stdout.String(), "| diffs | 0 | 0 | 10 of 10 | ") {
		t.Errorf("want no leave, no join and every mover back:\n%s\n%s", stdout, stderr)
	}
}

// TestBenchClusterCrashGenerators runs the crash with its clients in
// generator processes, per event and with diffs: every surviving
// subscriber hears every leave of the killed node's members, and no other.
func TestBenchClusterCrashGenerators(t *testing.T) {
	stdout, stderr := benchCluster(t, "--only", "crash", "--members", "60", "--runs", "1",
		"--generators", "2", "--presence", "per-event,diffs", "--leave-timeout", "20s", "--timeout", "30s")
	// 20 members on the killed node, 40 surviving subscribers: all 40 with
	// every leave, none missing, extra or false.
	for _, mode := range []string{"per-event", "diffs"} {
		row := regexp.MustCompile(`\| rollcall, embedded NATS, ` + mode + ` \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ ms \| 40 \| 40 \| 0 \| 0 \| 0 \| [0-9.]+ ms \|`)
		if !row.MatchString(stdout.String()) {
			t.Errorf("%s: no row with 40 of 40 subscribers hearing every leave and none missing, extra or false:\n%s\n%s", mode, stdout, stderr)
		}
	}
}

// benchCluster runs `rollcall bench cluster args...` (this test binary as
// rollcall) and returns its output; it fails the test if the bench fails.
func benchCluster(t *testing.T, args ...string) (stdout, stderr *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"bench", "cluster"}, args...)...)
	cmd.Env = append(os.Environ(), "ROLLCALL_RUN_MAIN=1")
	stdout, stderr = new(bytes.Buffer), new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench cluster: %v\nstdout:\n%s\nstderr:\n%s", err, stdout, stderr)
	}
	return stdout, stderr
}
