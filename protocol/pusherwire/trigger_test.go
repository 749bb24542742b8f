package pusherwire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDecodeTrigger(t *testing.T) {
	for in, want := range map[string]Trigger{
		// The spec's example body (§5.1).
		`{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}`:            {Name: "foo", Data: `{"some":"data"}`, Channels: []string{"project-3"}},
		`{"name":"e","channel":"c","data":"plain","socket_id":"1.2","info":"user_count"}`: {Name: "e", Data: "plain", Channels: []string{"c"}, SocketID: "1.2", Info: "user_count"},
		// Lenient: data as an object is kept as its JSON text.
		`{"name":"e","channels":["a","b"],"data":{"x": [1]}}`: {Name: "e", Data: `{"x": [1]}`, Channels: []string{"a", "b"}},
		`{"name":"e","channels":["a"],"data":""}`:             {Name: "e", Data: "", Channels: []string{"a"}},
	} {
		got, err := DecodeTrigger([]byte(in))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{
		``, `[]`, `{}`, `{"name":"e","channels":["a"]}`, `{"name":"e","channels":["a"],"data":null}`,
		`{"data":"x","channels":["a"]}`, `{"name":"","data":"x","channels":["a"]}`, `{"name":1,"data":"x","channels":["a"]}`,
		`{"name":"e","data":"x"}`, `{"name":"e","data":"x","channels":[]}`, `{"name":"e","data":"x","channels":"a"}`,
		`{"name":"e","data":"x","channels":[1]}`, `{"name":"e","data":"x","channel":5}`, `{"name":"e","data":"x","channel":"a","socket_id":1}`,
	} {
		_, err := DecodeTrigger([]byte(in))
		var be *BodyError
		if !errors.Is(err, ErrBodyInvalid) || !errors.As(err, &be) || be.Status() != 400 || be.Msg == "" {
			t.Errorf("%s: got %v", in, err)
		}
	}
}

func TestDecodeBatch(t *testing.T) {
	got, err := DecodeBatch([]byte(`{"batch":[{"channel":"c1","name":"e1","data":"{\"x\":1}"},{"channel":"c2","name":"e2","data":"s","info":"subscription_count"}]}`))
	want := []Trigger{{Name: "e1", Data: `{"x":1}`, Channels: []string{"c1"}}, {Name: "e2", Data: "s", Channels: []string{"c2"}, Info: "subscription_count"}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v", got, err)
	}
	for in, msg := range map[string]string{
		`{}`:                       "Missing batch",
		`{"batch":{}}`:             "batch must be an array",
		`{"batch":[1]}`:            "batch[0] must be an object",
		`{"batch":[{"name":"e"}]}`: "Missing batch[0].data",
		`{"batch":[{"name":"e","data":"x","channel":"c"},{"data":"x"}]}`: "Missing batch[1].name",
	} {
		_, err := DecodeBatch([]byte(in))
		if !errors.Is(err, ErrBodyInvalid) || err.Error() != msg {
			t.Errorf("%s: got %v, want %q", in, err, msg)
		}
	}
}

func TestTriggerCheck(t *testing.T) {
	ok := Trigger{Name: "e", Data: "x", Channels: []string{"a", "#server-to-user-u1"}, SocketID: "1.2"}
	if err := ok.Check(Limits{}); err != nil {
		t.Fatal(err)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = "c"
	}
	for _, tc := range []struct {
		name   string
		t      Trigger
		l      Limits
		err    error
		status int
	}{
		{"long name", Trigger{Name: strings.Repeat("e", 201), Data: "x", Channels: []string{"a"}}, Limits{}, ErrBodyLimit, 400},
		{"protocol name", Trigger{Name: "pusher:subscribe", Data: "x", Channels: []string{"a"}}, Limits{}, ErrBodyInvalid, 400},
		{"internal name", Trigger{Name: "pusher_internal:member_added", Data: "x", Channels: []string{"a"}}, Limits{}, ErrBodyInvalid, 400},
		{"101 channels", Trigger{Name: "e", Data: "x", Channels: many}, Limits{}, ErrBodyLimit, 400},
		{"3 channels, limit 2", Trigger{Name: "e", Data: "x", Channels: many[:3]}, Limits{MaxChannels: 2}, ErrBodyLimit, 400},
		{"bad channel", Trigger{Name: "e", Data: "x", Channels: []string{"a b"}}, Limits{}, ErrBodyInvalid, 400},
		{"reserved channel", Trigger{Name: "e", Data: "x", Channels: []string{"#x"}}, Limits{}, ErrBodyInvalid, 400},
		{"long channel", Trigger{Name: "e", Data: "x", Channels: []string{strings.Repeat("c", 201)}}, Limits{}, ErrBodyLimit, 400},
		{"10 KiB + 1", Trigger{Name: "e", Data: strings.Repeat("x", 10*1024+1), Channels: []string{"a"}}, Limits{}, ErrDataTooLarge, 413},
		{"11 bytes, limit 10", Trigger{Name: "e", Data: strings.Repeat("x", 11), Channels: []string{"a"}}, Limits{MaxDataBytes: 10}, ErrDataTooLarge, 413},
		{"bad socket_id", Trigger{Name: "e", Data: "x", Channels: []string{"a"}, SocketID: "abc"}, Limits{}, ErrBodyInvalid, 400},
	} {
		err := tc.t.Check(tc.l)
		var be *BodyError
		if !errors.Is(err, tc.err) || !errors.As(err, &be) || be.Status() != tc.status {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.err)
		}
	}
	if err := (&Trigger{Name: "e", Data: strings.Repeat("x", 10*1024), Channels: []string{"a"}}).Check(Limits{}); err != nil {
		t.Errorf("10 KiB exactly: %v", err)
	}
	batch := make([]Trigger, 11)
	for i := range batch {
		batch[i] = ok
	}
	if err := CheckBatch(batch, Limits{}); !errors.Is(err, ErrBodyLimit) {
		t.Errorf("11 events: %v", err)
	}
	if err := CheckBatch(batch[:10], Limits{}); err != nil {
		t.Errorf("10 events: %v", err)
	}
	batch[1].Data = strings.Repeat("x", 20)
	if err := CheckBatch(batch[:2], Limits{MaxDataBytes: 10}); !errors.Is(err, ErrDataTooLarge) || !strings.HasPrefix(err.Error(), "batch[1]: ") {
		t.Errorf("batch item over limit: %v", err)
	}
	if got := InfoAttributes(" user_count,,subscription_count "); !reflect.DeepEqual(got, []string{"user_count", "subscription_count"}) {
		t.Errorf("InfoAttributes: %q", got)
	}
}
