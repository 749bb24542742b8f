package presence_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

// benchJoin connects and joins a member with a no-op sink.
func benchJoin(b *testing.B, e *presence.Engine, n int) *presence.Conn {
	b.Helper()
	c := e.Connect(sessionID(n), nopSink{})
	if err := e.Join(context.Background(), c, presence.Member{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkPublishChannel100 publishes to a channel of 100 subscribers:
// one *Event handed to 100 sinks.
func BenchmarkPublishChannel100(b *testing.B) {
	e := presence.New(presence.Options{})
	ctx := context.Background()
	var sender *presence.Conn
	for i := range 100 {
		c := benchJoin(b, e, i)
		if err := e.Subscribe(ctx, c, "room"); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			sender = c
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Publish(ctx, sender, "room", "hello"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJoinLeave joins and leaves one member of an otherwise empty
// server.
func BenchmarkJoinLeave(b *testing.B) {
	e := presence.New(presence.Options{})
	ctx := context.Background()
	c := e.Connect(sessionID(0), nopSink{})
	m := presence.Member{Name: "bench"}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Join(ctx, c, m); err != nil {
			b.Fatal(err)
		}
		if err := e.Leave(ctx, c, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSubscribeUnsubscribe subscribes and unsubscribes one member;
// the channel is created and freed each time.
func BenchmarkSubscribeUnsubscribe(b *testing.B) {
	e := presence.New(presence.Options{})
	ctx := context.Background()
	c := benchJoin(b, e, 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Subscribe(ctx, c, "room"); err != nil {
			b.Fatal(err)
		}
		if err := e.Unsubscribe(ctx, c, "room"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchGroups files 100 connections into groups: each into "g/<i%10>" and
// every fourth one also into "all".
func benchGroups(b *testing.B) *presence.Groups {
	b.Helper()
	e := presence.New(presence.Options{})
	gs := e.Groups()
	for i := range 100 {
		c := e.Connect(sessionID(i), nopSink{})
		if err := gs.Add(fmt.Sprint("g/", i%10), c); err != nil {
			b.Fatal(err)
		}
		if i%4 == 0 {
			if err := gs.Add("all", c); err != nil {
				b.Fatal(err)
			}
		}
	}
	return gs
}

// BenchmarkGroupBroadcast10 broadcasts to one group of 10 connections by
// name.
func BenchmarkGroupBroadcast10(b *testing.B) {
	g := benchGroups(b).Group("g/3")
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Broadcast("hello"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGroupBroadcastPattern100 broadcasts to every group: 11 groups
// that overlap, 100 connections reached once each.
func BenchmarkGroupBroadcastPattern100(b *testing.B) {
	gs := benchGroups(b)
	b.ReportAllocs()
	for b.Loop() {
		if n, err := gs.Broadcast("*", "hello"); err != nil || n != 100 {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkGroupAddRemove files a connection into a group of 10 and takes
// it out again.
func BenchmarkGroupAddRemove(b *testing.B) {
	gs := benchGroups(b)
	c := gs.Conns("g/3")[0]
	b.ReportAllocs()
	for b.Loop() {
		gs.Remove("g/3", c)
		if err := gs.Add("g/3", c); err != nil {
			b.Fatal(err)
		}
	}
}
