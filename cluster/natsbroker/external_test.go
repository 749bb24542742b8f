package natsbroker

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/rollcall/rollcall/internal/testkit"
)

// runNATS runs a plain nats-server on a loopback port (0: a random one),
// standing for an external NATS.
func runNATS(t *testing.T, port int) *server.Server {
	t.Helper()
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

func TestExternalNATSAndReconnect(t *testing.T) {
	srv := runNATS(t, 0)
	url := srv.ClientURL()
	ext := func(name string) Options {
		o := opts(name)
		o.URLs = []string{url}
		o.NATSOptions = []nats.Option{nats.ReconnectWait(20 * time.Millisecond)}
		return o
	}
	a := startNode(t, ext("a"))
	b := startNode(t, ext("b"))
	for _, n := range []*tnode{a, b} {
		testkit.Eventually(t, 5*time.Second, n.name+" ready with a peer", func() bool { return n.Ready() && alive(n.Node) == 1 })
	}
	if a.ClusterAddr() != "" {
		t.Errorf("an external node has a cluster address")
	}
	a.add("x")
	testkit.Eventually(t, 5*time.Second, "x at b", func() bool { return slices.Equal(b.f.replicaOf("a"), []string{"x"}) })
	syncs := b.f.count(isOp("sync", "a"))

	// NATS goes away and comes back on the same port.
	tcp := srv.Addr().String()
	srv.Shutdown()
	srv.WaitForShutdown()
	testkit.Eventually(t, 5*time.Second, "not ready without NATS", func() bool { return !a.Ready() && !b.Ready() })
	a.add("y") // buffered by nats.go until it reconnects
	var p int
	if _, err := fmt.Sscanf(tcp[len("127.0.0.1:"):], "%d", &p); err != nil {
		t.Fatal(err)
	}
	runNATS(t, p)
	for _, n := range []*tnode{a, b} {
		testkit.Eventually(t, 5*time.Second, n.name+" ready again", func() bool { return n.Ready() && alive(n.Node) == 1 })
	}
	testkit.Eventually(t, 5*time.Second, "x, y at b", func() bool { return slices.Equal(b.f.replicaOf("a"), []string{"x", "y"}) })
	if got := b.f.count(isOp("sync", "a")); got <= syncs {
		t.Errorf("b did not sync a again after its reconnect")
	}
	if c := b.f.count(isOp("forget", "a")); c != 0 {
		t.Errorf("a forgotten during a short outage")
	}
}

func TestSnapshotInChunks(t *testing.T) {
	t.Run("AllArrive", func(t *testing.T) { testSnapshotInChunks(t, false) })
	t.Run("OneLost", func(t *testing.T) { testSnapshotInChunks(t, true) })
}

func testSnapshotInChunks(t *testing.T, lose bool) {
	o1 := opts("n1")
	o1.Server = func(so *server.Options) { so.MaxPayload = 1024 }
	n1 := startNode(t, o1)
	const k = 400 // ~10 bytes each: 4 KB, 4 chunks or more
	var want []string
	for i := range k {
		key := fmt.Sprintf("entry-%03d", i)
		n1.add(key)
		want = append(want, key)
	}
	if got := n1.nc.MaxPayload(); got != 1024 {
		t.Fatalf("max payload %d", got)
	}
	if lose {
		n1.dropChunk.Store(1) // the first snapshot is incomplete: n2 asks again
	}
	n2 := startNode(t, opts("n2", n1.ClusterAddr()))
	testkit.Eventually(t, 10*time.Second, "n2 ready with n1", func() bool { return n2.Ready() && alive(n2.Node) == 1 })
	if got := n2.f.replicaOf("n1"); !slices.Equal(got, want) {
		t.Errorf("n2 has %d of n1's %d entries", len(got), k)
	}
	if c := n2.f.count(isOp("sync", "n1")); c != 1 {
		t.Errorf("n2 synced n1 %d times, want 1 (an incomplete snapshot is not applied)", c)
	}
	if lose && n1.dropChunk.Load() != 0 {
		t.Errorf("no chunk was dropped")
	}
}
