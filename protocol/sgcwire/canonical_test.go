package sgcwire

import (
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
)

// TestCanonicalDecode: every frame the quick reader accepts reads as the
// general reader reads it; it accepts what Encoder writes for its methods
// (but Base64 and strings with escapes), acknowledgment ids included.
func TestCanonicalDecode(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	names := []string{"", "ann", "zoë 雪", `say "hi"`, "tab\there", "a/b", "]}", "sgc@b64:x"}
	member := func() Member {
		return Member{ID: strconv.Itoa(r.IntN(1000)), Name: names[r.IntN(len(names))], Info: names[r.IntN(len(names))]}
	}
	members := func() []Member {
		var ms []Member
		for range r.IntN(4) {
			ms = append(ms, member())
		}
		return ms
	}
	accepted := 0
	for i := range 2000 {
		m := Message{Channel: names[r.IntN(len(names))]}
		switch i % 7 {
		case 0:
			m.Method, m.Version, m.Members, m.More = MethodList, r.Uint64N(1e6), members(), r.IntN(2) == 0
		case 1:
			m.Method, m.From, m.Version, m.Joined, m.Updated = MethodDiff, r.Uint64N(100), 100+r.Uint64N(100), members(), members()
			for range r.IntN(3) {
				m.Left = append(m.Left, member().ID)
			}
		case 2:
			m.Method, m.Member, m.Counts = MethodNewChannelMember, member(), r.IntN(2) == 0
		case 3:
			m.Method, m.Member = MethodRemoveChannelMember, member()
		case 4:
			m.Method, m.Member, m.Channel = MethodNewMember, member(), ""
		case 5:
			m.Method, m.Member, m.Channel = MethodRemoveMember, member(), ""
		case 6:
			m.Method, m.Count = MethodCount, r.IntN(100000)
		}
		if r.IntN(4) == 0 {
			m.ID = NewID()
		}
		for _, b64 := range []bool{false, true} {
			frame := Encoder{Base64: b64}.Encode(&m)
			want, err := decodeJSON(frame)
			got, ok := decodeCanonical(frame)
			if err != nil {
				if ok {
					t.Fatalf("%s: read quickly, but the general reader says %v", frame, err)
				}
				continue
			}
			if !ok {
				continue
			}
			accepted++
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%s:\n quick   %+v\n general %+v", frame, got, want)
			}
		}
	}
	if accepted < 500 { // most frames hold a name with an escape or a Base64 value, on purpose
		t.Fatalf("the quick reader took only %d of 4,000 frames", accepted)
	}
	for _, frame := range []string{
		`{"jsonrpc":"2.0","method":"rollcall@diff","channel":{"name":"x"},"from":01,"version":2,"joined":[],"left":[],"updated":[]}`,
		`{"jsonrpc":"2.0","method":"rollcall@diff","channel":{"name":"x"},"from":1,"version":2,"joined":[],"left":[],"updated":[]}x`,
		`{"jsonrpc":"2.0","method":"rollcall@members","channel":{"name":"x"},"version":2,"members":[{"name":"n","id":"a","info":""}],"more":false}`,
		`{"jsonrpc":"2.0","method":"rollcall@members","channel":{"name":"x"},"version":2,"members":[],"more":false,"more":true}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"hi"},"channel":{"name":"x"},"member":{"id":"a","name":"","info":""}}`,
		"{\"jsonrpc\":\"2.0\",\"method\":\"sgc@presence@member@new\",\"member\":{\"id\":\"\xff\",\"name\":\"\",\"info\":\"\"}}",
	} {
		if m, ok := decodeCanonical([]byte(frame)); ok {
			t.Errorf("%s read as %+v", frame, m)
		}
	}
}

// FuzzCanonicalDecode: whatever the quick reader accepts, the general
// reader reads the same way.
func FuzzCanonicalDecode(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","method":"rollcall@diff","channel":{"name":"x"},"from":1,"version":2,"joined":[{"id":"a","name":"b","info":"c"}],"left":["d"],"updated":[]}`))
	f.Add([]byte(`{"jsonrpc":"2.0","method":"sgc@presence@channel@member@new","member":{"id":"a","name":"","info":""},"channel":{"name":"x"},"counts":true,"id":"Q"}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		got, ok := decodeCanonical(frame)
		if !ok {
			return
		}
		want, err := decodeJSON(frame)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n quick   %+v\n general %+v (%v)", frame, got, want, err)
		}
	})
}

// BenchmarkDecodeDiff reads a diff of 1,000 joined members, the quick way
// and the general way.
func BenchmarkDecodeDiff(b *testing.B) {
	m := Message{Method: MethodDiff, Channel: "storm", From: 1, Version: 1001}
	for i := range 1000 {
		m.Joined = append(m.Joined, Member{ID: NewID(), Name: "member " + strconv.Itoa(i), Info: `{role:viewer}`})
	}
	frame := Encoder{}.Encode(&m)
	b.Run("quick", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		for b.Loop() {
			if _, err := Decode(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("general", func(b *testing.B) {
		b.SetBytes(int64(len(frame)))
		for b.Loop() {
			if _, err := decodeJSON(frame); err != nil {
				b.Fatal(err)
			}
		}
	})
}
