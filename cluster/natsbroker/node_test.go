package natsbroker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
)

func TestPublishReachesSubscribedNodesOnce(t *testing.T) {
	ns := cluster(t, 3, nil)
	n1, n2, n3 := ns[0], ns[1], ns[2]
	const ch = "lobby.a *>\x00 ünï"
	n1.Subscribe(ch)
	n2.Subscribe(ch)
	n2.Subscribe(ch) // twice is once
	waitInterest(t, n1, ch, 2)
	waitInterest(t, n3, ch, 2)

	n1.publish(ch, []byte("hello"))
	// A fence: n1's later messages come after "hello" wherever it went.
	n1.sendTo("n3", "FENCE", []byte("x"))
	n3.publish(ch, []byte("from n3"))
	testkit.Eventually(t, 5*time.Second, "n3's publish at n1 and n2, the fence at n3", func() bool {
		got := func(f *fake, data string) bool {
			_, ok := f.find(func(c call) bool { return c.op == "deliver" && c.data == data })
			return ok
		}
		_, fence := n3.f.find(func(c call) bool { return c.op == "deliverTo" && c.key == "FENCE" })
		return got(n1.f, "from n3") && got(n2.f, "from n3") && got(n2.f, "hello") && fence
	})
	hello := func(c call) bool { return c.op == "deliver" && c.key == ch && c.data == "hello" }
	if c := n2.f.count(hello); c != 1 {
		t.Errorf("n2 got hello %d times, want 1", c)
	}
	if c := n1.f.count(hello); c != 0 {
		t.Errorf("the publisher n1 got its own message %d times", c)
	}
	if c := n3.f.count(hello); c != 0 {
		t.Errorf("n3, not subscribed, got hello %d times", c)
	}
	// n3 publishes to a channel it does not subscribe to: not echoed to it.
	if c := n3.f.count(func(c call) bool { return c.op == "deliver" }); c != 0 {
		t.Errorf("n3 got %d deliveries", c)
	}

	// After Unsubscribe, n2 no longer gets the channel.
	n2.Unsubscribe(ch)
	testkit.Eventually(t, 5*time.Second, "n2's interest gone at n3", func() bool {
		return n3.srv.GlobalAccount().Interest(n3.pfx+"p."+token(ch)) == 1
	})
	n3.publish(ch, []byte("after"))
	n3.sendTo("n2", "FENCE", []byte("y"))
	testkit.Eventually(t, 5*time.Second, "the second publish at n1 and the fence at n2", func() bool {
		_, a := n1.f.find(func(c call) bool { return c.op == "deliver" && c.data == "after" })
		_, b := n2.f.find(func(c call) bool { return c.op == "deliverTo" && c.data == "y" })
		return a && b
	})
	if c := n2.f.count(func(c call) bool { return c.data == "after" }); c != 0 {
		t.Errorf("n2 got a message after Unsubscribe")
	}
}

func TestSendTo(t *testing.T) {
	ns := cluster(t, 3, nil)
	ns[0].sendTo("n2", "SESSION-1", []byte("for you"))
	ns[0].sendTo("n1", "SESSION-0", []byte("for me"))
	testkit.Eventually(t, 5*time.Second, "delivery", func() bool {
		_, a := ns[1].f.find(func(c call) bool { return c.op == "deliverTo" && c.key == "SESSION-1" && c.data == "for you" })
		_, b := ns[0].f.find(func(c call) bool { return c.op == "deliverTo" && c.key == "SESSION-0" && c.data == "for me" })
		return a && b
	})
	ns[0].sendTo("n3", "FENCE", nil)
	testkit.Eventually(t, 5*time.Second, "fence", func() bool {
		_, ok := ns[2].f.find(func(c call) bool { return c.key == "FENCE" })
		return ok
	})
	if c := ns[2].f.count(func(c call) bool { return c.key == "SESSION-1" }); c != 0 {
		t.Errorf("n3 got n2's message")
	}
}

