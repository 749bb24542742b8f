package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/internal/bench"
)

const benchClusterUsage = `usage: rollcall bench cluster [flags]

Three rollcall serve node processes on embedded NATS, on 127.0.0.1, with
--member-events self, driven by Go clients (package client) in this process:

  fanout     publishers on n1, subscribers spread over n1..n3; the same on one
             node beside it: delivered msg/s, latency p50/p99/max, loss
  crash      a --members channel spread over the nodes, kill -9 of one node,
             --runs times (a fresh cluster each): time from the kill to the last
             leave at each surviving subscriber (p50/p99/max; leaves awaited up
             to --leave-timeout), missing and extra leaves, false leaves before
             the kill, and the time until a survivor's member list no longer
             names the killed node's members
  joinstorm  --storm members join one channel at once, spread over the nodes:
             time until every node lists them all, frames written

With --comparator BIN (bench/centrifuge, built), crash also runs on three
Centrifuge nodes (BIN --redis ... --node cN) on Centrifuge's Redis broker and
Redis presence manager, on a redis-server (--redis-server, Debian's
redis-server) that the bench starts on 127.0.0.1 for each run (random port,
--save '', --appendonly no, in a temp dir) and stops after it. The clients
speak Centrifuge's JSON protocol (internal/bench). The runs alternate, and a
second table gives each figure's median over the runs side by side with the
ratio rollcall / centrifuge.

`

type benchClusterParams struct {
	members, runs, storm  int
	channels, subs, pubs  int
	rate                  float64
	duration, convergeMax time.Duration
	only                  string
	// crash
	leaveTimeout                     time.Duration
	comparator, redisServer, jsonOut string
}

func runBenchCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	p := benchClusterParams{}
	fs := flag.NewFlagSet("rollcall bench cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchClusterUsage, "Flags:\n"); fs.PrintDefaults() }
	fs.IntVar(&p.members, "members", 3000, "crash: members of the channel")
	fs.IntVar(&p.runs, "runs", 10, "crash: kills, each on a fresh cluster")
	fs.IntVar(&p.storm, "storm", 2000, "joinstorm: members")
	fs.IntVar(&p.channels, "channels", 10, "fanout: channels")
	fs.IntVar(&p.subs, "subscribers", 30, "fanout: subscribers per channel")
	fs.IntVar(&p.pubs, "publishers", 10, "fanout: publishers (on n1)")
	fs.Float64Var(&p.rate, "rate", 500, "fanout: publishes per second in all")
	fs.DurationVar(&p.duration, "duration", 5*time.Second, "fanout: length")
	fs.DurationVar(&p.convergeMax, "timeout", time.Minute, "bound on each phase")
	fs.StringVar(&p.only, "only", "", "run only this part: fanout, crash or joinstorm")
	fs.DurationVar(&p.leaveTimeout, "leave-timeout", 2*time.Minute, "crash: how long after the kill to await the leaves (and the member list), each run")
	fs.StringVar(&p.comparator, "comparator", "", "crash: also run the Centrifuge comparator binary (built from bench/centrifuge) on Redis")
	fs.StringVar(&p.redisServer, "redis-server", "redis-server", "crash with --comparator: the redis-server binary to start")
	fs.StringVar(&p.jsonOut, "json", "", "crash: also write its per-run figures as JSON to this file")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if p.runs < 1 || p.members < 3 {
		return usageError{"bench cluster: --runs must be at least 1 and --members at least 3"}
	}
	b := &benchCluster{exe: exe, p: p, log: &syncWriter{w: stderr}}
	if p.comparator != "" {
		fmt.Fprintf(stdout, "rollcall bench cluster: 3 nodes on embedded NATS, and (crash) 3 Centrifuge nodes on one redis-server, 127.0.0.1\n\n")
	} else {
		fmt.Fprintf(stdout, "rollcall bench cluster: 3 nodes on embedded NATS, 127.0.0.1\n\n")
	}
	if p.only == "" || p.only == "fanout" {
		if err := b.fanout(ctx, stdout); err != nil {
			return fmt.Errorf("bench cluster fanout: %w", err)
		}
	}
	if p.only == "" || p.only == "crash" {
		if err := b.crash(ctx, stdout); err != nil {
			return fmt.Errorf("bench cluster crash: %w", err)
		}
	}
	if p.only == "" || p.only == "joinstorm" {
		if err := b.joinstorm(ctx, stdout); err != nil {
			return fmt.Errorf("bench cluster joinstorm: %w", err)
		}
	}
	return nil
}

