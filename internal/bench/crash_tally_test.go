package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// The crash accounting: a subscriber that misses a leave counts its
// missing leaves and has no time to the last leave; duplicates and leaves
// of members that did not leave are extra; a server whose subscribers got
// no leave at all shows no percentiles, says so in a note, and the table
// leaves its ratio out.
func TestCrashTally(t *testing.T) {
	t0 := time.Now()
	victims := []string{"a", "b"}
	full, partial, none := newLeaveView[string](), newLeaveView[string](), newLeaveView[string]()
	full.leave("a", t0.Add(100*time.Millisecond))
	full.leave("b", t0.Add(300*time.Millisecond))
	full.leave("b", t0.Add(310*time.Millisecond)) // twice
	partial.leave("a", t0.Add(200*time.Millisecond))
	partial.leave("z", t0.Add(210*time.Millisecond)) // did not leave
	tl := tallyLeaves([]*leaveView[string]{full, partial, none}, victims, t0, 0)
	if tl.subscribers != 3 || tl.complete != 1 || tl.missing != 3 || tl.extra != 2 || tl.lat.N != 1 || tl.lat.Max != int64(310*time.Millisecond) {
		t.Fatalf("tally %+v", tl)
	}
	start := time.Now()
	awaitLeaves(context.Background(), []*leaveView[string]{full}, victims, start.Add(time.Minute))
	if time.Since(start) > 10*time.Second {
		t.Error("awaitLeaves did not return at once for a complete view")
	}

	rc := crashTally{subscribers: 1, complete: 1, listed: 2 * time.Second}
	rc.lat.Record(time.Second)
	cf := crashTally{subscribers: 1, missing: 2, listed: -1}
	rep := &Report{Outcomes: []Outcome{rc.outcome("rollcall", 1, time.Minute), cf.outcome("centrifuge", 1, time.Minute)}}
	if v, ok := rep.Median("rollcall", FigLeaveP50); !ok || v != 1000 {
		t.Errorf("rollcall p50 %v %v", v, ok)
	}
	if _, ok := rep.Median("centrifuge", FigLeaveP50); ok {
		t.Error("centrifuge has a p50 without any leave")
	}
	if _, ok := rep.Median("centrifuge", FigListed); ok {
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
