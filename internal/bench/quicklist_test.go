package bench

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"

	"github.com/rollcall/rollcall/protocol/sgcwire"
)

func keysOf(ms []sgcwire.Member) []uint64 {
	var ks []uint64
	for _, m := range ms {
		ks = append(ks, key(m.ID))
	}
	return ks
}

// TestQuickList: for member pages and diffs as the server's encoder writes
// them, with names that try to look like the frame's structure, the quick
// reader gives the keys of what the general decoder reads, or declines.
func TestQuickList(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	names := []string{"", "ann", "zoë 雪", `],"left":[`, `{"id":"x"}`, `,"id":"y"`, "]", "sgc@b64:x", `say "hi"`}
	member := func() sgcwire.Member {
		return sgcwire.Member{ID: "m" + strconv.Itoa(r.IntN(1000)), Name: names[r.IntN(len(names))], Info: names[r.IntN(len(names))]}
	}
	members := func() []sgcwire.Member {
		var ms []sgcwire.Member
		for range r.IntN(5) {
			ms = append(ms, member())
		}
		return ms
	}
	quick := 0
	for i := range 3000 {
		m := sgcwire.Message{Channel: names[r.IntN(len(names))]}
		if i%2 == 0 {
			m.Method, m.Version, m.Members, m.More = sgcwire.MethodList, r.Uint64N(1e6), members(), r.IntN(2) == 0
		} else {
			m.Method, m.From, m.Version, m.Joined, m.Updated = sgcwire.MethodDiff, r.Uint64N(100), 100+r.Uint64N(100), members(), members()
			for range r.IntN(3) {
				m.Left = append(m.Left, member().ID)
			}
		}
		if r.IntN(3) == 0 {
			m.ID = sgcwire.NewID()
		}
		frame := (&sgcwire.Encoder{}).Encode(&m)
		want, err := sgcwire.Decode(frame)
		q, ok := readQuickList(frame)
		if err != nil && ok {
			t.Fatalf("%s: read quickly, but the decoder says %v", frame, err)
		}
		if !ok {
			continue
		}
		quick++
		if q.channel != want.Channel || q.version != want.Version || q.ack != want.ID || q.diff != (want.Method == sgcwire.MethodDiff) {
			t.Fatalf("%s:\n quick %+v\n want  %+v", frame, q, want)
		}
		if q.diff {
			if q.from != want.From || !slices.Equal(q.joined, keysOf(want.Joined)) || !slices.Equal(q.left, idKeys(want.Left)) {
				t.Fatalf("%s: quick diff %+v, want from %d joined %v left %v", frame, q, want.From, want.Joined, want.Left)
			}
		} else if q.more != want.More || !slices.Equal(q.joined, keysOf(want.Members)) {
			t.Fatalf("%s: quick page %+v, want more %v members %v", frame, q, want.More, want.Members)
		}
	}
	if quick < 150 { // most frames hold a name with an escape or a Base64 value, on purpose
		t.Fatalf("the quick reader took only %d of 3,000 frames", quick)
	}
	for _, f := range []string{`{"jsonrpc":"2.0","method":"rollcall@diff"}`, `{"jsonrpc":"2.0","method":"sgc@presence@new@member"}`, `not json`} {
		if _, ok := readQuickList([]byte(f)); ok {
			t.Errorf("read %s", f)
		}
	}
}
