package pusherwire

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// outer decodes a server frame; data is returned as the string it holds.
func outer(t *testing.T, b []byte) (map[string]any, string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("frame %s is not JSON: %v", b, err)
	}
	d, _ := m["data"].(string)
	if _, ok := m["data"]; ok {
		if _, isString := m["data"].(string); !isString {
			t.Fatalf("frame %s: data is not a string", b)
		}
	}
	return m, d
}

// inner decodes the JSON document held by a data string.
func inner(t *testing.T, data string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		t.Fatalf("data %q is not JSON: %v", data, err)
	}
	return v
}

func TestEncodeExact(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want string
	}{
		{"connection_established", AppendConnectionEstablished(nil, "123.456", 120),
			`{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":120}"}`},
		{"pong", AppendPong(nil), `{"event":"pusher:pong","data":"{}"}`},
		{"ping", AppendPing(nil), `{"event":"pusher:ping","data":"{}"}`},
		{"error", AppendError(nil, 4001, `App key "x" not in this cluster`),
			`{"event":"pusher:error","data":"{\"code\":4001,\"message\":\"App key \\\"x\\\" not in this cluster\"}"}`},
		{"error null code", AppendError(nil, 0, "Invalid signature"),
			`{"event":"pusher:error","data":"{\"code\":null,\"message\":\"Invalid signature\"}"}`},
		{"subscription_succeeded", AppendSubscriptionSucceeded(nil, "public"),
			`{"event":"pusher_internal:subscription_succeeded","channel":"public","data":"{}"}`},
		{"presence succeeded", AppendPresenceSubscriptionSucceeded(nil, "presence-x", []Member{{"1", json.RawMessage(`{"name":"Ann"}`)}, {"2", nil}}),
			`{"event":"pusher_internal:subscription_succeeded","channel":"presence-x","data":"{\"presence\":{\"ids\":[\"1\",\"2\"],\"hash\":{\"1\":{\"name\":\"Ann\"},\"2\":null},\"count\":2}}"}`},
		{"presence succeeded empty", AppendPresenceSubscriptionSucceeded(nil, "presence-x", nil),
			`{"event":"pusher_internal:subscription_succeeded","channel":"presence-x","data":"{\"presence\":{\"ids\":[],\"hash\":{},\"count\":0}}"}`},
		{"member_added", AppendMemberAdded(nil, "presence-x", "42", json.RawMessage(`{"n":"a\"b"}`)),
			`{"event":"pusher_internal:member_added","channel":"presence-x","data":"{\"user_id\":\"42\",\"user_info\":{\"n\":\"a\\\"b\"}}"}`},
		{"member_added no info", AppendMemberAdded(nil, "presence-x", "42", nil),
			`{"event":"pusher_internal:member_added","channel":"presence-x","data":"{\"user_id\":\"42\"}"}`},
		{"member_removed", AppendMemberRemoved(nil, "presence-x", "42"),
			`{"event":"pusher_internal:member_removed","channel":"presence-x","data":"{\"user_id\":\"42\"}"}`},
		{"channel event", AppendChannelEvent(nil, "c", "ev", `{"some":"data"}`),
			`{"event":"ev","channel":"c","data":"{\"some\":\"data\"}"}`},
		{"channel event plain string", AppendChannelEvent(nil, "c", "ev", "plain string"),
			`{"event":"ev","channel":"c","data":"plain string"}`},
		{"client event", AppendClientEvent(nil, "presence-x", "client-typing", json.RawMessage(`{"a":1}`), "7"),
			`{"event":"client-typing","channel":"presence-x","data":{"a":1},"user_id":"7"}`},
		{"client event no user", AppendClientEvent(nil, "private-x", "client-typing", json.RawMessage(`"s"`), ""),
			`{"event":"client-typing","channel":"private-x","data":"s"}`},
		{"subscription_error", AppendSubscriptionError(nil, "private-x", SubscriptionErrorAuth, "nope", 401),
			`{"event":"pusher:subscription_error","channel":"private-x","data":"{\"type\":\"AuthError\",\"error\":\"nope\",\"status\":401}"}`},
		{"signin_success", AppendSigninSuccess(nil, `{"id":"u1"}`),
			`{"event":"pusher:signin_success","data":"{\"user_data\":\"{\\\"id\\\":\\\"u1\\\"}\"}"}`},
		{"cache_miss", AppendCacheMiss(nil, "cache-x"), `{"event":"pusher:cache_miss","channel":"cache-x"}`},
		{"subscription_count", AppendSubscriptionCount(nil, "c", 3),
			`{"event":"pusher_internal:subscription_count","channel":"c","data":"{\"subscription_count\":3}"}`},
		{"generic", AppendEvent(nil, "x", "", []byte(`{"a":"b"}`)), `{"event":"x","data":"{\"a\":\"b\"}"}`},
		{"generic no data", AppendEvent(nil, "x", "c", nil), `{"event":"x","channel":"c"}`},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, tc.got, tc.want)
		}
		if !json.Valid(tc.got) {
			t.Errorf("%s: not valid JSON", tc.name)
		}
	}
}

