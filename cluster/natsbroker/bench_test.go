package natsbroker

import (
	"context"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

func benchNode(b *testing.B) *Node {
	b.Helper()
	o := opts("bench")
	n, err := New(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { n.Close() })
	if err := n.start(newFake()); err != nil {
		b.Fatal(err)
	}
	return n
}

// Replicate is called with a channel lock held: what does it cost?
func BenchmarkReplicate(b *testing.B) {
	n := benchNode(b)
	ch := presence.Change{Op: presence.OpAdd, Conn: "0123456789ABCDEF0123456789ABCDEF", Channel: "presence-lobby",
		Member: presence.Member{ID: "0123456789ABCDEF0123456789ABCDEF", Name: "alice", Info: []byte(`{"name":"Alice"}`)}}
	b.ReportAllocs()
	for b.Loop() {
		n.Replicate(ch)
	}
}

// Publish of one event (encoded once through Event.Frame).
func BenchmarkPublish(b *testing.B) {
	n := benchNode(b)
	b.ReportAllocs()
	for b.Loop() {
		ev := &presence.Event{Kind: presence.KindPublish, Channel: "presence-lobby", Data: []byte("hello, world"),
			Member: presence.Member{ID: "0123456789ABCDEF0123456789ABCDEF", Name: "alice"}}
		n.Publish("presence-lobby", ev)
	}
}
