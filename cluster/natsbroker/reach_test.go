package natsbroker

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
)

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// freeAddr is a loopback address nothing listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestReach: a node given a live peer reaches it (its own address in the
// list is not counted); a node given a wrong address reaches none and
// says so in its log, and no more often than peerWarnEvery.
func TestReach(t *testing.T) {
	n1 := startNode(t, opts("n1"))
	if r := n1.Reach(); r != (Reach{}) {
		t.Fatalf("alone: %+v", r)
	}
	o2 := opts("n2", n1.ClusterAddr())
	o2.ClusterListen = freeAddr(t)
	_, port, _ := net.SplitHostPort(o2.ClusterListen)
	// The same list on every node: this node's own address, as given or by
	// a name of this host, is not a peer.
	o2.Peers = append(o2.Peers, o2.ClusterListen, "nats-route://localhost:"+port)
	n2 := startNode(t, o2)
	testkit.Eventually(t, 10*time.Second, "n2 reaching n1", func() bool { return n2.Reach() == Reach{Configured: 1, Reached: 1} })
	testkit.Eventually(t, 10*time.Second, "n1 reaching n2", func() bool { return n1.Reach() == Reach{Configured: 0, Reached: 1} })

	var logs syncBuffer
	o3 := opts("n3", freeAddr(t))
	o3.JoinTimeout = 100 * time.Millisecond
	o3.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	n3 := startNode(t, o3)
	testkit.Eventually(t, 10*time.Second, "a warning about the unreachable peer", func() bool {
		return strings.Contains(logs.String(), "cluster peers unreachable")
	})
	if r := n3.Reach(); r != (Reach{Configured: 1, Reached: 0}) {
		t.Fatalf("wrong peer: %+v", r)
	}
	if !strings.Contains(logs.String(), o3.Peers[0]) {
		t.Fatalf("the warning does not name the peer: %s", logs.String())
	}
	// A few ticks later there is still one warning: not one per poll.
	before := time.Now()
	testkit.Eventually(t, 10*time.Second, "some ticks", func() bool { return time.Since(before) > 5*n3.tick() })
	if c := strings.Count(logs.String(), "cluster peers unreachable"); c != 1 {
		t.Fatalf("%d warnings within %v", c, peerWarnEvery)
	}
}

// TestClusterListenBusy: a route port in use fails New at once, saying so,
// instead of waiting for a server that never starts.
func TestClusterListenBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	o := opts("busy")
	o.ClusterListen = ln.Addr().String()
	if err := o.fill(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = New(context.Background(), o)
	want := "cluster listen " + ln.Addr().String() + ": address already in use"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("busy port: %v, want %q", err, want)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}