type benchCluster struct {
	exe string
	p   benchClusterParams
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

// bnode is one node process of the bench.
type bnode struct {
	name   string
	addr   string
	cmd    *exec.Cmd
	done   chan struct{}
	deaths atomic.Int64 // "cluster node dead" log lines
	dead   atomic.Int64 // when the last one was read, Unix ns
}

var benchDeadRe = regexp.MustCompile(`msg="cluster node dead"`)

var benchListenRe = regexp.MustCompile(`msg="rollcall listening" addr=(\S+)`)

func benchPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startNodes starts k nodes (one without a cluster when k is 1) and waits
// until each is ready with every node alive.
func (b *benchCluster) startNodes(ctx context.Context, k int) ([]*bnode, func(), error) {
	ports := make([]int, k)
	for i := range ports {
		var err error
		if ports[i], err = benchPort(); err != nil {
			return nil, nil, err
		}
	}
	nodes := make([]*bnode, k)
	stop := func() {
		for _, n := range nodes {
			if n != nil && n.cmd != nil {
				select {
				case <-n.done:
				default:
					_ = n.cmd.Process.Kill()
					<-n.done
				}
			}
		}
	}
	errs := make(chan error, k)
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		args := []string{"serve", "--addr", "127.0.0.1:0", "--api-key", clusterAPIKeyBench, "--no-web", "--rate", "0",
			"--queue", "1000000", "--member-events", "self", "--max-connections", "0", "--max-connections-per-ip", "0"}
		if k > 1 {
			var peers []string
			for j, q := range ports {
				if j != i {
					peers = append(peers, "127.0.0.1:"+strconv.Itoa(q))
				}
			}
			args = append(args, "--node", name, "--cluster-listen", "127.0.0.1:"+strconv.Itoa(ports[i]), "--cluster-peers", strings.Join(peers, ","))
		}
		cmd := exec.Command(b.exe, args...)
		pr, pw := io.Pipe()
		cmd.Stderr = pw
		if err := cmd.Start(); err != nil {
			stop()
			return nil, nil, err
		}
		n := &bnode{name: name, cmd: cmd, done: make(chan struct{})}
		nodes[i] = n
		go func() { _ = cmd.Wait(); pw.Close(); close(n.done) }()
		go func() {
			sc := bufio.NewScanner(pr)
			found := false
			for sc.Scan() {
				if benchDeadRe.MatchString(sc.Text()) {
					n.deaths.Add(1)
					n.dead.Store(time.Now().UnixNano())
				}
				if m := benchListenRe.FindStringSubmatch(sc.Text()); m != nil && !found {
					n.addr, found = m[1], true
					errs <- nil
				}
			}
			if !found {
				errs <- fmt.Errorf("%s did not start", name)
			}
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			stop()
			return nil, nil, err
		}
	}
	deadline := time.Now().Add(b.p.convergeMax)
	for _, n := range nodes {
		for !benchReady(n, k) {
			if time.Now().After(deadline) || ctx.Err() != nil {
				stop()
				return nil, nil, fmt.Errorf("%s not ready", n.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nodes, stop, nil
}

const clusterAPIKeyBench = "bench"

func benchGet(n *bnode, path string, v any) error {
	req, _ := http.NewRequest("GET", "http://"+n.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+clusterAPIKeyBench)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func benchReady(n *bnode, k int) bool {
	resp, err := http.Get("http://" + n.addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
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
	if benchGet(n, "/api/stats", &st) != nil {
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

// dialMany connects n clients, client i to nodes[i%len(nodes)], 64 at a
// time, each built by opts(i).
func dialMany(ctx context.Context, nodes []*bnode, n int, opts func(i int) client.Options) ([]*client.Client, error) {
	out := make([]*client.Client, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o := opts(i)
			o.NoReconnect = true
			c, err := client.Dial(ctx, "ws://"+nodes[i%len(nodes)].addr+"/", o)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			out[i] = c
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		closeAll(out)
		return nil, err
	}
	return out, nil
}

func closeAll(cs []*client.Client) {
	var wg sync.WaitGroup
	for _, c := range cs {
		if c != nil {
			wg.Add(1)
			go func() { defer wg.Done(); _ = c.Close() }()
		}
	}
	wg.Wait()
}

func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// fanout: publishers on n1, subscribers spread; then the same on one node.
func (b *benchCluster) fanout(ctx context.Context, w io.Writer) error {
	fmt.Fprintf(w, "fanout: %d channels × %d subscribers, %d publishers on n1, %.0f publishes/s for %v\n\n",
		b.p.channels, b.p.subs, b.p.pubs, b.p.rate, b.p.duration)
	fmt.Fprintln(w, "| setup | delivered msg/s | p50 | p99 | max | lost | duplicates |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, k := range []int{1, 3} {
		r, err := b.fanoutOn(ctx, k)
		if err != nil {
			return err
		}
		setup := "one node"
		if k == 3 {
			setup = "3 nodes (publishers on n1)"
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %d | %d |\n", setup, r.rate, ms(r.p50), ms(r.p99), ms(r.max), r.lost, r.dups)
	}
	fmt.Fprintln(w)
	return nil
}

type fanoutResult struct {
	rate          float64
	p50, p99, max time.Duration
	lost, dups    int64
}

func (b *benchCluster) fanoutOn(ctx context.Context, k int) (fanoutResult, error) {
	var res fanoutResult
	nodes, stop, err := b.startNodes(ctx, k)
	if err != nil {
		return res, err
	}
	defer stop()
	nsubs := b.p.channels * b.p.subs
	var mu sync.Mutex
	var lat []time.Duration
	seen := make([]map[string]bool, nsubs)
	var delivered, dups atomic.Int64
	subs, err := dialMany(ctx, nodes, nsubs, func(i int) client.Options {
		seen[i] = map[string]bool{}
		return client.Options{Name: "s" + strconv.Itoa(i), OnPublishMsg: func(text, _ string, _ client.Member) {
			at, key, ok := strings.Cut(text, " ")
			ns, err := strconv.ParseInt(at, 10, 64)
			if !ok || err != nil {
				return
			}
			d := time.Since(time.Unix(0, ns))
			mu.Lock()
			if seen[i][key] {
				dups.Add(1)
			} else {
				seen[i][key] = true
				lat = append(lat, d)
				delivered.Add(1)
			}
			mu.Unlock()
		}}
	})
	if err != nil {
		return res, err
	}
	defer closeAll(subs)
	for i, c := range subs {
		if err := c.Subscribe(ctx, "ch"+strconv.Itoa(i%b.p.channels)); err != nil {
			return res, err
		}
	}
	// Wait until n1 lists every subscriber (the others' replicas are in).
	deadline := time.Now().Add(b.p.convergeMax)
	for {
		var chs []struct {
			Members int `json:"members"`
		}
		if benchGet(nodes[0], "/api/channels", &chs) == nil {
			total := 0
			for _, c := range chs {
				total += c.Members
			}
			if total == nsubs {
				break
			}
		}
		if time.Now().After(deadline) {
			return res, errors.New("subscribers not replicated in time")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pubs, err := dialMany(ctx, nodes[:1], b.p.pubs, func(i int) client.Options { return client.Options{Name: "p" + strconv.Itoa(i)} })
	if err != nil {
		return res, err
	}
	defer closeAll(pubs)
	for _, c := range pubs { // sgc publishes to channels one is in
		for ch := range b.p.channels {
			if err := c.Subscribe(ctx, "ch"+strconv.Itoa(ch)); err != nil {
				return res, err
			}
		}
	}
	per := b.p.rate / float64(b.p.pubs)
	var sent atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(b.p.duration)
	start := time.Now()
	for i, c := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := time.NewTicker(time.Duration(float64(time.Second) / per))
			defer tk.Stop()
			for seq := 0; time.Now().Before(end); seq++ {
				<-tk.C
				ch := "ch" + strconv.Itoa((i+seq)%b.p.channels)
				text := strconv.FormatInt(time.Now().UnixNano(), 10) + " " + strconv.Itoa(i) + "." + strconv.Itoa(seq)
				if c.Publish(ctx, ch, text) == nil {
					sent.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	want := sent.Load() * int64(b.p.subs)
	drain := time.Now().Add(5 * time.Second)
	for delivered.Load() < want && time.Now().Before(drain) {
		time.Sleep(10 * time.Millisecond)
	}
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	res.rate = float64(delivered.Load()) / elapsed.Seconds()
	res.p50, res.p99, res.max = quantile(lat, 0.5), quantile(lat, 0.99), quantile(lat, 1)
	res.lost = want - delivered.Load()
	res.dups = dups.Load()
	return res, nil
}

// crash: a channel spread over the nodes, kill -9 of one, runs times;
// with --comparator the same on three Centrifuge nodes on one Redis,
// alternating runs, and a table of both with the ratio.
func (b *benchCluster) crash(ctx context.Context, w io.Writer) error {
	fmt.Fprintf(w, "crash: a %d-member channel over 3 nodes, kill -9 of one, %d runs (a fresh cluster each), leaves awaited up to %v a run\n\n", b.p.members, b.p.runs, b.p.leaveTimeout)
	servers := []string{"rollcall"}
	if b.p.comparator != "" {
		servers = append(servers, "centrifuge")
	}
	rep := &bench.Report{Scenario: "cluster crash", Started: time.Now()}
	pooled := map[string]*crashTally{}
	for run := range b.p.runs {
		for _, server := range servers {
			var t crashTally
			var err error
			if server == "rollcall" {
				t, err = b.crashOnce(ctx, run%3)
			} else {
				t, err = b.crashOnceCentrifuge(ctx, run%3)
			}
			if err != nil {
				return fmt.Errorf("%s run %d: %w", server, run+1, err)
			}
			fmt.Fprintf(b.log, "crash %s run %d: %s\n", server, run+1, t.summary())
			rep.Outcomes = append(rep.Outcomes, t.outcome(server, run+1, b.p.leaveTimeout))
			if pooled[server] == nil {
				pooled[server] = &crashTally{}
			}
			pooled[server].add(t)
		}
	}
	fmt.Fprintln(w, "| time to the last leave at each surviving subscriber | p50 | p99 | max | subscribers | with every leave | missing leaves | extra leaves | false leaves before the kill | member list without the dead node's members (median of runs) |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, server := range servers {
		t := pooled[server]
		p50, p99, pmax := "no subscriber with every leave within "+b.p.leaveTimeout.String(), "–", "–"
		if len(t.lat) > 0 {
			p50, p99, pmax = ms(quantile(t.lat, .5)), ms(quantile(t.lat, .99)), ms(quantile(t.lat, 1))
		}
		listed := "not within " + b.p.leaveTimeout.String()
		if v, ok := rep.Median(server, figListed); ok {
			listed = ms(time.Duration(v * float64(time.Millisecond)))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %d | %d | %d | %d | %s |\n", crashSetup[server], p50, p99, pmax,
			t.subscribers, t.complete, t.missing, t.extra, t.falseLeaves, listed)
	}
	fmt.Fprintln(w)
	if len(servers) > 1 {
		fmt.Fprintf(w, "per run, median of the %d runs:\n\n", b.p.runs)
		if err := rep.WriteTable(w); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if b.p.jsonOut != "" {
		f, err := os.Create(b.p.jsonOut)
		if err != nil {
			return err
		}
		if err := rep.WriteJSON(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

var crashSetup = map[string]string{
	"rollcall":   "rollcall, embedded NATS",
	"centrifuge": "centrifuge, Redis broker and presence",
}

// Names of the crash figures.
const (
	figLeaveP50   = "last leave p50"
	figLeaveP99   = "last leave p99"
	figLeaveMax   = "last leave max"
	figSubs       = "surviving subscribers"
	figComplete   = "subscribers with every leave"
	figMissing    = "missing leaves"
	figExtra      = "extra leaves"
	figFalse      = "false leaves before the kill"
	figListed     = "member list without the dead node's members"
	crashPollStep = 100 * time.Millisecond
)

// crashTally is what a crash run measured.
type crashTally struct {
	// lat is, for each surviving subscriber that got a leave of every
	// member of the killed node, the time from the kill to the last one.
	lat []time.Duration
	// subscribers survived; complete got every leave; missing leaves were
	// never received, extra ones twice or of members that did not leave;
	// falseLeaves arrived before the kill.
	subscribers, complete, missing, extra, falseLeaves int
	// listed is the time from the kill until a survivor's member list (polled
	// every crashPollStep) no longer named the killed node's members; -1:
	// not within the timeout.
	listed time.Duration
}

func (t crashTally) summary() string {
	s := fmt.Sprintf("%d of %d subscribers with every leave", t.complete, t.subscribers)
	if len(t.lat) > 0 {
		s += fmt.Sprintf(", p50 %s, max %s", ms(quantile(t.lat, .5)), ms(quantile(t.lat, 1)))
	}
	s += fmt.Sprintf(", missing %d, extra %d, false %d", t.missing, t.extra, t.falseLeaves)
	if t.listed >= 0 {
		s += ", member list without them after " + ms(t.listed)
	} else {
		s += ", member list still with them"
	}
	return s
}

// add pools u into t (listed is not pooled).
func (t *crashTally) add(u crashTally) {
	t.lat = append(t.lat, u.lat...)
	t.subscribers += u.subscribers
	t.complete += u.complete
	t.missing += u.missing
	t.extra += u.extra
	t.falseLeaves += u.falseLeaves
}

// outcome is t as one run of the report; figures that were not measured
// (no subscriber got every leave, the list kept them) are left out and
// said in a note.
func (t crashTally) outcome(server string, run int, timeout time.Duration) bench.Outcome {
	o := bench.Outcome{Server: server, Run: run}
	fig := func(name, unit string, v float64, better string) {
		o.Figures = append(o.Figures, bench.Figure{Name: name, Unit: unit, Value: v, Better: better})
	}
	msf := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	if len(t.lat) > 0 {
		fig(figLeaveP50, "ms", msf(quantile(t.lat, .5)), "lower")
		fig(figLeaveP99, "ms", msf(quantile(t.lat, .99)), "lower")
		fig(figLeaveMax, "ms", msf(quantile(t.lat, 1)), "lower")
	}
	fig(figSubs, "", float64(t.subscribers), "")
	fig(figComplete, "", float64(t.complete), "higher")
	fig(figMissing, "", float64(t.missing), "lower")
	fig(figExtra, "", float64(t.extra), "lower")
	fig(figFalse, "", float64(t.falseLeaves), "lower")
	if t.listed >= 0 {
		fig(figListed, "ms", msf(t.listed), "lower")
	} else {
		o.Notes = append(o.Notes, fmt.Sprintf("the member list still named the killed node's members %v after the kill", timeout))
	}
	switch {
	case t.complete == 0 && t.subscribers > 0:
		o.Notes = append(o.Notes, fmt.Sprintf("no surviving subscriber got every leave within %v (%d leaves missing)", timeout, t.missing))
	case t.complete < t.subscribers:
		o.Notes = append(o.Notes, fmt.Sprintf("%d of %d surviving subscribers got every leave within %v; the percentiles are theirs", t.complete, t.subscribers, timeout))
	}
	return o
}

// leaveView is what one surviving subscriber saw of the leaves.
type leaveView struct {
	mu     sync.Mutex
	leaves map[string]int // member id → leaves received
	last   time.Time
}

func newLeaveView() *leaveView { return &leaveView{leaves: map[string]int{}} }

func (v *leaveView) leave(id string, at time.Time) {
	v.mu.Lock()
	v.leaves[id]++
	v.last = at
	v.mu.Unlock()
}

// got is how many of victims v has seen leave.
func (v *leaveView) got(victims []string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, id := range victims {
		if v.leaves[id] > 0 {
			n++
		}
	}
	return n
}

// awaitLeaves waits until every view has seen every victim leave, or
// until deadline.
func awaitLeaves(ctx context.Context, views []*leaveView, victims []string, deadline time.Time) {
	for _, v := range views {
		for v.got(victims) < len(victims) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// tallyLeaves counts what the surviving subscribers' views hold, the
// times from t0.
func tallyLeaves(views []*leaveView, victims []string, t0 time.Time, falseLeaves int) crashTally {
	t := crashTally{subscribers: len(views), falseLeaves: falseLeaves, listed: -1}
	isVictim := make(map[string]bool, len(victims))
	for _, id := range victims {
		isVictim[id] = true
	}
	for _, v := range views {
		v.mu.Lock()
		missing := 0
		for _, id := range victims {
			switch c := v.leaves[id]; {
			case c == 0:
				missing++
			case c > 1:
				t.extra += c - 1
			}
		}
		for id, c := range v.leaves {
			if !isVictim[id] {
				t.extra += c
			}
		}
		t.missing += missing
		if missing == 0 {
			t.complete++
			t.lat = append(t.lat, v.last.Sub(t0))
		}
		v.mu.Unlock()
	}
	return t
}

// pollListed calls list every crashPollStep until it reports the killed
// node's members gone, or until deadline, and returns the time from t0
// (-1: not within the deadline).
func pollListed(ctx context.Context, t0, deadline time.Time, list func() bool) time.Duration {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if list() {
			return time.Since(t0)
		}
		time.Sleep(crashPollStep)
	}
	return -1
}

func (b *benchCluster) crashOnce(ctx context.Context, victim int) (crashTally, error) {
	nodes, stop, err := b.startNodes(ctx, 3)
	if err != nil {
		return crashTally{}, err
	}
	defer stop()
	n := b.p.members
	views := make([]*leaveView, n)
	var killed atomic.Bool
	var falseCount atomic.Int64
	clients, err := dialMany(ctx, nodes, n, func(i int) client.Options {
		v := newLeaveView()
		views[i] = v
		return client.Options{Name: "m" + strconv.Itoa(i), OnRemoveChannelMember: func(_ string, m client.Member) {
			now := time.Now()
			if !killed.Load() {
				falseCount.Add(1)
			}
			v.leave(m.ID, now)
		}}
	})
	if err != nil {
		return crashTally{}, err
	}
	defer closeAll(clients)
	for _, c := range clients {
		if err := c.Subscribe(ctx, "room"); err != nil {
			return crashTally{}, err
		}
	}
	deadline := time.Now().Add(b.p.convergeMax)
	for _, nd := range nodes {
		for {
			var ms []json.RawMessage
			if benchGet(nd, "/api/channels/room/members", &ms) == nil && len(ms) == n {
				break
			}
			if time.Now().After(deadline) {
				return crashTally{}, errors.New("channel not replicated in time")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var victims []string
	var survivors []*leaveView
	for i, c := range clients {
		if i%3 == victim {
			victims = append(victims, c.Member().ID)
		} else {
			survivors = append(survivors, views[i])
		}
	}
	for _, nd := range nodes {
		if d := nd.deaths.Load(); d > 0 {
			fmt.Fprintf(b.log, "crash: %s declared a node dead %d times before the kill\n", nd.name, d)
		}
	}
	witness := nodes[(victim+1)%3]
	killed.Store(true)
	t0 := time.Now()
	_ = nodes[victim].cmd.Process.Kill()
	wait := t0.Add(b.p.leaveTimeout)
	listed := make(chan time.Duration, 1)
	go func() {
		listed <- pollListed(ctx, t0, wait, func() bool {
			var ms []struct {
				ID string `json:"id"`
			}
			if benchGet(witness, "/api/channels/room/members", &ms) != nil || len(ms) != n-len(victims) {
				return false
			}
			return !slices.ContainsFunc(ms, func(m struct {
				ID string `json:"id"`
			}) bool {
				return slices.Contains(victims, m.ID)
			})
		})
	}()
	awaitLeaves(ctx, survivors, victims, wait)
	for i, nd := range nodes {
		if i != victim {
			if at := nd.dead.Load(); at > t0.UnixNano() {
				fmt.Fprintf(b.log, "crash: %s saw the kill after %s\n", nd.name, ms(time.Duration(at-t0.UnixNano())))
			}
		}
	}
	t := tallyLeaves(survivors, victims, t0, int(falseCount.Load()))
	t.listed = <-listed
	return t, nil
}

// joinstorm: storm members join one channel at once, spread over the
// nodes; the time until every node lists them all.
func (b *benchCluster) joinstorm(ctx context.Context, w io.Writer) error {
	nodes, stop, err := b.startNodes(ctx, 3)
	if err != nil {
		return err
	}
	defer stop()
	n := b.p.storm
	start := time.Now()
	clients, err := dialMany(ctx, nodes, n, func(i int) client.Options { return client.Options{Name: "j" + strconv.Itoa(i)} })
	if err != nil {
		return err
	}
	defer closeAll(clients)
	connected := time.Since(start)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	subStart := time.Now()
	for _, c := range clients {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = c.Subscribe(ctx, "storm")
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(b.p.convergeMax)
	for _, nd := range nodes {
		for {
			var ms []json.RawMessage
			if benchGet(nd, "/api/channels/storm/members", &ms) == nil && len(ms) == n {
				break
			}
			if time.Now().After(deadline) {
				return errors.New("join storm did not converge in time")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	converged := time.Since(subStart)
	var frames uint64
	for _, nd := range nodes {
		var st struct {
			Out uint64 `json:"messages_out"`
		}
		if benchGet(nd, "/api/stats", &st) == nil {
			frames += st.Out
		}
	}
	fmt.Fprintf(w, "joinstorm: %d members over 3 nodes\n\n", n)
	fmt.Fprintln(w, "| connect and join | subscribe storm until every node lists all | frames written (all nodes) |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	fmt.Fprintf(w, "| %s | %s | %d |\n\n", ms(connected), ms(converged), frames)
	return nil
}
