package natsbroker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
)

// call is one call a node made into its receiver.
type call struct {
	op   string // deliver, deliverTo, apply, sync, forget
	node string // apply, sync, forget
	key  string // channel or conn
	data string // payload; sync: entries joined by ","
	at   time.Time
}

// fake is a receiver that records calls and keeps replicas. A raw change
// is "+key" (entry added) or "-key" (entry gone).
type fake struct {
	mu      sync.Mutex
	calls   []call
	own     map[string]bool
	replica map[string]map[string]bool // node -> keys
	gate    chan struct{}              // when set, entries waits for it
	// applyDelay, when set, is how long each apply works (a busy engine).
	applyDelay time.Duration
	// forgetGate, when set, makes forget signal forgetting and wait for
	// the gate (an engine telling a dead node's leaves to many sockets).
	forgetGate chan struct{}
	forgetting chan struct{}
}

func newFake() *fake {
	return &fake{own: map[string]bool{}, replica: map[string]map[string]bool{}}
}

func (f *fake) record(c call) {
	c.at = time.Now()
	f.calls = append(f.calls, c)
}

func (f *fake) deliver(channel string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "deliver", key: channel, data: string(data)})
}

func (f *fake) deliverTo(conn string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "deliverTo", key: conn, data: string(data)})
}

func (f *fake) deliverGroups(data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "deliverGroups", data: string(data)})
}

func (f *fake) applyLocked(node, c string) {
	r := f.replica[node]
	if r == nil {
		r = map[string]bool{}
		f.replica[node] = r
	}
	switch {
	case strings.HasPrefix(c, "+"):
		r[c[1:]] = true
	case strings.HasPrefix(c, "-"):
		delete(r, c[1:])
	}
}

func (f *fake) apply(node string, change []byte) {
	f.mu.Lock()
	if d := f.applyDelay; d > 0 {
		f.mu.Unlock()
		time.Sleep(d) // simulated work in the engine, not a wait
		f.mu.Lock()
	}
	defer f.mu.Unlock()
	f.record(call{op: "apply", node: node, data: string(change)})
	f.applyLocked(node, string(change))
}

func (f *fake) sync(node string, entries [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var s []string
	f.replica[node] = map[string]bool{}
	for _, e := range entries {
		s = append(s, string(e))
		f.applyLocked(node, string(e))
	}
	f.record(call{op: "sync", node: node, data: strings.Join(s, ",")})
}

func (f *fake) forget(node string) {
	f.mu.Lock()
	gate, started := f.forgetGate, f.forgetting
	f.mu.Unlock()
	if gate != nil {
		select {
		case started <- struct{}{}:
		default:
		}
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(call{op: "forget", node: node})
	delete(f.replica, node)
}

func (f *fake) entries() [][]byte {
	f.mu.Lock()
	gate := f.gate
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out [][]byte
	for k := range f.own {
		out = append(out, []byte("+"+k))
	}
	return out
}

// count returns how many recorded calls match.
func (f *fake) count(match func(call) bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if match(c) {
			n++
		}
	}
	return n
}

func (f *fake) find(match func(call) bool) (call, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.calls {
		if match(c) {
			return c, true
		}
	}
	return call{}, false
}

// ownKeys returns the node's own entries, sorted.
func (f *fake) ownKeys() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Sorted(maps.Keys(f.own))
}

func (f *fake) replicaOf(node string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var keys []string
	for k := range f.replica[node] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (f *fake) applied(node string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if c.op == "apply" && c.node == node {
			out = append(out, c.data)
		}
	}
	return out
}

func isOp(op, node string) func(call) bool {
	return func(c call) bool { return c.op == op && c.node == node }
}

// tnode is a started node and its fake receiver.
type tnode struct {
	*Node
	f *fake
}

// add and remove change the node's own entries as the engine does: the
// change is replicated while the entry's lock is held.
func (tn *tnode) add(key string) {
	tn.f.mu.Lock()
	defer tn.f.mu.Unlock()
	tn.f.own[key] = true
	tn.replicate(+1, []byte("+"+key))
}

func (tn *tnode) remove(key string) {
	tn.f.mu.Lock()
	defer tn.f.mu.Unlock()
	delete(tn.f.own, key)
	tn.replicate(-1, []byte("-"+key))
}

// replicate sends change, opaque bytes, as the node's next change.
func (tn *tnode) replicate(delta int, change []byte) {
	tn.replicateFunc(delta, func(b []byte) []byte { return append(b, change...) })
}

func testLogger() *slog.Logger {
	if os.Getenv("NATSBROKER_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// opts returns test options: loopback, random route port, a fast
// heartbeat.
func opts(name string, peers ...string) Options {
	return Options{
		Name:        name,
		Peers:       peers,
		Heartbeat:   100 * time.Millisecond,
		NodeTimeout: 2 * time.Second,
		JoinTimeout: 3 * time.Second,
		Logger:      testLogger(),
	}
}

// startNode builds and starts a node, closed at the end of the test.
func startNode(t *testing.T, o Options) *tnode {
	t.Helper()
	tn, err := tryStart(t, o)
	if err != nil {
		t.Fatalf("start %s: %v", o.Name, err)
	}
	return tn
}

func tryStart(t *testing.T, o Options) (*tnode, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := New(ctx, o)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { n.Close() })
	tn := &tnode{Node: n, f: newFake()}
	if err := n.start(tn.f); err != nil {
		return nil, err
	}
	return tn, nil
}

// cluster starts nodes n1..nk, each given n1 as its only peer, and waits
// until every one is ready and hears all the others.
func cluster(t *testing.T, k int, tweak func(*Options)) []*tnode {
	t.Helper()
	var nodes []*tnode
	for i := 1; i <= k; i++ {
		var peers []string
		if i > 1 {
			peers = []string{nodes[0].ClusterAddr()}
		}
		o := opts(fmt.Sprintf("n%d", i), peers...)
		if tweak != nil {
			tweak(&o)
		}
		nodes = append(nodes, startNode(t, o))
	}
	testkit.Eventually(t, 10*time.Second, "every node ready and hearing the others", func() bool {
		for _, n := range nodes {
			if !n.Ready() || alive(n.Node) != k-1 {
				return false
			}
		}
		return true
	})
	return nodes
}

// alive counts the other nodes n sees alive and synced.
func alive(n *Node) int {
	c := 0
	for _, s := range n.Nodes() {
		if !s.Self && s.State == StateAlive && s.Synced {
			c++
		}
	}
	return c
}

func status(n *Node, name string) (NodeStatus, bool) {
	for _, s := range n.Nodes() {
		if s.Name == name && !s.Self {
			return s, true
		}
	}
	return NodeStatus{}, false
}

// waitInterest waits until n's embedded server knows want subscriptions
// (local and remote) to the subject of channel.
func waitInterest(t *testing.T, n *tnode, channel string, want int) {
	t.Helper()
	subj := n.pfx + "p." + token(channel)
	testkit.Eventually(t, 5*time.Second, "interest in "+subj, func() bool {
		return n.srv.GlobalAccount().Interest(subj) >= want
	})
}

// killServer stops a node's embedded server abruptly: the node does not
// say it leaves, as when its process is killed.
func killServer(n *tnode) {
	n.srv.Shutdown()
	n.srv.WaitForShutdown()
}
