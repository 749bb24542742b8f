package client

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/server"
)

// BenchmarkFullList50k times a new client's full member list of a
// 50,000-member channel: from the Dial of a client that asks for diffs,
// through its subscribe, to the last rollcall@members page applied to its
// member map, over a loopback socket. The members are held in the server
// without sockets (a process may open only so many); the list is the same
// either way.
func BenchmarkFullList50k(b *testing.B) {
	const n = 50_000
	srv, err := server.New(server.Options{MemberEvents: presence.MemberEventsSelf})
	if err != nil {
		b.Fatal(err)
	}
	url := testkit.WSURL(testkit.Serve(b, srv), "")
	eng, ctx := srv.Engine(), context.Background()
	for i := range n {
		pc := eng.Connect(fmt.Sprintf("%032X", i+1), nopSink{})
		m := &presence.Member{ID: fmt.Sprintf("member-%05d", i), Name: fmt.Sprintf("user %d", i), Info: []byte(`{"role":"viewer"}`)}
		if err := eng.SubscribeWith(ctx, pc, "big", presence.Subscription{Member: m}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		c, err := Dial(ctx, url, Options{Name: "reader", NoReconnect: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Subscribe(ctx, "big"); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(waitFor)
		for len(c.ChannelMembers("big")) < n+1 {
			if time.Now().After(deadline) {
				b.Fatalf("%d members in the map", len(c.ChannelMembers("big")))
			}
			time.Sleep(time.Millisecond)
		}
		c.Close()
	}
}
