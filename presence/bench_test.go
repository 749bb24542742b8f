package presence_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
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

// countSink counts the events delivered to it.
type countSink struct{ n *atomic.Int64 }

func (s countSink) Deliver(*presence.Event) { s.n.Add(1) }

// BenchmarkJoinStorm2000 joins 2,000 members to one channel from 8
// goroutines at once, every member a subscriber, with per-event delivery
// or diffs, and reports the events delivered per storm (events/op): what
// a protocol would write as frames. (MemberEventsSelf: the channel's
// events alone.)
func BenchmarkJoinStorm2000(b *testing.B) {
	for _, diffs := range []bool{false, true} {
		name := "events"
		if diffs {
			name = "diffs"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			var delivered atomic.Int64
			for b.Loop() {
				e := presence.New(presence.Options{MemberEvents: presence.MemberEventsSelf})
				conns := make([]*presence.Conn, 2000)
				for i := range conns {
					conns[i] = e.Connect(sessionID(i), countSink{&delivered})
					if diffs {
						if err := conns[i].UseDiffs(); err != nil {
							b.Fatal(err)
						}
					}
					if err := e.Join(ctx, conns[i], presence.Member{}); err != nil {
						b.Fatal(err)
					}
				}
				var wg sync.WaitGroup
				for g := range 8 {
					wg.Go(func() {
						for i := g; i < len(conns); i += 8 {
							if err := e.Subscribe(ctx, conns[i], "storm"); err != nil {
								b.Error(err)
							}
						}
					})
				}
				wg.Wait()
				for _, c := range conns {
					e.Disconnect(c)
				}
			}
			b.ReportMetric(float64(delivered.Load())/float64(b.N), "events/op")
		})
	}
}

// BenchmarkForgetNode: a node holding 10,000 of a 30,000-member channel
// dies; the survivor removes its entries (one diff subscriber watching).
func BenchmarkForgetNode(b *testing.B) {
	e := presence.New(presence.Options{})
	obs := e.Connect("obs", nopSink{})
	if err := obs.UseDiffs(); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := e.Join(ctx, obs, presence.Member{}); err != nil {
		b.Fatal(err)
	}
	if err := e.Subscribe(ctx, obs, "room"); err != nil {
		b.Fatal(err)
	}
	r := e.Receiver()
	add := func(node string, from, to int) {
		for n := from; n < to; n++ {
			m := presence.Member{ID: fmt.Sprint("m", n)}
			r.Apply(node, presence.Change{Op: presence.OpAdd, Conn: fmt.Sprint("c", n), Channel: "room", Member: m})
		}
	}
	// The dead node's members arrived among the others.
	for k := range 10 {
		add("live", k*3000, k*3000+2000)
		add("dead", k*3000+2000, k*3000+3000)
	}
	for b.Loop() {
		r.Forget("dead")
		b.StopTimer()
		for k := range 10 {
			add("dead", k*3000+2000, k*3000+3000)
		}
		b.StartTimer()
	}
	e.Disconnect(obs)
}
