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

// crashSetup names each server's setup in the crash table.
var crashSetup = map[string]string{
	"rollcall":   "rollcall, embedded NATS",
	"centrifuge": "centrifuge, Redis broker and presence",
}

// crash: a channel spread over the nodes, kill -9 of one, runs times;
// with a comparator the same on three Centrifuge nodes on one Redis,
// alternating runs, and a table of both with the ratio.
func (b *cluster) crash(ctx context.Context, w io.Writer) error {
	fmt.Fprintf(w, "crash: a %d-member channel over 3 nodes, kill -9 of one, %d runs (a fresh cluster each), leaves awaited up to %v a run\n\n", b.p.Members, b.p.Runs, b.p.LeaveTimeout)
	servers := []string{"rollcall"}
	if b.p.Comparator != "" {
		servers = append(servers, "centrifuge")
	}
	rep := &Report{Scenario: "cluster crash", Started: time.Now()}
	pooled := map[string]*crashTally{}
	for run := range b.p.Runs {
		for _, server := range servers {
			var t *crashTally
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
			rep.Outcomes = append(rep.Outcomes, t.outcome(server, run+1, b.p.LeaveTimeout))
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
		p50, p99, pmax := "no subscriber with every leave within "+b.p.LeaveTimeout.String(), "–", "–"
		if t.lat.N > 0 {
			p50 = fmt.Sprintf("%.1f ms", ms(t.lat.Quantile(.5)))
			p99 = fmt.Sprintf("%.1f ms", ms(t.lat.Quantile(.99)))
			pmax = fmt.Sprintf("%.1f ms", ms(t.lat.Quantile(1)))
		}
		listed := "not within " + b.p.LeaveTimeout.String()
		if v, ok := rep.Median(server, FigListed); ok {
			listed = fmt.Sprintf("%.1f ms", v)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %d | %d | %d | %d | %d | %s |\n", crashSetup[server], p50, p99, pmax,
			t.subscribers, t.complete, t.missing, t.extra, t.falseLeaves, listed)
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
// node's member list is polled every crashPollStep.
func (b *cluster) crashOnce(ctx context.Context, victim int) (*crashTally, error) {
	nodes, stop, err := b.startNodes(ctx, 3)
	if err != nil {
		return nil, err
	}
	defer stop()
	n := b.p.Members
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
	k := b.kill(ctx, nodes[victim].process, &killed, n, victims, func() ([]string, error) { return witness.members("room") })
	t := k.tally(ctx, survivors, victims, &falseCount)
	for i, nd := range nodes {
		if i != victim {
			if at := nd.dead.Load(); at > k.at.UnixNano() {
				fmt.Fprintf(b.log, "crash: %s saw the kill after %.1f ms\n", nd.name, ms(time.Duration(at-k.at.UnixNano())))
			}
		}
	}
	return t, nil
}