func TestReplicateInOrder(t *testing.T) {
	ns := cluster(t, 3, nil)
	const k = 300
	var want []string
	for i := range k {
		key := fmt.Sprintf("c%d", i)
		ns[0].add(key)
		want = append(want, "+"+key)
		if i%3 == 0 {
			ns[0].remove(key)
			want = append(want, "-"+key)
		}
	}
	for _, n := range ns[1:] {
		testkit.Eventually(t, 10*time.Second, n.name+" applied every change", func() bool {
			return len(n.f.applied("n1")) >= len(want)
		})
		if got := n.f.applied("n1"); !slices.Equal(got, want) {
			t.Errorf("%s applied %d changes out of order or wrong", n.name, len(got))
		}
		if c := n.f.count(isOp("sync", "n1")); c != 1 {
			t.Errorf("%s synced n1 %d times, want 1 (the start)", n.name, c)
		}
	}
	testkit.Eventually(t, 5*time.Second, "entry count in the heartbeat", func() bool {
		s, _ := status(ns[1].Node, "n1")
		return s.Entries == k-k/3
	})
	if s := ns[0].Nodes()[0]; !s.Self || s.Entries != k-k/3 {
		t.Errorf("n1's own status %+v, want %d entries", s, k-k/3)
	}
}

func TestGapRepairedBySnapshot(t *testing.T) {
	ns := cluster(t, 2, nil)
	n1, n2 := ns[0], ns[1]
	n1.add("a")
	testkit.Eventually(t, 5*time.Second, "a at n2", func() bool { return slices.Equal(n2.f.replicaOf("n1"), []string{"a"}) })

	// A lost change in the middle: the next one shows the gap.
	n1.DropNextReplicate()
	n1.add("b")
	n1.add("c")
	testkit.Eventually(t, 5*time.Second, "a, b, c at n2", func() bool {
		return slices.Equal(n2.f.replicaOf("n1"), []string{"a", "b", "c"})
	})
	if got := n2.f.applied("n1"); slices.Contains(got, "+b") {
		t.Errorf("the dropped change was applied: %v", got)
	}
	if c := n2.f.count(isOp("sync", "n1")); c != 2 {
		t.Errorf("n2 synced n1 %d times, want 2 (start, gap)", c)
	}

	// A lost last change: the heartbeat's sequence shows the gap.
	n1.DropNextReplicate()
	n1.remove("a")
	testkit.Eventually(t, 5*time.Second, "b, c at n2", func() bool {
		return slices.Equal(n2.f.replicaOf("n1"), []string{"b", "c"})
	})
	if c := n2.f.count(isOp("forget", "n1")); c != 0 {
		t.Errorf("n1 forgotten %d times", c)
	}
}

func TestCloseForgottenAtOnce(t *testing.T) {
	ns := cluster(t, 3, func(o *Options) { o.NodeTimeout = 30 * time.Second })
	ns[1].add("x")
	testkit.Eventually(t, 5*time.Second, "x everywhere", func() bool {
		return len(ns[0].f.replicaOf("n2")) == 1 && len(ns[2].f.replicaOf("n2")) == 1
	})
	start := time.Now()
	ns[1].Close()
	for _, n := range []*tnode{ns[0], ns[2]} {
		testkit.Eventually(t, 2*time.Second, n.name+" forgets n2", func() bool { return n.f.count(isOp("forget", "n2")) == 1 })
		if s, _ := status(n.Node, "n2"); s.State != StateLeft {
			t.Errorf("%s sees n2 %v, want left", n.name, s.State)
		}
	}
	t.Logf("forgotten in %v", time.Since(start))
}

func TestKilledServerForgottenFast(t *testing.T) {
	ns := cluster(t, 3, func(o *Options) { o.NodeTimeout = 30 * time.Second })
	ns[1].add("x")
	testkit.Eventually(t, 5*time.Second, "x everywhere", func() bool {
		return len(ns[0].f.replicaOf("n2")) == 1 && len(ns[2].f.replicaOf("n2")) == 1
	})
	start := time.Now()
	killServer(ns[1])
	for _, n := range []*tnode{ns[0], ns[2]} {
		testkit.Eventually(t, 1500*time.Millisecond, n.name+" forgets n2", func() bool { return n.f.count(isOp("forget", "n2")) == 1 })
		if s, _ := status(n.Node, "n2"); s.State != StateDead {
			t.Errorf("%s sees n2 %v, want dead", n.name, s.State)
		}
		if r := n.f.replicaOf("n2"); len(r) != 0 {
			t.Errorf("%s still has n2's entries %v", n.name, r)
		}
	}
	t.Logf("forgotten in %v", time.Since(start))
	if ns[1].Ready() {
		t.Errorf("n2 ready without its NATS")
	}
	testkit.Eventually(t, 2*time.Second, "survivors ready", func() bool { return ns[0].Ready() && ns[2].Ready() })
}

