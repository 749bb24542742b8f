package sgcwire

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestEncodeKeyOrder(t *testing.T) {
	alice := Member{ID: "9F2C", Name: "alice", Info: "role=qa\r\n"}
	tests := []struct {
		m    Message
		want string
	}{
		{Message{Method: MethodSession, Text: "9F2C"},
			`{"jsonrpc":"2.0","method":"sgc@presence@session","message":{"text":"9F2C"}}`},
		{Message{Method: MethodNewMember, Member: alice},
			`{"jsonrpc":"2.0","method":"sgc@presence@member@new","member":{"id":"9F2C","name":"alice","info":"role=qa\r\n"}}`},
		{Message{Method: MethodRemoveChannelMember, Member: Member{ID: "9F2C"}, Channel: "room-7"},
			`{"jsonrpc":"2.0","method":"sgc@presence@channel@member@remove","member":{"id":"9F2C","name":"","info":""},"channel":{"name":"room-7"}}`},
		{Message{Method: MethodPublishMsg, Text: "hi all", Channel: "room-7", Member: Member{ID: "9F2C"}, ID: "AB"},
			`{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"hi all"},"channel":{"name":"room-7"},"member":{"id":"9F2C","name":"","info":""},"id":"AB"}`},
		{Message{Method: MethodGetMembers, Member: Member{ID: "9F2C"}},
			`{"jsonrpc":"2.0","method":"sgc@presence@get@members","channel":{"name":""},"member":{"id":"9F2C","name":"","info":""}}`},
		{Message{Method: MethodSendMembers, Channel: "room-7", Member: alice, Members: []Member{alice}},
			`{"jsonrpc":"2.0","method":"sgc@presence@send@members","channel":{"name":"room-7"},"member":{"id":"9F2C","name":"alice","info":"role=qa\r\n"},"members":[{"id":"9F2C","name":"alice","info":"role=qa\r\n"}]}`},
		{Message{Method: MethodChannelInvitation, Channel: "room-7", Member: Member{ID: "9F2C"}},
			`{"jsonrpc":"2.0","method":"sgc@presence@channel@invitation","channel":{"name":"room-7"},"member":{"id":"9F2C","name":"","info":""},"members":[]}`},
		{Message{Method: MethodErrorMemberChannel, Error: Error{Code: 11, Text: "Subscription already exists."}, Channel: "room-7", Member: alice},
			`{"jsonrpc":"2.0","method":"sgc@presence@error@member@channel","error":{"code":11,"text":"Subscription already exists."},"channel":{"name":"room-7"},"member":{"id":"9F2C","name":"alice","info":"role=qa\r\n"}}`},
		{Message{Method: MethodInvitationResponse, Channel: "c", Member: Member{ID: "B"}, Members: []Member{{ID: "A"}}, Error: Error{Code: 0}},
			`{"jsonrpc":"2.0","method":"sgc@presence@channel@invitation@response","channel":{"name":"c"},"member":{"id":"B","name":"","info":""},"members":[{"id":"A","name":"","info":""}],"error":{"code":0,"text":""}}`},
		{Message{Method: MethodAcknowledgment, ID: "5D0E"},
			`{"jsonrpc":"2.0","method":"sgc@presence@acknowledgment","id":"5D0E"}`},
	}
	for _, tt := range tests {
		got := string(Encoder{}.Encode(&tt.m))
		if got != tt.want {
			t.Errorf("%s:\n got %s\nwant %s", tt.m.Method, got, tt.want)
		}
	}
}

