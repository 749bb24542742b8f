package natsbroker

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rollcall/rollcall/internal/testkit"
)

// forge publishes a control message of kind in node's name, as a rogue
// route's client or a node holding the secret could.
func forge(t *testing.T, nc *nats.Conn, kind byte, node string, body []byte) {
	t.Helper()
	if err := nc.Publish(defaultPrefix+".c."+string(rune(kind))+"."+token(node), body); err != nil {
		t.Fatal(err)
	}
}

// TestForgedLeaveResynced: a forged leave of a healthy node makes the
// others forget its entries (nothing tells it from the truth), but its
// heartbeats bring it back: resynced, its entries back, every node ready.
func TestForgedLeaveResynced(t *testing.T) {
	ns := cluster(t, 3, nil)
	n1, n2, n3 := ns[0], ns[1], ns[2]
	n2.add("m1")
	testkit.Eventually(t, 5*time.Second, "m1 at n3", func() bool { return len(n3.f.replicaOf("n2")) == 1 })
	// n1 forges: NoEcho keeps it from hearing itself, n3 hears it.
	forge(t, n1.nc, kindLeave, "n2", appendU64(nil, n2.inc))
	testkit.Eventually(t, 5*time.Second, "n3 forgot n2", func() bool { return n3.f.count(isOp("forget", "n2")) > 0 })
	testkit.Eventually(t, 5*time.Second, "n3 resynced n2 and ready", func() bool {
		s, ok := status(n3.Node, "n2")
		return ok && s.State == StateAlive && s.Synced && n3.Ready() && len(n3.f.replicaOf("n2")) == 1
	})
}

// TestControlDropped: malformed and inconsistent control messages and
// snapshot chunks are dropped and counted, and change nothing.
func TestControlDropped(t *testing.T) {
	ns := cluster(t, 3, nil)
	n1, n2, n3 := ns[0], ns[1], ns[2]
	n2.add("m1")
	testkit.Eventually(t, 5*time.Second, "m1 at n3", func() bool { return len(n3.f.replicaOf("n2")) == 1 })
	inc2 := n2.inc
	before := n3.Counters().ControlDropped
	bad := []struct {
		kind byte
		node string
		body []byte
	}{
		{kindLeave, "n2", []byte{1, 2, 3}},                                      // short
		{kindLeave, "n2", appendU64(nil, inc2+1)},                               // another incarnation's leave
		{kindLeave, "n2", append(appendU64(nil, inc2), 0)},                      // trailing byte
		{kindLeave, "ghost", appendU64(nil, 7)},                                 // a node nobody knows
		{kindHeartbeat, "n2", appendU64(nil, 0)},                                // incarnation 0
		{kindHeartbeat, "bad name", binary.AppendUvarint(appendU64(nil, 5), 1)}, // space in the name
		{kindHeartbeat, "n3", append(appendU64(nil, n3.inc), 0, 0)},             // n3's own name and incarnation
		{kindChange, "n2", binary.AppendUvarint(appendU64(nil, inc2), 0)},       // sequence 0, no body
		{'x', "n2", appendU64(nil, inc2)},                                       // unknown kind
	}
	for _, m := range bad {
		forge(t, n1.nc, m.kind, m.node, m.body)
	}
	// A snapshot chunk that would bring in a node nobody heard.
	chunk := appendString(nil, "ghost")
	chunk = appendU64(chunk, 9)
	for _, v := range []uint64{1, 1, 0, 1, 1} { // seq, id, index, count, entries
		chunk = binary.AppendUvarint(chunk, v)
	}
	chunk = appendBytes(chunk, []byte("+fake"))
	if err := n1.nc.Publish(defaultPrefix+".s."+token("n3"), chunk); err != nil {
		t.Fatal(err)
	}
	want := before + uint64(len(bad)) + 1
	testkit.Eventually(t, 5*time.Second, "every forged message counted at n3", func() bool {
		return n3.Counters().ControlDropped >= want
	})
	if got := n3.Counters().ControlDropped; got != want {
		t.Errorf("n3 dropped %d, want %d", got-before, want-before)
	}
	if c := n3.f.count(isOp("forget", "n2")); c != 0 {
		t.Errorf("n3 forgot n2 %d times", c)
	}
	if _, ok := status(n3.Node, "ghost"); ok {
		t.Error("n3 lists a ghost node")
	}
	if got := n3.f.replicaOf("ghost"); len(got) != 0 {
		t.Errorf("n3 holds ghost entries %v", got)
	}
	if s, _ := status(n3.Node, "n2"); s.State != StateAlive || !s.Synced || !n3.Ready() {
		t.Errorf("n2 at n3: %+v, ready %v", s, n3.Ready())
	}
}

// TestRoutedServerNotRollcall: a routed nats-server whose name looks like
// a node's, but that never speaks as one, holds readiness only for a
// bounded time.
func TestRoutedServerNotRollcall(t *testing.T) {
	o := opts("n1")
	o.NodeTimeout = time.Second
	o.JoinTimeout = time.Second
	n1 := startNode(t, o)
	testkit.Eventually(t, 5*time.Second, "n1 ready alone", n1.Ready)
	r := startRogue(t, serverName("n9", 1), n1.ClusterAddr(), "", "", nil)
	testkit.Eventually(t, 5*time.Second, "the route", func() bool { return len(routedServers(r.srv)) == 1 })
	routed := time.Now()
	testkit.Eventually(t, 5*time.Second, "n1 waiting for the routed server", func() bool { return !n1.Ready() })
	testkit.Eventually(t, 10*time.Second, "n1 ready again", n1.Ready)
	t.Logf("n1 ready again %v after the route", time.Since(routed))
}