func TestHeartbeatTimeout(t *testing.T) {
	const timeout = 800 * time.Millisecond
	ns := cluster(t, 3, func(o *Options) { o.NodeTimeout = timeout })
	n1, n2, n3 := ns[0], ns[1], ns[2]

	// n3 is slow: silent for half the timeout, then back. Not forgotten.
	n3.PauseHeartbeats(true)
	testkit.Eventually(t, 5*time.Second, "n3 silent for half the timeout", func() bool {
		s, _ := status(n1.Node, "n3")
		return time.Since(s.LastHeartbeat) > timeout/2
	})
	n3.PauseHeartbeats(false)
	paused, _ := status(n1.Node, "n3")
	testkit.Eventually(t, 5*time.Second, "n3 heard again", func() bool {
		s, _ := status(n1.Node, "n3")
		return s.LastHeartbeat.After(paused.LastHeartbeat)
	})

	// n2 stops: forgotten after the timeout, not before.
	n2.PauseHeartbeats(true)
	last, _ := status(n1.Node, "n2")
	testkit.Eventually(t, timeout+2*time.Second, "n1 forgets n2", func() bool { return n1.f.count(isOp("forget", "n2")) == 1 })
	c, _ := n1.f.find(isOp("forget", "n2"))
	if d := c.at.Sub(last.LastHeartbeat); d < timeout {
		t.Errorf("n2 forgotten %v after its last heartbeat, before the timeout %v", d, timeout)
	}
	if s, _ := status(n1.Node, "n2"); s.State != StateDead {
		t.Errorf("n2 is %v, want dead", s.State)
	}
	for _, n := range ns {
		if c := n.f.count(isOp("forget", "n3")); c != 0 {
			t.Errorf("%s forgot the slow n3", n.name)
		}
	}

	// n2 speaks again: alive, synced again.
	n2.add("back")
	n2.PauseHeartbeats(false)
	testkit.Eventually(t, 5*time.Second, "n2 back at n1", func() bool {
		s, _ := status(n1.Node, "n2")
		return s.State == StateAlive && s.Synced && slices.Equal(n1.f.replicaOf("n2"), []string{"back"})
	})
}