func TestEncodeBase64(t *testing.T) {
	m := Message{Method: MethodNewChannelMember, Member: Member{ID: "ID"}, Channel: "room-7", ID: "X"}
	got := string(Encoder{Base64: true}.Encode(&m))
	want := `{"jsonrpc":"2.0","method":"sgc@b64:c2djQHByZXNlbmNlQGNoYW5uZWxAbWVtYmVyQG5ldw==","member":{"id":"sgc@b64:SUQ=","name":"","info":""},"channel":{"name":"sgc@b64:cm9vbS03"},"id":"sgc@b64:WA=="}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	back, err := Decode([]byte(got))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*back, m) {
		t.Fatalf("round trip: got %+v want %+v", *back, m)
	}
	// acks are never encoded
	ack := string(Encoder{Base64: true}.Encode(&Message{Method: MethodAcknowledgment, ID: "X"}))
	if ack != `{"jsonrpc":"2.0","method":"sgc@presence@acknowledgment","id":"X"}` {
		t.Fatalf("ack encoded: %s", ack)
	}
}

func TestWithIDMatchesEncoding(t *testing.T) {
	for _, b64 := range []bool{false, true} {
		e := Encoder{Base64: b64}
		m := Message{Method: MethodPublishMsg, Text: "hé \"x\"\n", Channel: "c", Member: Member{ID: "A", Name: "n"}}
		plain := e.Encode(&m)
		m.ID = NewID()
		if got, want := string(e.WithID(plain, m.ID)), string(e.Encode(&m)); got != want {
			t.Fatalf("b64=%v: WithID %s != Encode %s", b64, got, want)
		}
	}
}

func TestDecodeBase64Everywhere(t *testing.T) {
	frame := `{"jsonrpc":"sgc@b64:Mi4w","method":"sgc@b64:c2djQHByZXNlbmNlQGNoYW5uZWxAaW52aXRhdGlvbg==",` +
		`"channel":{"name":"sgc@b64:cm9vbS03"},"member":{"id":"A","name":"sgc@b64:YWxpY2U=","info":""},` +
		`"members":[{"id":"sgc@b64:Qg==","name":"","info":""}],"id":"sgc@b64:SUQ="}`
	m, err := Decode([]byte(frame))
	if err != nil {
		t.Fatal(err)
	}
	want := Message{Method: MethodChannelInvitation, ID: "ID", Channel: "room-7",
		Member: Member{ID: "A", Name: "alice"}, Members: []Member{{ID: "B"}}}
	if !reflect.DeepEqual(*m, want) {
		t.Fatalf("got %+v want %+v", *m, want)
	}
}

func TestDecodeLatin1Fallback(t *testing.T) {
	// "é" as Latin-1 (0xE9), what btoa produces.
	v, err := DecodeValue("sgc@b64:6Q==")
	if err != nil || v != "é" {
		t.Fatalf("got %q, %v", v, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		frame string
		err   error
		field string
	}{
		{`not json`, ErrNotJSON, ""},
		{`[1,2]`, ErrNotJSON, ""},
		{`{"jsonrpc":"2.0","method":"x"`, ErrNotJSON, ""},
		{`{"jsonrpc":"1.0","method":"sgc@presence@member@new"}`, ErrVersion, ""},
		{`{"method":"sgc@presence@member@new"}`, ErrVersion, ""},
		{`{"jsonrpc":"2.0"}`, ErrMethod, ""},
		{`{"jsonrpc":"2.0","method":5}`, ErrMethod, ""},
		{`{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","channel":{"name":7}}`, nil, "channel.name"},
		{`{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","member":"me"}`, nil, "member"},
		{`{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"sgc@b64:!!!"}}`, nil, "message.text"},
	}
	for _, tt := range tests {
		m, err := Decode([]byte(tt.frame))
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("%s: got %v, want %v", tt.frame, err, tt.err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: got %v, want field error on %s", tt.frame, err, tt.field)
			continue
		}
		if m == nil || m.Method != MethodPublishMsg {
			t.Errorf("%s: method not kept on field error: %+v", tt.frame, m)
		}
	}
}

func TestEscaping(t *testing.T) {
	m := Message{Method: MethodSession, Text: "a\"b\\c\x01\u2028\xff"}
	got := string(Encoder{}.Encode(&m))
	if !strings.Contains(got, `"a\"b\\c\u0001\u2028\ufffd"`) {
		t.Fatalf("escaping: %s", got)
	}
	back, err := Decode([]byte(got))
	if err != nil || back.Text != "a\"b\\c\x01\u2028\uFFFD" {
		t.Fatalf("round trip: %q %v", back.Text, err)
	}
}

func TestEnvelope(t *testing.T) {
	payload := []byte(`{"jsonrpc":"2.0"}`)
	frame := AppendEnvelope(nil, payload)
	if !strings.HasPrefix(string(frame), "021.presence.esegece.com{") {
		t.Fatalf("envelope: %s", frame)
	}
	for _, f := range []string{string(frame), "020presence.esegece.com{}", "025ABCD.Presence.Esegece.Com{}"} {
		p, ok, err := UnwrapEnvelope([]byte(f))
		if err != nil || !ok || p[0] != '{' {
			t.Errorf("%s: %s %v %v", f, p, ok, err)
		}
	}
	if _, ok, err := UnwrapEnvelope([]byte("000{}")); err != nil || ok {
		t.Errorf("empty id: %v %v", ok, err)
	}
	for _, f := range []string{"", "0x1abc", "099short"} {
		if _, _, err := UnwrapEnvelope([]byte(f)); !errors.Is(err, ErrEnvelope) {
			t.Errorf("%q: %v", f, err)
		}
	}
}

func TestNewID(t *testing.T) {
	id := NewID()
	if len(id) != 32 || strings.ToUpper(id) != id || id == NewID() {
		t.Fatalf("bad id %q", id)
	}
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// survives an encode/decode round trip unchanged, plain and base64.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"jsonrpc":"2.0","method":"sgc@presence@member@new","member":{"id":"A","name":"alice","info":"x"}}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"hi"},"channel":{"name":"c"},"member":{"id":"A"},"id":"1"}`,
		`{"jsonrpc":"2.0","method":"sgc@b64:c2djQHByZXNlbmNlQHNlc3Npb24=","message":{"text":"sgc@b64:eA=="}}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@send@members","members":[{"id":"sgc@b64:Qg=="}]}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@error@member@channel","error":{"code":12,"text":"t"}}`,
		`{"jsonrpc":"2.0","method":"x","channel":{"name":7}}`,
		`{}`, `[]`, `null`, `{"jsonrpc":"2.0","method":"\ud800"}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		known := map[string]bool{MethodSession: true, MethodNewMember: true, MethodRemoveMember: true,
			MethodNewChannelMember: true, MethodRemoveChannelMember: true, MethodPublishMsg: true,
			MethodGetMembers: true, MethodSendMembers: true, MethodChannelInvitation: true,
			MethodInvitationResponse: true, MethodErrorMemberChannel: true, MethodAcknowledgment: true}
		if !known[m.Method] {
			return
		}
		for _, b64 := range []bool{false, true} {
			frame := Encoder{Base64: b64}.Encode(m)
			back, err := Decode(frame)
			if err != nil {
				t.Fatalf("re-decode of %s: %v", frame, err)
			}
			again := Encoder{Base64: b64}.Encode(back)
			if string(again) != string(frame) {
				t.Fatalf("not stable:\n%s\n%s", frame, again)
			}
		}
	})
}

// BenchmarkEncodeMembers encodes a member list of 2,000 members, the reply
// every member of a 2,000-member channel asks for as it joins.
func BenchmarkEncodeMembers(b *testing.B) {
	ms := make([]Member, 2000)
	for i := range ms {
		ms[i] = Member{ID: NewID(), Name: "member " + NewID()[:6], Info: "joined from the storm"}
	}
	m := &Message{Method: MethodSendMembers, Member: ms[0], Channel: "storm", Members: ms}
	var e Encoder
	buf := e.Append(nil, m)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = e.Append(buf[:0], m)
	}
}
