package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rollcall/rollcall/client"
)

// crashServer is one setup of the crash table: rollcall in one presence
// mode, or the comparator.
type crashServer struct {
	key   string // its runs in the report
	setup string // its name in the table
	mode  string // rollcall's presence mode; "" for the comparator
}

// crashServers are the setups of b's crash runs: rollcall once per
// presence mode ("rollcall" in the report when there is one mode,
// "rollcall-MODE" otherwise), then the comparator if any.
func (b *cluster) crashServers() []crashServer {
	var out []crashServer
	for _, mode := range b.p.Presence {
		key := "rollcall"
		if len(b.p.Presence) > 1 {
			key += "-" + mode
		}
		out = append(out, crashServer{key: key, setup: "rollcall, embedded NATS, " + mode, mode: mode})
	}
	if b.p.Comparator != "" {
		out = append(out, crashServer{key: "centrifuge", setup: "centrifuge, Redis broker and presence"})
	}
	return out
}

// crash: a channel spread over the nodes, kill -9 of one, runs times;
// with a comparator the same on three Centrifuge nodes on one Redis,
// alternating runs, and a table of both with the ratio.
func (b *cluster) crash(ctx context.Context, w io.Writer) error {
	fmt.Fprintf(w, "crash: a %d-member channel over 3 nodes, kill -9 of one, %d runs (a fresh cluster each), leaves awaited up to %v a run%s\n\n",
		b.p.Members, b.p.Runs, b.p.LeaveTimeout, b.clientsNote("are subscribers that hear member changes"))
	servers := b.crashServers()
	rep := &Report{Scenario: "cluster crash", Started: time.Now()}
	pooled := map[string]*crashTally{}
	for run := range b.p.Runs {
		for _, sv := range servers {
			var t *crashTally
			var err error
			if sv.mode != "" {
				t, err = b.crashOnce(ctx, run%3, sv.mode)
			} else {
				t, err = b.crashOnceCentrifuge(ctx, run%3)
			}
			if err != nil {
				return fmt.Errorf("%s run %d: %w", sv.setup, run+1, err)
			}
			fmt.Fprintf(b.log, "crash %s run %d: %s\n", sv.setup, run+1, t.summary())
			rep.Outcomes = append(rep.Outcomes, t.outcome(sv.key, run+1, b.p.LeaveTimeout))
			if pooled[sv.key] == nil {
				pooled[sv.key] = &crashTally{}
			}
			pooled[sv.key].add(t)
		}
	}
	fmt.Fprintln(w, "| time to the last leave at each surviving subscriber | p50 | p99 | max | subscribers | with every leave | missing leaves | extra leaves | false leaves before the kill | member list without the dead node's members (median of runs) | frames written by the survivors after the kill (median of runs) |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, sv := range servers {
		t := pooled[sv.key]
		p50, p99, pmax := "no subscriber with every leave within "+b.p.LeaveTimeout.String(), "–", "–"
		if t.lat.N > 0 {
			p50 = fmt.Sprintf("%.1f ms", ms(t.lat.Quantile(.5)))
			p99 = fmt.Sprintf("%.1f ms", ms(t.lat.Quantile(.99)))
			pmax = fmt.Sprintf("%.1f ms", ms(t.lat.Quantile(1)))
		}
		listed := "not within " + b.p.LeaveTimeout.String()
		if v, ok := rep.Median(sv.key, FigListed); ok {
			listed = fmt.Sprintf("%.1f ms", v)
		}
		frames := "–"
		if v, ok := rep.Median(sv.key, FigFrames); ok {
			frames = fmt.Sprintf("%.0f", v)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %d | %d | %d | %d | %s | %s |\n", sv.setup, p50, p99, pmax,
			t.subscribers, t.complete, t.missing, t.extra, t.falseLeaves, listed, frames)
	}
	fmt.Fprintln(w)
	if len(servers) > 1 {
		fmt.Fprintf(w, "per run, median of the %d runs:\n\n", b.p.Runs)
		if err := rep.WriteTable(w); err != nil {
			return err
		}
		fmt.Fprintln(w)
	}
	if b.p.JSON != "" {
		f, err := os.Create(b.p.JSON)
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

// crashOnce is one crash run on three rollcall nodes: the members' clients
// connect to n1..n3 in turn and subscribe to "room"; once every node lists
// all of them, node victim is killed with SIGKILL, and each surviving
// client's leaves are awaited up to the leave timeout while a surviving
// node's member list is polled every crashPollStep. The clients hear
// member changes in presence mode mode.
func (b *cluster) crashOnce(ctx context.Context, victim int, mode string) (*crashTally, error) {
	if b.p.Generators > 0 || b.p.Observers > 0 {
		return b.crashFleet(ctx, victim, mode)
	}
	nodes, stop, err := b.startNodes(ctx, 3)
	if err != nil {
		return nil, err
	}
	defer stop()
	n := b.p.Members
	views := make([]*leaveView[string], n)
	var killed atomic.Bool
	var falseCount atomic.Int64
	clients, err := dialMany(ctx, nodes, n, mode, func(i int) client.Options {
		v := newLeaveView[string]()
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
		return nil, err
	}
	defer closeAll(clients)
	for _, c := range clients {
		if err := c.Subscribe(ctx, "room"); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(b.p.Timeout)
	for _, nd := range nodes {
		if !waitFor(ctx, time.Until(deadline), func() bool { return nd.lists("room", n) }) {
			return nil, errors.New("channel not replicated in time")
		}
	}
	var victims []string
	var survivors []*leaveView[string]
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
	var alive []*node
	for i, nd := range nodes {
		if i != victim {
			alive = append(alive, nd)
		}
	}
	framesBefore := framesSettled(ctx, alive, 300*time.Millisecond, b.p.Timeout)
	witness := nodes[(victim+1)%3]
	k := b.kill(ctx, nodes[victim].process, &killed, n, victims, func() ([]string, error) { return witness.members("room") },
		func() (int, error) { return witness.count("room") })
	t := k.tally(ctx, survivors, victims, &falseCount)
	t.frames = int64(framesSettled(ctx, alive, 500*time.Millisecond, b.p.Timeout) - framesBefore)
	for i, nd := range nodes {
		if i != victim {
			if at := nd.dead.Load(); at > k.at.UnixNano() {
				fmt.Fprintf(b.log, "crash: %s saw the kill after %.1f ms\n", nd.name, ms(time.Duration(at-k.at.UnixNano())))
			}
		}
	}
	return t, nil
}

// crashFleet is crashOnce with the clients in generator processes (the
// worker's crash): b.p.Generators of them, or one per 8,000 clients and at
// least two; with b.p.Observers only that many clients, spread over the
// nodes, hear member changes (in presence mode mode), the rest join
// counts-only.
func (b *cluster) crashFleet(ctx context.Context, victim int, mode string) (*crashTally, error) {
	nodes, stop, err := b.startNodes(ctx, 3)
	if err != nil {
		return nil, err
	}
	defer stop()
	n := b.p.Members
	f, ready, err := b.generators(ctx, nodes, Params{Scenario: "crash", Driver: SGC{Diffs: mode == Diffs}.Name(), Conns: n,
		Observers: b.p.Observers, Duration: b.p.LeaveTimeout, Timeout: b.p.Timeout})
	if err != nil {
		return nil, err
	}
	defer f.stop()
	if !waitFor(ctx, b.p.Timeout, func() bool { ok, _ := counts(nodes, crashChannel, n); return ok }) {
		_, now := counts(nodes, crashChannel, n)
		return nil, fmt.Errorf("channel not replicated in %v: the nodes count %s of %d", b.p.Timeout, now, n)
	}
	// Client i is on node i%3 and is worker i%workers's (i/workers)th.
	var victims []string
	for i := victim; i < n; i += 3 {
		victims = append(victims, ready[i%len(ready)].IDs[i/len(ready)])
	}
	var alive []*node
	for i, nd := range nodes {
		if i != victim {
			alive = append(alive, nd)
		}
	}
	framesSettled(ctx, nodes, 300*time.Millisecond, b.p.Timeout) // every node has told the joins
	framesBefore := framesOut(alive)
	if err := f.release(order{Victim: victim, Victims: victims}); err != nil {
		return nil, err
	}
	if _, err := f.barrier(ctx, "armed", b.p.Timeout+time.Minute); err != nil {
		return nil, err
	}
	var killed atomic.Bool
	witness := nodes[(victim+1)%3]
	k := b.kill(ctx, nodes[victim].process, &killed, n, victims, func() ([]string, error) { return witness.members(crashChannel) },
		func() (int, error) { return witness.count(crashChannel) })
	if err := f.release(order{Start: k.at.UnixNano()}); err != nil {
		return nil, err
	}
	left, err := f.barrier(ctx, "left", b.p.LeaveTimeout+time.Minute)
	if err != nil {
		return nil, err
	}
	st := sum(left)
	// Before the clients leave, which the survivors would tell too.
	listed := <-k.listed
	frames := int64(framesSettled(ctx, alive, 500*time.Millisecond, b.p.Timeout) - framesBefore)
	if err := f.finish(); err != nil {
		return nil, err
	}
	fmt.Fprintf(b.log, "crash: the generators used %.1f ms of CPU from the kill until every leave was heard (%d processes, %d frames and %.1f MB received)\n",
		ms(st.CPU), len(ready), st.Frames, float64(st.Bytes)/1e6)
	if st.Errors > 0 {
		return nil, fmt.Errorf("%d errors in the crash (first: %s)", st.Errors, st.Sample)
	}
	t := &crashTally{subscribers: st.Subscribers, complete: st.Complete, missing: st.Missing, extra: st.Extra, falseLeaves: st.False}
	if st.Latency != nil {
		t.lat = *st.Latency
	}
	t.listed, t.frames = listed, frames
	for i, nd := range nodes {
		if i != victim {
			if at := nd.dead.Load(); at > k.at.UnixNano() {
				fmt.Fprintf(b.log, "crash: %s saw the kill after %.1f ms\n", nd.name, ms(time.Duration(at-k.at.UnixNano())))
			}
		}
	}
	return t, nil
}