func TestDuplicateNameRefused(t *testing.T) {
	ns := cluster(t, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := New(ctx, opts("n1", ns[1].ClusterAddr()))
	if err == nil {
		n.Close()
		t.Fatal("a second n1 started")
	}
	if want := `node name "n1" is already in use by a live node`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errors.Is(err, ErrNameInUse) {
		t.Errorf("error %v is not ErrNameInUse", err)
	}
	// The refused node left no trace.
	if got := alive(ns[1].Node); got != 1 {
		t.Errorf("n2 sees %d nodes", got)
	}
}

func TestRestartDropsOldEntriesAtOnce(t *testing.T) {
	ns := cluster(t, 2, func(o *Options) { o.NodeTimeout = 30 * time.Second })
	n1, old := ns[0], ns[1]
	old.add("old")
	testkit.Eventually(t, 5*time.Second, "old entry at n1", func() bool { return slices.Equal(n1.f.replicaOf("n2"), []string{"old"}) })

	// The old n2 hangs: no heartbeat, no answer to "is n2 alive?". Its
	// server stays up, so nothing but the new incarnation tells n1.
	old.PauseHeartbeats(true)
	unsubscribeAlive(t, old)

	nw := startNode(t, opts("n2", n1.ClusterAddr()))
	nw.add("new")
	testkit.Eventually(t, 5*time.Second, "n1 has the new n2's entries", func() bool {
		return slices.Equal(n1.f.replicaOf("n2"), []string{"new"})
	})
	forget, _ := n1.f.find(isOp("forget", "n2"))
	var syncs []call
	for _, c := range n1.f.calls {
		if c.op == "sync" && c.node == "n2" {
			syncs = append(syncs, c)
		}
	}
	if forget.at.IsZero() || len(syncs) != 2 || forget.at.After(syncs[1].at) {
		t.Errorf("want n2 forgotten before the new incarnation's sync: forget %v, syncs %v", forget, syncs)
	}
	if s, _ := status(n1.Node, "n2"); s.Incarnation != nw.Incarnation() {
		t.Errorf("n1 sees n2 incarnation %s, want %s", s.Incarnation, nw.Incarnation())
	}

	// The old one's late goodbye does not touch the new one.
	old.Close()
	nw.add("newer")
	testkit.Eventually(t, 5*time.Second, "newer at n1", func() bool {
		return slices.Equal(n1.f.replicaOf("n2"), []string{"new", "newer"})
	})
	if c := n1.f.count(isOp("forget", "n2")); c != 1 {
		t.Errorf("n2 forgotten %d times, want 1", c)
	}
}

// unsubscribeAlive makes a node deaf to "is this name alive?".
func unsubscribeAlive(t *testing.T, n *tnode) {
	t.Helper()
	if n.aliveSub == nil {
		t.Fatal("no alive subscription")
	}
	if err := n.aliveSub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := n.nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestReadiness(t *testing.T) {
	n1 := startNode(t, opts("n1"))
	testkit.Eventually(t, 2*time.Second, "n1 alone is ready", n1.Ready)
	for i := range 50 {
		n1.add(fmt.Sprint("e", i))
	}
	// n1's snapshots wait until the gate opens.
	gate := make(chan struct{})
	n1.f.mu.Lock()
	n1.f.gate = gate
	n1.f.mu.Unlock()

	n2 := startNode(t, opts("n2", n1.ClusterAddr()))
	testkit.Eventually(t, 5*time.Second, "n2 hears n1", func() bool {
		_, ok := status(n2.Node, "n1")
		return ok
	})
	if n2.Ready() {
		t.Error("n2 ready before it synced n1")
	}
	close(gate)
	testkit.Eventually(t, 5*time.Second, "n2 ready", n2.Ready)
	if got := len(n2.f.replicaOf("n1")); got != 50 {
		t.Errorf("n2 has %d of n1's entries, want 50", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n1.WaitReady(ctx); err != nil {
		t.Error(err)
	}
	killServer(n1)
	if n1.Ready() {
		t.Error("n1 ready without its NATS")
	}
}

func TestNewNodeJoinsWholeCluster(t *testing.T) {
	// n3 is given only n2; it must reach n1 too, and n1 needs no change.
	n1 := startNode(t, opts("n1"))
	n2 := startNode(t, opts("n2", n1.ClusterAddr()))
	n3 := startNode(t, opts("n3", n2.ClusterAddr()))
	n1.add("one")
	for _, n := range []*tnode{n1, n2, n3} {
		testkit.Eventually(t, 10*time.Second, n.name+" sees two synced nodes", func() bool { return n.Ready() && alive(n.Node) == 2 })
	}
	testkit.Eventually(t, 5*time.Second, "n3 has n1's entry", func() bool { return slices.Equal(n3.f.replicaOf("n1"), []string{"one"}) })
}

// A node that joins while another changes its entries all the time ends
// with the same entries: the snapshot and the stream around it agree.
func TestJoinWhileChanging(t *testing.T) {
	n1 := startNode(t, opts("n1"))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			key := fmt.Sprint("k", i%50)
			n1.f.mu.Lock()
			has := n1.f.own[key]
			n1.f.mu.Unlock()
			if has {
				n1.remove(key)
			} else {
				n1.add(key)
			}
		}
	}()
	n2 := startNode(t, opts("n2", n1.ClusterAddr()))
	testkit.Eventually(t, 10*time.Second, "n2 ready", func() bool { return n2.Ready() && alive(n2.Node) == 1 })
	close(stop)
	<-done
	n1.f.mu.Lock()
	var want []string
	for k := range n1.f.own {
		want = append(want, k)
	}
	n1.f.mu.Unlock()
	slices.Sort(want)
	testkit.Eventually(t, 5*time.Second, "n2 has n1's entries", func() bool { return slices.Equal(n2.f.replicaOf("n1"), want) })
}

// What one node sends reaches another in the order it was sent, whatever
// the kind: a member's join (a change) comes before its publish.
func TestChangeAndPublishInOrder(t *testing.T) {
	ns := cluster(t, 2, nil)
	n1, n2 := ns[0], ns[1]
	n2.Subscribe("room")
	waitInterest(t, n1, "room", 1)
	for i := range 50 {
		n1.add(fmt.Sprint("m", i))
		n1.publish("room", []byte(fmt.Sprint("m", i)))
	}
	testkit.Eventually(t, 5*time.Second, "every publish at n2", func() bool {
		return n2.f.count(func(c call) bool { return c.op == "deliver" }) == 50
	})
	n2.f.mu.Lock()
	defer n2.f.mu.Unlock()
	seen := map[string]bool{}
	for _, c := range n2.f.calls {
		switch c.op {
		case "apply":
			seen[c.data[1:]] = true
		case "sync":
			for _, e := range strings.Split(c.data, ",") {
				if e != "" {
					seen[e[1:]] = true
				}
			}
		case "deliver":
			if !seen[c.data] {
				t.Errorf("publish %s before its change", c.data)
			}
		}
	}
}

// A killed node restarted with its name: it starts (nobody answers for the
// name), the survivor syncs the new incarnation, and the old one's last
// words are ignored.
func TestRestartAfterKill(t *testing.T) {
	ns := cluster(t, 2, func(o *Options) { o.NodeTimeout = 30 * time.Second })
	n1, old := ns[0], ns[1]
	old.add("old")
	testkit.Eventually(t, 5*time.Second, "old entry at n1", func() bool { return slices.Equal(n1.f.replicaOf("n2"), []string{"old"}) })
	killServer(old)
	testkit.Eventually(t, 2*time.Second, "n1 forgets n2", func() bool { return n1.f.count(isOp("forget", "n2")) == 1 })

	nw := startNode(t, opts("n2", n1.ClusterAddr()))
	nw.add("new")
	testkit.Eventually(t, 5*time.Second, "n1 has the new n2's entries", func() bool {
		s, _ := status(n1.Node, "n2")
		return s.Incarnation == nw.Incarnation() && s.State == StateAlive && slices.Equal(n1.f.replicaOf("n2"), []string{"new"})
	})
	old.Close()
	testkit.Eventually(t, 5*time.Second, "both ready", func() bool { return n1.Ready() && nw.Ready() })
	if c := n1.f.count(isOp("forget", "n2")); c != 1 {
		t.Errorf("n2 forgotten %d times, want 1", c)
	}
}

// TestBusyDispatcherNoFalseDeath: a node whose dispatcher is behind by
// longer than the node timeout (a burst of changes, each slow to apply in
// the engine) does not forget the nodes whose heartbeats queue up behind
// them: heartbeats are noted as they arrive.
func TestBusyDispatcherNoFalseDeath(t *testing.T) {
	const timeout = 600 * time.Millisecond
	ns := cluster(t, 2, func(o *Options) { o.Heartbeat = 100 * time.Millisecond; o.NodeTimeout = timeout })
	n1, n2 := ns[0], ns[1]
	n2.f.mu.Lock()
	n2.f.applyDelay = 20 * time.Millisecond // a busy engine
	n2.f.mu.Unlock()
	const burst = 80 // 1.6 s of work at n2, behind which n1's heartbeats wait
	for i := range burst {
		n1.add(fmt.Sprint("e", i))
	}
	testkit.Eventually(t, 10*time.Second, "n2 applied the burst", func() bool { return len(n2.f.replicaOf("n1")) == burst })
	if c := n2.f.count(isOp("forget", "n1")); c != 0 {
		t.Errorf("n2 forgot n1 %d times while its dispatcher was behind", c)
	}
}
