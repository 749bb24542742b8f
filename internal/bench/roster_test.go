package bench

import (
	"slices"
	"testing"
)

// rosterIDs names the members of r among the ids the test uses.
func rosterIDs(r *roster) []string {
	var ids []string
	for _, id := range []string{"a", "b", "c", "d", "me", "x"} {
		if _, ok := r.members[key(id)]; ok {
			ids = append(ids, id)
		}
	}
	if len(ids) != len(r.members) {
		ids = append(ids, "(others)")
	}
	return ids
}

func keys(ids ...string) []uint64 { return idKeys(ids) }

// A roster holds diffs until its list, skips stale ones and counts gaps.
func TestRoster(t *testing.T) {
	r := newRoster(0)
	r.add("me")
	r.diff(3, 5, keys("c"), keys("a")) // before the list: held
	r.diff(5, 6, keys("d"), nil)
	if got := rosterIDs(r); !slices.Equal(got, []string{"me"}) {
		t.Fatalf("before the list: %v", got)
	}
	r.list(4, keys("a", "b"))
	if got, want := rosterIDs(r), []string{"b", "c", "d", "me"}; !slices.Equal(got, want) {
		t.Fatalf("after the list: %v, want %v", got, want)
	}
	r.diff(2, 6, keys("x"), nil) // stale
	if slices.Contains(rosterIDs(r), "x") || r.gaps != 0 {
		t.Fatalf("stale diff applied: %v, gaps %d", rosterIDs(r), r.gaps)
	}
	r.diff(8, 9, nil, keys("b")) // from 8, view at 6: a gap
	if got, want := rosterIDs(r), []string{"c", "d", "me"}; !slices.Equal(got, want) || r.gaps != 1 || r.version != 9 {
		t.Fatalf("after the gap: %v (want %v), gaps %d, version %d", got, want, r.gaps, r.version)
	}
}
