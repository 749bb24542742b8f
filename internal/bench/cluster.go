package bench

// `rollcall bench cluster`: three rollcall serve node processes on embedded
// NATS, on 127.0.0.1, driven by Go clients (package client) in this
// process or in generator processes. Its parts are in cluster_fanout.go,
// cluster_crash.go (with the Centrifuge comparator in cluster_centrifuge.go),
// cluster_joinstorm.go and cluster_deploy.go.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rollcall/rollcall/client"
)

// ClusterParams is one `rollcall bench cluster` invocation.
type ClusterParams struct {
	// Exe runs this binary: Exe + "serve ..." starts a node.
	Exe []string
	// Members is the crash channel's size, Runs the number of kills (each
	// on a fresh cluster), Storm the members of the join storm.
	Members, Runs, Storm int
	// Channels × Subscribers are spread over the nodes in the fanout, and
	// Publishers on n1 publish Rate times a second in all for Duration.
	Channels, Subscribers, Publishers int
	Rate                              float64
	Duration                          time.Duration
	// Timeout bounds each phase.
	Timeout time.Duration
	// Only, if set, is the one part to run: fanout, crash, joinstorm or
	// deploy.
	Only string
	// Presence are the modes the clients hear member changes in (PerEvent,
	// Diffs); each part runs once per mode, in this order. Empty: Diffs.
	Presence []string
	// Generators, if set, runs the join storm's clients in that many
	// generator processes instead of this one; Observers, if set, makes
	// only that many of them keep a view of the channel, the rest joining
	// counts-only (and implies generators).
	Generators, Observers int
	// NodeArgs are more `rollcall serve` flags for every node.
	NodeArgs []string
	// Movers are deploy's clients on the node that is stopped, and
	// DeployObservers its clients on the others; the nodes run with
	// --presence-grace Grace.
	Movers, DeployObservers int
	Grace                   time.Duration
	// LeaveTimeout is how long after a kill the leaves (and the member
	// list) are awaited.
	LeaveTimeout time.Duration
	// Comparator, if set, is the Centrifuge comparator binary
	// (bench/centrifuge): crash runs on it too, on a RedisServer started
	// for each run.
	Comparator, RedisServer string
	// JSON, if set, is a file for crash's per-run figures.
	JSON string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// RunCluster runs the parts of p and writes their tables to w.
func RunCluster(ctx context.Context, p ClusterParams, w io.Writer) error {
	if p.Log == nil {
		p.Log = io.Discard
	}
	if len(p.Presence) == 0 {
		p.Presence = []string{Diffs}
	}
	b := &cluster{p: p, log: &syncWriter{w: p.Log}}
	if p.Comparator != "" {
		fmt.Fprintf(w, "rollcall bench cluster: 3 nodes on embedded NATS, and (crash) 3 Centrifuge nodes on one redis-server, 127.0.0.1\n\n")
	} else {
		fmt.Fprintf(w, "rollcall bench cluster: 3 nodes on embedded NATS, 127.0.0.1\n\n")
	}
	for _, part := range []struct {
		name string
		run  func(context.Context, io.Writer) error
	}{{"fanout", b.fanout}, {"crash", b.crash}, {"joinstorm", b.joinstorm}, {"deploy", b.deploy}} {
		if p.Only != "" && p.Only != part.name {
			continue
		}
		if err := part.run(ctx, w); err != nil {
			return fmt.Errorf("bench cluster %s: %w", part.name, err)
		}
	}
	return nil
}

// cluster is one run of RunCluster.
type cluster struct {
	p   ClusterParams
	log io.Writer
}

// syncWriter serializes writes to w: the comparator's processes write
// their stderr into the bench's log.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// nodeAPIKey is the nodes' HTTP API key.
const nodeAPIKey = "bench"

// node is one rollcall node process of the bench.
type node struct {
	*process
	deaths atomic.Int64 // "cluster node dead" log lines
	dead   atomic.Int64 // when the last one was read, Unix ns
}

// startNodes starts k nodes n1..nk (one without a cluster when k is 1),
// each with the serve flags extra, and waits until each is ready with
// every node alive.
func (b *cluster) startNodes(ctx context.Context, k int, extra ...string) ([]*node, func(), error) {
	ports, err := freePorts(k)
	if err != nil {
		return nil, nil, err
	}
	nodes := make([]*node, 0, k)
	stop := func() {
		for _, n := range nodes {
			n.kill()
		}
	}
	for i := range k {
		name := fmt.Sprintf("n%d", i+1)
		args := append(append([]string{}, b.p.Exe...), "serve", "--addr", "127.0.0.1:0", "--api-key", nodeAPIKey, "--no-web",
			"--rate", "0", "--queue", "1000000", "--member-events", "self",
			"--max-connections", "0", "--max-connections-per-ip", "0") // thousands of connections from 127.0.0.1
		args = append(append(args, b.p.NodeArgs...), extra...)
		if k > 1 {
			var peers []string
			for j, q := range ports {
				if j != i {
					peers = append(peers, "127.0.0.1:"+strconv.Itoa(q))
				}
			}
			args = append(args, "--node", name, "--cluster-listen", "127.0.0.1:"+strconv.Itoa(ports[i]), "--cluster-peers", strings.Join(peers, ","))
		}
		n := &node{}
		n.process, err = launch(ctx, launchSpec{name: name, args: args, listening: rollcallListening, line: func(l string) {
			if strings.Contains(l, `msg="cluster node dead"`) {
				n.deaths.Add(1)
				n.dead.Store(time.Now().UnixNano())
			}
		}})
		if err != nil {
			stop()
			return nil, nil, err
		}
		nodes = append(nodes, n)
	}
	deadline := time.Now().Add(b.p.Timeout)
	for _, n := range nodes {
		if !waitFor(ctx, time.Until(deadline), func() bool { return n.ready(k) }) {
			stop()
			return nil, nil, fmt.Errorf("%s not ready", n.name)
		}
	}
	return nodes, stop, nil
}

// clientsNote is what a part's heading says of how many of its members
// hear member changes (kept, what the observers do) and where its clients
// run.
func (b *cluster) clientsNote(kept string) string {
	switch {
	case b.p.Observers > 0:
		return fmt.Sprintf("; %d of the members %s, the rest hear the count only; clients in generator processes", b.p.Observers, kept)
	case b.p.Generators > 0:
		return fmt.Sprintf("; clients in %d generator processes", b.p.Generators)
	}
	return ""
}

// generators starts p's clients, spread over nodes, in generator processes
// (`rollcall bench-worker`): b.p.Generators of them, or one per 8,000
// clients and at least two. It returns once every one has reported
// "ready" with all its clients connected, with their reports in worker
// order; the caller stops the fleet.
func (b *cluster) generators(ctx context.Context, nodes []*node, p Params) (*fleet, []*Result, error) {
	for _, nd := range nodes {
		p.Targets = append(p.Targets, "ws://"+nd.addr+"/")
	}
	p.Workers = b.p.Generators
	if p.Workers == 0 {
		p.Workers = max(2, workersFor(p))
	}
	f, err := startFleet(ctx, p, append(slices.Clone(b.p.Exe), "bench-worker"), "")
	if err != nil {
		return nil, nil, err
	}
	ready, err := f.barrier(ctx, "ready", b.p.Timeout+time.Minute)
	if r := sum(ready); err == nil && (r.Errors > 0 || r.Conns != p.Conns) {
		err = fmt.Errorf("%d of %d clients connected, %d errors (first: %s)", r.Conns, p.Conns, r.Errors, r.Sample)
	}
	if err != nil {
		f.stop()
		return nil, nil, err
	}
	return f, ready, nil
}

// get decodes the answer of the node's HTTP API at path into v.
func (n *node) get(path string, v any) error {
	req, err := http.NewRequest(http.MethodGet, "http://"+n.addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+nodeAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// ready reports whether the node is ready and, in a cluster of k, sees k
// nodes alive and synced.
func (n *node) ready(k int) bool {
	resp, err := http.Get("http://" + n.addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	if k == 1 {
		return true
	}
	var st struct {
		Nodes []struct {
			State  string `json:"state"`
			Synced bool   `json:"synced"`
		} `json:"nodes"`
	}
	if n.get("/api/stats", &st) != nil {
		return false
	}
	alive := 0
	for _, x := range st.Nodes {
		if x.State == "alive" && x.Synced {
			alive++
		}
	}
	return alive == k
}

// members asks the node for the ids of channel's members.
func (n *node) members(channel string) ([]string, error) {
	var ms []struct {
		ID string `json:"id"`
	}
	if err := n.get("/api/channels/"+channel+"/members", &ms); err != nil {
		return nil, err
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	return ids, nil
}

// count is the node's member count of channel.
func (n *node) count(channel string) (int, error) {
	var st struct {
		Members int `json:"members"`
	}
	if err := n.get("/api/channels/"+channel, &st); err != nil {
		return 0, fmt.Errorf("%s: %w", n.name, err)
	}
	return st.Members, nil
}

// counts reports whether every node counts want members in channel, and
// what they count.
func counts(nodes []*node, channel string, want int) (bool, string) {
	all := true
	var got []string
	for _, nd := range nodes {
		c, err := nd.count(channel)
		if err != nil {
			got = append(got, err.Error())
		} else {
			got = append(got, strconv.Itoa(c))
		}
		all = all && err == nil && c == want
	}
	return all, strings.Join(got, ", ")
}

// lists reports whether the node lists want members in channel.
func (n *node) lists(channel string, want int) bool {
	ids, err := n.members(channel)
	return err == nil && len(ids) == want
}

// framesOut is the frames the nodes have written to their clients so far
// (their /api/stats messages_out), skipping nodes that do not answer.
func framesOut(nodes []*node) uint64 {
	var frames uint64
	for _, nd := range nodes {
		var st struct {
			Out uint64 `json:"messages_out"`
		}
		if nd.get("/api/stats", &st) == nil {
			frames += st.Out
		}
	}
	return frames
}

// framesSettled waits until the nodes' frames written stop growing for
// quiet (the last diff window has gone out), at most d, and returns them.
func framesSettled(ctx context.Context, nodes []*node, quiet, d time.Duration) uint64 {
	last, since := framesOut(nodes), time.Now()
	waitFor(ctx, d, func() bool {
		if f := framesOut(nodes); f != last {
			last, since = f, time.Now()
		}
		return time.Since(since) >= quiet
	})
	return last
}

// dialMany connects n clients, client i to nodes[i%len(nodes)], 64 at a
// time, each built by opts(i) and hearing member changes in presence mode
// mode (PerEvent or Diffs).
func dialMany(ctx context.Context, nodes []*node, n int, mode string, opts func(i int) client.Options) ([]*client.Client, error) {
	out := make([]*client.Client, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o := opts(i)
			o.NoReconnect = true
			o.PerEvent = mode == PerEvent
			c, err := client.Dial(ctx, "ws://"+nodes[i%len(nodes)].addr+"/", o)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			out[i] = c
		})
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		closeAll(out)
		return nil, err
	}
	return out, nil
}
