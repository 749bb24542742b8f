package bench

import (
	"testing"

	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// The fast path must agree with the codec, and decline what it cannot read.
func TestFastPublish(t *testing.T) {
	m := &sgcwire.Message{Method: sgcwire.MethodPublishMsg, Channel: "fan-3", Text: "0000000001|000002|000000000003|....",
		HasText: true, Member: sgcwire.Member{ID: "X", Name: "b1"}}
	frame := sgcwire.Encoder{}.Encode(m)
	ch, text, ok := fastPublish(frame)
	if !ok || ch != m.Channel || string(text) != m.Text {
		t.Fatalf("fastPublish(%s) = %q, %q, %v", frame, ch, text, ok)
	}
	for _, decline := range []*sgcwire.Message{
		{Method: sgcwire.MethodPublishMsg, Channel: "c", Text: `a "quoted" text`, HasText: true},
		{Method: sgcwire.MethodNewChannelMember, Channel: "c"},
		{Method: sgcwire.MethodPublishMsg, ID: "ABC", Channel: "c", Text: "t", HasText: true},
	} {
		if _, _, ok := fastPublish(sgcwire.Encoder{}.Encode(decline)); ok {
			t.Errorf("fastPublish accepted %+v", decline)
		}
	}
	if _, _, ok := fastPublish(sgcwire.Encoder{Base64: true}.Encode(m)); ok {
		t.Error("fastPublish accepted a Base64 frame")
	}
}
