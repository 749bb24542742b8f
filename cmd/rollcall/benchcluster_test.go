package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/bench"
)

// The crash accounting: a subscriber that misses a leave counts its
// missing leaves and has no time to the last leave; duplicates and leaves
// of members that did not leave are extra; a server whose subscribers got
// no leave at all shows no percentiles, says so in a note, and the table
// leaves its ratio out.
func TestCrashTally(t *testing.T) {
	t0 := time.Now()
	victims := []string{"a", "b"}
	full, partial, none := newLeaveView(), newLeaveView(), newLeaveView()
	full.leave("a", t0.Add(100*time.Millisecond))
	full.leave("b", t0.Add(300*time.Millisecond))
	full.leave("b", t0.Add(310*time.Millisecond)) // twice
	partial.leave("a", t0.Add(200*time.Millisecond))
	partial.leave("z", t0.Add(210*time.Millisecond)) // did not leave
	tl := tallyLeaves([]*leaveView{full, partial, none}, victims, t0, 0)
	if tl.subscribers != 3 || tl.complete != 1 || tl.missing != 3 || tl.extra != 2 || len(tl.lat) != 1 || tl.lat[0] != 310*time.Millisecond {
		t.Fatalf("tally %+v", tl)
	}
	start := time.Now()
	awaitLeaves(context.Background(), []*leaveView{full}, victims, start.Add(time.Minute))
	if time.Since(start) > 10*time.Second {
		t.Error("awaitLeaves did not return at once for a complete view")
	}

	rc := crashTally{lat: []time.Duration{time.Second}, subscribers: 1, complete: 1, listed: 2 * time.Second}
	cf := crashTally{subscribers: 1, missing: 2, listed: -1}
	rep := &bench.Report{Outcomes: []bench.Outcome{rc.outcome("rollcall", 1, time.Minute), cf.outcome("centrifuge", 1, time.Minute)}}
	if v, ok := rep.Median("rollcall", figLeaveP50); !ok || v != 1000 {
		t.Errorf("rollcall p50 %v %v", v, ok)
	}
	if _, ok := rep.Median("centrifuge", figLeaveP50); ok {
		t.Error("centrifuge has a p50 without any leave")
	}
	if _, ok := rep.Median("centrifuge", figListed); ok {
		t.Error("centrifuge has a member-list time though the list kept them")
	}
	var out bytes.Buffer
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rollcall / centrifuge", "no surviving subscriber got every leave within 1m0s (2 leaves missing)", "still named the killed node's members"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table without %q:\n%s", want, &out)
		}
	}
}

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
	cmd := exec.Command(os.Args[0], "bench", "cluster", "--only", "crash", "--members", "30", "--runs", "1",
		"--comparator", bin, "--leave-timeout", "75s", "--json", report)
	cmd.Env = append(os.Environ(), "ROLLCALL_RUN_MAIN=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bench cluster: %v\nstdout:\n%s\nstderr:\n%s", err, &stdout, &stderr)
	}
	t.Logf("stdout:\n%s\nstderr:\n%s", &stdout, &stderr)
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
		if subs, complete, missing := get(figSubs), get(figComplete), get(figMissing); subs != 20 || missing > 200 || (complete == 20) != (missing == 0) {
			t.Errorf("%s: %v subscribers, %v complete, %v missing", server, subs, complete, missing)
		}
		if get(figExtra) != 0 || get(figFalse) != 0 {
			t.Errorf("%s: extra %v, false %v", server, get(figExtra), get(figFalse))
		}
		// Both member lists drop the killed node's members in the end: rollcall's
		// at once, Centrifuge's when their presence entries expire in Redis.
		if _, ok := rep.Median(server, figListed); !ok {
			t.Errorf("%s: the member list still named the killed node's members", server)
		}
	}
	if v := rep.Outcomes[0]; v.Server != "rollcall" {
		t.Errorf("first run %s, want rollcall", v.Server)
	}
	if missing, _ := rep.Median("rollcall", figMissing); missing != 0 {
		t.Errorf("rollcall missed %v leaves", missing)
	}
	if !strings.Contains(stdout.String(), "rollcall / centrifuge") {
		t.Errorf("no ratio column:\n%s", &stdout)
	}
}