// The presence payload decodes to what pusher-js reads (§2.4).
func TestPresenceSucceededDecodes(t *testing.T) {
	b := AppendPresenceSubscriptionSucceeded(nil, "presence-room", []Member{
		{"u\"1", json.RawMessage(`{"name":"Zoë <&>","tags":["a\\b"]}`)},
		{"2", json.RawMessage(`"just a string"`)},
	})
	m, data := outer(t, b)
	if m["event"] != EventSubscriptionSucceeded || m["channel"] != "presence-room" {
		t.Fatalf("envelope %v", m)
	}
	got := inner(t, data)
	want := map[string]any{"presence": map[string]any{
		"ids":   []any{"u\"1", "2"},
		"hash":  map[string]any{"u\"1": map[string]any{"name": "Zoë <&>", "tags": []any{"a\\b"}}, "2": "just a string"},
		"count": float64(2),
	}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v\nwant %#v", got, want)
	}
}

// Every string given to an encoder comes back after the decoding pusher-js
// does, whatever characters it holds.
func TestEncodeEscaping(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uote`, `back\slash`, "new\nline\r\t", "ctl\x00\x01\x1f\x7f",
		"ünïcödé ☃ 😀", "sep\u2028\u2029", "<script>&", `\"\\"`, "x\u00e9"} {
		checkRoundTrip(t, s)
	}
	// Invalid UTF-8 becomes U+FFFD, as encoding/json does.
	b := AppendMemberRemoved(nil, "presence-x", "a\xffb")
	_, data := outer(t, b)
	if got := inner(t, data).(map[string]any)["user_id"]; got != "a\uFFFDb" {
		t.Fatalf("invalid UTF-8: got %q", got)
	}
}

func checkRoundTrip(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		return
	}
	// Single level: the data string of a channel event.
	m, data := outer(t, AppendChannelEvent(nil, s, s, s))
	if data != s || (s != "" && m["channel"] != s) || m["event"] != s {
		t.Fatalf("channel event of %q: got %v", s, m)
	}
	// Double level: strings inside the data document.
	_, data = outer(t, AppendMemberAdded(nil, "presence-x", s, json.RawMessage(mustJSON(s))))
	v := inner(t, data).(map[string]any)
	if v["user_id"] != s || v["user_info"] != s {
		t.Fatalf("member_added of %q: got %#v", s, v)
	}
	_, data = outer(t, AppendSigninSuccess(nil, s))
	if got := inner(t, data).(map[string]any)["user_data"]; got != s {
		t.Fatalf("signin_success of %q: got %q", s, got)
	}
	_, data = outer(t, AppendError(nil, 4009, s))
	if got := inner(t, data).(map[string]any)["message"]; got != s {
		t.Fatalf("error of %q: got %q", s, got)
	}
	_, data = outer(t, AppendConnectionEstablished(nil, s, 30))
	if got := inner(t, data).(map[string]any)["socket_id"]; got != s {
		t.Fatalf("connection_established of %q: got %q", s, got)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func FuzzEncodeRoundTrip(f *testing.F) {
	for _, s := range []string{"", "a", `"\`, "\n\u2028", "😀", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkRoundTrip(t, s)
	})
}

func TestEncodeAppendsAndDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 512)
	buf = append(buf, "prefix"...)
	buf = AppendPong(buf)
	if !strings.HasPrefix(string(buf), "prefix{") {
		t.Fatalf("did not append: %s", buf)
	}
	info := json.RawMessage(`{"name":"Ann \"A\" Zoë ☃ 😀","sep":"\u2028"}`)
	members := []Member{{"1", info}, {"zoë", info}}
	for name, fn := range map[string]func(){
		"member_added":    func() { buf = AppendMemberAdded(buf[:0], "presence-x", "42", info) },
		"member_removed":  func() { buf = AppendMemberRemoved(buf[:0], "presence-x", "42") },
		"channel event":   func() { buf = AppendChannelEvent(buf[:0], "c", "ev", `{"some":"data"}`) },
		"client event":    func() { buf = AppendClientEvent(buf[:0], "c", "client-x", info, "1") },
		"presence list":   func() { buf = AppendPresenceSubscriptionSucceeded(buf[:0], "presence-x", members) },
		"established":     func() { buf = AppendConnectionEstablished(buf[:0], "1.2", 30) },
		"error":           func() { buf = AppendError(buf[:0], 4009, "no") },
		"subscribed":      func() { buf = AppendSubscriptionSucceeded(buf[:0], "c") },
		"signin_success":  func() { buf = AppendSigninSuccess(buf[:0], `{"id":"1"}`) },
		"subscription_er": func() { buf = AppendSubscriptionError(buf[:0], "c", "AuthError", "x", 401) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

func TestDecodeClientFrame(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ClientFrame
	}{
		{`{"event":"pusher:subscribe","data":{"auth":"","channel":"public"}}`,
			ClientFrame{Frame: Frame{Event: EventSubscribe, Channel: "public", Data: json.RawMessage(`{"auth":"","channel":"public"}`)},
				Type: TypeSubscribe, Subscribe: Subscribe{Channel: "public"}}},
		// data as a string that holds JSON (§1.2)
		{`{"event":"pusher:subscribe","data":"{\"channel\":\"presence-x\",\"auth\":\"k:s\",\"channel_data\":\"{\\\"user_id\\\":1}\"}"}`,
			ClientFrame{Frame: Frame{Event: EventSubscribe, Channel: "presence-x", Data: json.RawMessage(`"{\"channel\":\"presence-x\",\"auth\":\"k:s\",\"channel_data\":\"{\\\"user_id\\\":1}\"}"`)},
				Type: TypeSubscribe, Subscribe: Subscribe{Channel: "presence-x", Auth: "k:s", ChannelData: `{"user_id":1}`, HasChannelData: true}}},
		{`{"event":"pusher:subscribe","data":{"channel":"presence-x","auth":"k:s","channel_data":""}}`,
			ClientFrame{Frame: Frame{Event: EventSubscribe, Channel: "presence-x", Data: json.RawMessage(`{"channel":"presence-x","auth":"k:s","channel_data":""}`)},
				Type: TypeSubscribe, Subscribe: Subscribe{Channel: "presence-x", Auth: "k:s", HasChannelData: true}}},
		{`{"event":"pusher:unsubscribe","data":{"channel":"c"}}`,
			ClientFrame{Frame: Frame{Event: EventUnsubscribe, Channel: "c", Data: json.RawMessage(`{"channel":"c"}`)}, Type: TypeUnsubscribe}},
		{`{"event":"pusher:signin","data":{"auth":"k:s","user_data":"{\"id\":\"1\"}"}}`,
			ClientFrame{Frame: Frame{Event: EventSignin, Data: json.RawMessage(`{"auth":"k:s","user_data":"{\"id\":\"1\"}"}`)},
				Type: TypeSignin, Signin: Signin{Auth: "k:s", UserData: `{"id":"1"}`}}},
		{`{"event":"pusher:ping","data":{}}`, ClientFrame{Frame: Frame{Event: EventPing, Data: json.RawMessage(`{}`)}, Type: TypePing}},
		{`{"event":"pusher:ping"}`, ClientFrame{Frame: Frame{Event: EventPing}, Type: TypePing}},
		{`{"event":"pusher:pong","data":{}}`, ClientFrame{Frame: Frame{Event: EventPong, Data: json.RawMessage(`{}`)}, Type: TypePong}},
		{` {"event":"client-typing","channel":"private-x","data":{"a":[1,2]}} `,
			ClientFrame{Frame: Frame{Event: "client-typing", Channel: "private-x", Data: json.RawMessage(`{"a":[1,2]}`)}, Type: TypeClientEvent}},
		{`{"event":"foo","channel":"c","data":null}`, ClientFrame{Frame: Frame{Event: "foo", Channel: "c"}, Type: TypeOther}},
	} {
		got, err := DecodeClientFrame([]byte(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\n got %#v\nwant %#v", tc.in, got, tc.want)
		}
	}
}

func TestDecodeClientFrameErrors(t *testing.T) {
	for _, tc := range []struct {
		in      string
		err     error
		field   string
		message string
	}{
		{`not json`, ErrInvalidJSON, "", "Invalid message format: frame is not valid JSON"},
		{`{"event":"pusher:ping"`, ErrInvalidJSON, "", "Invalid message format: frame is not valid JSON"},
		{`{"event":"pusher:ping"} x`, ErrInvalidJSON, "", ""},
		{``, ErrInvalidJSON, "", ""},
		{`[1,2]`, ErrNotObject, "", "Invalid message format: frame is an array, want an object"},
		{`"str"`, ErrNotObject, "", ""},
		{`null`, ErrNotObject, "", ""},
		{`{}`, ErrMissingField, "event", "Invalid message format: event is missing"},
		{`{"event":null}`, ErrMissingField, "event", ""},
		{`{"event":""}`, ErrEmptyField, "event", "Invalid message format: event is empty"},
		{`{"event":5}`, ErrWrongType, "event", "Invalid message format: event is a number, want a string"},
		{`{"Event":"pusher:ping"}`, ErrMissingField, "event", ""},
		{`{"event":"client-x","channel":5}`, ErrWrongType, "channel", "Invalid message format: client-x: channel is a number, want a string"},
		{`{"event":"client-x","channel":"c","user_id":true}`, ErrWrongType, "user_id", ""},
		{`{"event":"client-x"}`, ErrMissingField, "channel", "Invalid message format: client-x: channel is missing"},
		{`{"event":"client-x","channel":""}`, ErrMissingField, "channel", ""},
		{`{"event":"pusher:subscribe"}`, ErrMissingField, "data", "Invalid message format: pusher:subscribe: data is missing"},
		{`{"event":"pusher:subscribe","data":null}`, ErrMissingField, "data", ""},
		{`{"event":"pusher:subscribe","data":[]}`, ErrWrongType, "data", "Invalid message format: pusher:subscribe: data is an array, want an object"},
		{`{"event":"pusher:subscribe","data":"public"}`, ErrWrongType, "data", "Invalid message format: pusher:subscribe: data is a string, want an object"},
		{`{"event":"pusher:subscribe","data":"\"x\""}`, ErrWrongType, "data", ""},
		{`{"event":"pusher:subscribe","data":{}}`, ErrMissingField, "data.channel", "Invalid message format: pusher:subscribe: data.channel is missing"},
		{`{"event":"pusher:subscribe","data":{"channel":""}}`, ErrEmptyField, "data.channel", ""},
		{`{"event":"pusher:subscribe","data":{"channel":5}}`, ErrWrongType, "data.channel", "Invalid message format: pusher:subscribe: data.channel is a number, want a string"},
		{`{"event":"pusher:subscribe","data":{"channel":"c","auth":{}}}`, ErrWrongType, "data.auth", ""},
		{`{"event":"pusher:subscribe","data":{"channel":"presence-c","auth":"k:s","channel_data":{"user_id":"1"}}}`, ErrWrongType, "data.channel_data", "Invalid message format: pusher:subscribe: data.channel_data is an object, want a string"},
		{`{"event":"pusher:unsubscribe","data":{"channel":["c"]}}`, ErrWrongType, "data.channel", ""},
		{`{"event":"pusher:unsubscribe"}`, ErrMissingField, "data", ""},
		{`{"event":"pusher:signin","data":{"auth":"k:s"}}`, ErrMissingField, "data.user_data", ""},
		{`{"event":"pusher:signin","data":{"auth":"k:s","user_data":{"id":"1"}}}`, ErrWrongType, "data.user_data", ""},
		{`{"event":"pusher:signin","data":{"user_data":"{}"}}`, ErrMissingField, "data.auth", ""},
		{`{"event":"pusher:connection_established","data":{}}`, ErrUnknownEvent, "", "Invalid message format: pusher:connection_established: clients may not send this event"},
		{`{"event":"pusher_internal:member_added","data":{}}`, ErrUnknownEvent, "", ""},
		{`{"event":"pusher:whatever"}`, ErrUnknownEvent, "", ""},
	} {
		_, err := DecodeClientFrame([]byte(tc.in))
		var fe *FrameError
		if !errors.As(err, &fe) {
			t.Errorf("%s: error %v, want a *FrameError", tc.in, err)
			continue
		}
		if !errors.Is(err, tc.err) || fe.Field != tc.field {
			t.Errorf("%s: got %v (field %q), want %v (field %q)", tc.in, err, fe.Field, tc.err, tc.field)
		}
		if tc.message != "" && fe.Message() != tc.message {
			t.Errorf("%s: message %q, want %q", tc.in, fe.Message(), tc.message)
		}
		if fe.Code() != CodeReconnect {
			t.Errorf("%s: code %d", tc.in, fe.Code())
		}
		// The reply is a valid pusher:error frame.
		if b := AppendError(nil, fe.Code(), fe.Message()); !json.Valid(b) {
			t.Errorf("%s: reply %s is not JSON", tc.in, b)
		}
	}
}

func TestDataJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{"event":"e","data":{"a":1}}`:        `{"a":1}`,
		`{"event":"e","data":"{\"a\":1}"}`:    `{"a":1}`,
		`{"event":"e","data":"plain"}`:        `"plain"`,
		`{"event":"e","data":"  [1] "}`:       `[1]`,
		`{"event":"e","data":""}`:             `""`,
		`{"event":"e","data":5}`:              `5`,
		`{"event":"e"}`:                       ``,
		`{"event":"e","data":"\"quoted\""}`:   `"quoted"`,
		`{"event":"e","data":"{\"broken\":"}`: `"{\"broken\":"`,
	} {
		f, err := DecodeFrame([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := string(f.DataJSON()); got != want {
			t.Errorf("%s: DataJSON %s, want %s", in, got, want)
		}
	}
}

// A server frame the encoders write decodes back with DecodeFrame.
func TestDecodeServerFrame(t *testing.T) {
	f, err := DecodeFrame(AppendMemberAdded(nil, "presence-x", "42", json.RawMessage(`{"a":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Event != EventMemberAdded || f.Channel != "presence-x" || string(f.DataJSON()) != `{"user_id":"42","user_info":{"a":1}}` {
		t.Fatalf("got %+v, data %s", f, f.DataJSON())
	}
}

func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"event":"pusher:subscribe","data":{"auth":"","channel":"public"}}`,
		`{"event":"pusher:subscribe","data":"{\"channel\":\"presence-x\",\"auth\":\"k:s\",\"channel_data\":\"{\\\"user_id\\\":1}\"}"}`,
		`{"event":"pusher:unsubscribe","data":{"channel":"c"}}`,
		`{"event":"pusher:signin","data":{"auth":"k:s","user_data":"{\"id\":\"1\"}"}}`,
		`{"event":"pusher:ping","data":{}}`,
		`{"event":"client-x","channel":"private-x","data":{"a":1},"user_id":"1"}`,
		`{"event":"pusher:subscribe","data":{"channel":5}}`,
		`{"event":"pusher_internal:member_added"}`,
		`[1]`, `null`, `"x"`, `{`, ``, "{\"event\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cf, err := DecodeClientFrame(b)
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FrameError", err)
			}
			if fe.Message() == "" || !json.Valid(AppendError(nil, fe.Code(), fe.Message())) {
				t.Fatalf("bad reply for %v", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("accepted invalid JSON %q", b)
		}
		if cf.Event == "" {
			t.Fatalf("decoded an empty event from %q", b)
		}
		switch cf.Type {
		case TypeSubscribe:
			if cf.Subscribe.Channel == "" || cf.Channel != cf.Subscribe.Channel {
				t.Fatalf("subscribe without channel from %q", b)
			}
		case TypeUnsubscribe, TypeClientEvent:
			if cf.Channel == "" {
				t.Fatalf("%v without channel from %q", cf.Type, b)
			}
		case TypeSignin:
			if cf.Signin.Auth == "" || cf.Signin.UserData == "" {
				t.Fatalf("signin without auth or user_data from %q", b)
			}
		}
		if cf.Data != nil && !json.Valid(cf.Data) {
			t.Fatalf("data %q is not JSON", cf.Data)
		}
		// Re-encoding a relayed client event yields valid JSON.
		if out := AppendClientEvent(nil, cf.Channel, cf.Event, cf.Data, cf.UserID); !json.Valid(out) {
			t.Fatalf("relay of %q is not JSON: %s", b, out)
		}
	})
}

func BenchmarkAppendMemberAdded(b *testing.B) {
	buf := make([]byte, 0, 256)
	info := json.RawMessage(`{"name":"Ann","avatar":"https://example.com/a.png"}`)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMemberAdded(buf[:0], "presence-room", "12345", info)
	}
}

func BenchmarkAppendChannelEvent(b *testing.B) {
	buf := make([]byte, 0, 256)
	data := `{"message":"hello world","n":[1,2,3]}`
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendChannelEvent(buf[:0], "my-channel", "my-event", data)
	}
}

func BenchmarkDecodeClientFrameSubscribe(b *testing.B) {
	frame := []byte(`{"event":"pusher:subscribe","data":{"auth":"k:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4","channel":"private-foobar"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeClientFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeClientFrameClientEvent(b *testing.B) {
	frame := []byte(`{"event":"client-typing","channel":"presence-room","data":{"text":"hello"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeClientFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}
