package bench

import (
	"fmt"
	"strings"
	"testing"
)

// Each comparator gets its ratio column beside its own rollcall run; two
// other servers get the first beside the second.
func TestTablePairs(t *testing.T) {
	for _, c := range []struct {
		servers []string
		want    string
	}{
		{[]string{"rollcall", "centrifuge"}, "[[0 1]]"},
		{[]string{"rollcall", "rollcall-pusher"}, "[[0 1]]"},
		{[]string{"rollcall", "rollcall-pusher", "soketi"}, "[[1 2]]"},
		{[]string{"rollcall", "rollcall-pusher", "centrifuge", "soketi"}, "[[0 2] [1 3]]"},
		{[]string{"rollcall"}, "[]"},
	} {
		if got := fmt.Sprint(pairs(c.servers)); got != c.want {
			t.Errorf("pairs(%v) = %s, want %s", c.servers, got, c.want)
		}
	}
	rep := &Report{Outcomes: []Outcome{
		{Server: "rollcall", Figures: []Figure{{Name: "p99", Unit: "ms", Value: 1, Better: "lower"}}},
		{Server: "rollcall-pusher", Figures: []Figure{{Name: "p99", Unit: "ms", Value: 2, Better: "lower"}}},
		{Server: "soketi", Figures: []Figure{{Name: "p99", Unit: "ms", Value: 4, Better: "lower"}}},
	}}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "rollcall-pusher / soketi") || !strings.Contains(b.String(), "0.50×") ||
		strings.Count(b.String(), "better") != 1 {
		t.Errorf("table:\n%s", &b)
	}
}

// A ratio below 0.01 keeps two significant digits; 0 stays 0.00×.
func TestTableSmallRatio(t *testing.T) {
	for _, c := range []struct {
		a, b float64
		want string
	}{{253, 59493, "0.0043×"}, {0, 200, "0.00×"}, {1, 2, "0.50×"}, {3, 0, "–"}} {
		if got := ratio(c.a, c.b); got != c.want {
			t.Errorf("ratio(%v, %v) = %s, want %s", c.a, c.b, got, c.want)
		}
	}
}
