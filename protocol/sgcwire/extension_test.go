package sgcwire

import (
	"errors"
	"reflect"
	"testing"
)

// TestExtensionFrames: each frame of the rollcall extension is written
// exactly as docs/protocol.md shows it, and reads back to the same message
// in both encodings.
func TestExtensionFrames(t *testing.T) {
	ann := Member{ID: "A1", Name: "ann", Info: "x"}
	tests := []struct {
		m    Message
		want string
	}{
		{Message{Method: MethodHello, Extensions: []string{ExtDiffs, ExtUpdates, ExtCounts}},
			`{"jsonrpc":"2.0","method":"rollcall@hello","extensions":["diffs","updates","counts"]}`},
		{Message{Method: MethodHello, Extensions: []string{ExtResume}, Token: "c2VjcmV0.S1.n1"},
			`{"jsonrpc":"2.0","method":"rollcall@hello","extensions":["resume"],"token":"c2VjcmV0.S1.n1"}`},
		{Message{Method: MethodHello, Extensions: []string{ExtResume}, Resumed: true},
			`{"jsonrpc":"2.0","method":"rollcall@hello","extensions":["resume"],"resumed":true}`},
		{Message{Method: MethodResume, Token: "c2VjcmV0.S1.n1"},
			`{"jsonrpc":"2.0","method":"rollcall@resume","token":"c2VjcmV0.S1.n1"}`},
		{Message{Method: MethodHello},
			`{"jsonrpc":"2.0","method":"rollcall@hello","extensions":[]}`},
		{Message{Method: MethodList, Channel: "x", Version: 12, Members: []Member{ann}, More: true},
			`{"jsonrpc":"2.0","method":"rollcall@members","channel":{"name":"x"},"version":12,"members":[{"id":"A1","name":"ann","info":"x"}],"more":true}`},
		{Message{Method: MethodList, Channel: "x", Version: 12},
			`{"jsonrpc":"2.0","method":"rollcall@members","channel":{"name":"x"},"version":12,"members":[],"more":false}`},
		{Message{Method: MethodDiff, Channel: "x", From: 11, Version: 15, Joined: []Member{ann}, Left: []string{"B2", "C3"}, Updated: []Member{{ID: "D4", Name: "dee"}}},
			`{"jsonrpc":"2.0","method":"rollcall@diff","channel":{"name":"x"},"from":11,"version":15,"joined":[{"id":"A1","name":"ann","info":"x"}],"left":["B2","C3"],"updated":[{"id":"D4","name":"dee","info":""}]}`},
		{Message{Method: MethodCount, Channel: "x", Count: 12408},
			`{"jsonrpc":"2.0","method":"rollcall@count","channel":{"name":"x"},"count":12408}`},
		{Message{Method: MethodUpdateMember, Member: ann},
			`{"jsonrpc":"2.0","method":"rollcall@member@update","member":{"id":"A1","name":"ann","info":"x"}}`},
		{Message{Method: MethodUpdateChannelMember, Member: ann, Channel: "x"},
			`{"jsonrpc":"2.0","method":"rollcall@channel@member@update","member":{"id":"A1","name":"ann","info":"x"},"channel":{"name":"x"}}`},
		{Message{Method: MethodNewChannelMember, Member: ann, Channel: "x", Counts: true},
			`{"jsonrpc":"2.0","method":"sgc@presence@channel@member@new","member":{"id":"A1","name":"ann","info":"x"},"channel":{"name":"x"},"counts":true}`},
	}
	for _, tt := range tests {
		got := string(Encoder{}.Encode(&tt.m))
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.m.Method, got, tt.want)
		}
		for _, b64 := range []bool{false, true} {
			back, err := Decode(Encoder{Base64: b64}.Encode(&tt.m))
			if err != nil {
				t.Fatalf("%s (base64 %v): %v", tt.m.Method, b64, err)
			}
			if !reflect.DeepEqual(*back, tt.m) {
				t.Errorf("%s (base64 %v) round trip:\n got %+v\nwant %+v", tt.m.Method, b64, *back, tt.m)
			}
		}
	}
}

// TestExtensionFieldErrors: a field of the wrong type is a *FieldError
// naming it (the server answers error 40); keys a reader does not know are
// ignored.
func TestExtensionFieldErrors(t *testing.T) {
	bad := map[string]string{
		`{"jsonrpc":"2.0","method":"rollcall@diff","left":[1,2]}`:                 "left",
		`{"jsonrpc":"2.0","method":"rollcall@diff","left":["sgc@b64:!!"]}`:        "left[0]",
		`{"jsonrpc":"2.0","method":"rollcall@diff","version":-1}`:                 "version",
		`{"jsonrpc":"2.0","method":"rollcall@diff","joined":[{"id":7}]}`:          "joined.id",
		`{"jsonrpc":"2.0","method":"rollcall@hello","extensions":"diffs"}`:        "extensions",
		`{"jsonrpc":"2.0","method":"rollcall@count","count":"many"}`:              "count",
		`{"jsonrpc":"2.0","method":"rollcall@hello","token":42}`:                  "token",
		`{"jsonrpc":"2.0","method":"sgc@presence@channel@member@new","counts":1}`: "counts",
	}
	for frame, field := range bad {
		m, err := Decode([]byte(frame))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("%s: err %v, want a field error on %q", frame, err, field)
		}
		if m == nil || m.Method == "" {
			t.Errorf("%s: the method was not read", frame)
		}
	}
	m, err := Decode([]byte(`{"jsonrpc":"2.0","method":"rollcall@hello","extensions":["diffs","telepathy"],"future":{"a":[1]}}`))
	if err != nil || !reflect.DeepEqual(m.Extensions, []string{"diffs", "telepathy"}) {
		t.Fatalf("lenient hello: %+v, %v", m, err)
	}
}
