package natsbroker

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rollcall/rollcall/internal/testkit"
)

// countHeartbeats counts, from now on, the heartbeats of the node named
// name that reach other's NATS connection.
func countHeartbeats(t *testing.T, other *tnode, name string) *atomic.Int64 {
	t.Helper()
	var c atomic.Int64
	sub, err := other.nc.Subscribe(other.pfx+"c."+string(rune(kindHeartbeat))+"."+token(name), func(*nats.Msg) { c.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := other.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &c
}

// TestHeartbeatsDuringSlowForget: while n1's receiver takes long to forget
// a dead node (its leaves told to many sockets), n1 goes on heartbeating
// and n2 does not take n1 for dead.
func TestHeartbeatsDuringSlowForget(t *testing.T) {
	const timeout = time.Second
	nodes := cluster(t, 3, func(o *Options) { o.NodeTimeout = timeout })
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	n3.add("x")
	testkit.Eventually(t, 5*time.Second, "n3's entry at n1", func() bool { return slices.Equal(n1.f.replicaOf("n3"), []string{"x"}) })

	gate, forgetting := make(chan struct{}), make(chan struct{}, 1)
	n1.f.mu.Lock()
	n1.f.forgetGate, n1.f.forgetting = gate, forgetting
	n1.f.mu.Unlock()
	var released atomic.Bool
	release := func() {
		if released.CompareAndSwap(false, true) {
			close(gate)
		}
	}
	t.Cleanup(release)

	killServer(n3)
	select {
	case <-forgetting:
	case <-time.After(10 * time.Second):
		t.Fatal("n1 did not start forgetting n3")
	}
	// Three node timeouts' worth of n1's heartbeats reach n2 while n1's
	// Forget is held.
	beats := countHeartbeats(t, n2, "n1")
	want := int64(3 * timeout / n1.o.Heartbeat)
	testkit.Eventually(t, 20*time.Second, "n1's heartbeats while it forgets", func() bool { return beats.Load() >= want })
	if n2.f.count(isOp("forget", "n1")) != 0 {
		t.Fatal("n2 forgot n1 while n1 was busy forgetting n3")
	}
	if s, ok := status(n2.Node, "n1"); !ok || s.State != StateAlive {
		t.Fatalf("n1 at n2 while n1 forgets: %+v", s)
	}
	// n1's own failure check went on too: it has n3 dead.
	if s, ok := status(n1.Node, "n3"); !ok || s.State != StateDead {
		t.Fatalf("n3 at n1: %+v", s)
	}
	release()
	testkit.Eventually(t, 5*time.Second, "n3 forgotten at n1", func() bool { return n1.f.replicaOf("n3") == nil })
}

// TestReplicateWhileNATSStalls: with n1's publisher stalled (a socket
// that does not drain), Replicate still returns at once; the outgoing
// buffer overflows, is counted, and n2 resyncs n1 to exactly n1's entries,
// before and after the socket drains again.
func TestReplicateWhileNATSStalls(t *testing.T) {
	nodes := cluster(t, 2, func(o *Options) { o.MaxOutboxMessages = 20 })
	n1, n2 := nodes[0], nodes[1]
	n1.add("a")
	same := func() bool { return slices.Equal(n2.f.replicaOf("n1"), n1.f.ownKeys()) }
	testkit.Eventually(t, 5*time.Second, "n1's entry at n2", same)
	resyncs := n2.Counters().Resyncs

	release := n1.StallPublisher()
	t.Cleanup(release)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			n1.add(fmt.Sprintf("k%03d", i))
			if i%3 == 0 {
				n1.remove(fmt.Sprintf("k%03d", i))
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Replicate blocked while NATS could not write")
	}
	if c := n1.Counters(); c.OutboxOverflows == 0 || c.OutboxDropped == 0 {
		t.Fatalf("no overflow counted: %+v", c)
	}
	testkit.Eventually(t, 10*time.Second, "n2 resynced n1 while n1's socket stalls", func() bool {
		return same() && n2.Counters().Resyncs > resyncs
	})

	release()
	n1.add("z")
	n1.remove("a")
	testkit.Eventually(t, 10*time.Second, "n2 follows n1 after the stall", func() bool {
		return same() && slices.Contains(n2.f.replicaOf("n1"), "z")
	})
	if got := n2.f.replicaOf("n1"); len(got) != 1+100-34 {
		t.Fatalf("n1 at n2: %d entries, want %d", len(got), 1+100-34)
	}
}

// TestSubscribeRetried: a channel subscription NATS refuses is retried
// with backoff; meanwhile the node is not ready and says why, and counts
// it; once it is through, publishes to the channel arrive.
func TestSubscribeRetried(t *testing.T) {
	nodes := cluster(t, 2, nil)
	n1, n2 := nodes[0], nodes[1]
	n1.FailSubscribes(3)
	n1.Subscribe("room")
	if n1.Ready() {
		t.Fatal("ready with a failing subscription")
	}
	if r := n1.NotReadyReason(); !strings.Contains(r, "subscription failing") || !strings.Contains(r, `"room"`) {
		t.Fatalf("reason: %q", r)
	}
	if c := n1.Counters(); c.SubscribesFailing != 1 || c.SubscribeFailures == 0 {
		t.Fatalf("counters while failing: %+v", c)
	}
	testkit.Eventually(t, 10*time.Second, "n1 ready again", n1.Ready)
	if c := n1.Counters(); c.SubscribesFailing != 0 || c.SubscribeFailures != 3 {
		t.Fatalf("counters after the retries: %+v", c)
	}
	waitInterest(t, n2, "room", 1)
	n2.publish("room", []byte("hi"))
	testkit.Eventually(t, 5*time.Second, "the publish at n1", func() bool {
		_, ok := n1.f.find(func(c call) bool { return c.op == "deliver" && c.key == "room" && c.data == "hi" })
		return ok
	})
}
