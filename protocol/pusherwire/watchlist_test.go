package pusherwire

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestWatchlistIDs(t *testing.T) {
	for in, want := range map[string][]string{
		`{"id":"u"}`:                              nil,
		`{"id":"u","watchlist":null}`:             nil,
		`{"id":"u","watchlist":[]}`:               {},
		`{"id":"u","watchlist":["a",42,"a","b"]}`: {"a", "42", "b"},
		`{"id":"u","watchlist":["x\"y"]}`:         {`x"y`},
	} {
		ud, err := ParseUserData(in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ud.WatchlistIDs()
		if err != nil || !slices.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("%s: got %q, %v; want %q", in, got, err, want)
		}
	}
	ids := make([]string, MaxWatchlist+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("%q", fmt.Sprint(i))
	}
	for in, want := range map[string]error{
		`{"id":"u","watchlist":"a"}`:                                             ErrWatchlist,
		`{"id":"u","watchlist":[""]}`:                                            ErrWatchlist,
		`{"id":"u","watchlist":[1.5]}`:                                           ErrWatchlist,
		`{"id":"u","watchlist":[{"id":"a"}]}`:                                    ErrWatchlist,
		`{"id":"u","watchlist":[` + strings.Join(ids, ",") + `]}`:                ErrWatchlistLimit,
		`{"id":"u","watchlist":[` + strings.Join(ids[:MaxWatchlist], ",") + `]}`: nil,
	} {
		ud, err := ParseUserData(in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ud.WatchlistIDs(); !errors.Is(err, want) {
			t.Errorf("%.60s: got %v, want %v", in, err, want)
		}
	}
}

func TestAppendWatchlistEvent(t *testing.T) {
	got := string(AppendWatchlistEvent(nil, WatchlistOnline, []string{"a", `b"c`}))
	want := `{"event":"pusher_internal:watchlist_events","data":"{\"events\":[{\"name\":\"online\",\"user_ids\":[\"a\",\"b\\\"c\"]}]}"}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(AppendWatchlistEvent(nil, WatchlistOffline, nil)); !strings.Contains(got, `\"user_ids\":[]`) {
		t.Errorf("no ids: %s", got)
	}
}
