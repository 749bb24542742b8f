package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rollcall/rollcall/internal/bench"
)

const benchClusterUsage = `usage: rollcall bench cluster [flags]

Three rollcall serve node processes on embedded NATS, on 127.0.0.1, with
--member-events self, driven by Go clients (package client) in this process,
or (crash and joinstorm with --generators or --observers) by rollcall's bench
clients in generator processes (rollcall bench-worker), for channels of tens
of thousands:

  fanout     publishers on n1, subscribers spread over n1..n3; the same on one
             node beside it: delivered msg/s, latency p50/p99/max, loss
  crash      a --members channel spread over the nodes, kill -9 of one node,
             --runs times (a fresh cluster each): time from the kill to the last
             leave at each surviving subscriber (p50/p99/max; leaves awaited up
             to --leave-timeout), missing and extra leaves, false leaves before
             the kill, and the time until a survivor's member list no longer
             names the killed node's members. --generators and --observers
             work as for joinstorm: the subscribers that hear the leaves are
             then the observers on the surviving nodes
  deploy     --movers Go clients on n1 (in generator processes) and
             --deploy-observers on n2 and n3 (in this one) in one channel; n1
             gets SIGTERM under --presence-grace (--grace): the
             leaves and joins the observers hear until the grace has passed,
             the time until every mover is back in the channel on n2 or n3
             (the Go client reconnects with its resume token), and until n1
             has drained and exited
  joinstorm  --storm members join one channel at once, spread over the nodes:
             time until every node lists them all, frames written in the storm.
             With --generators N the clients run in N generator processes
             (rollcall bench-worker) and each keeps a view of the channel; with
             --observers K only K of them do (diffs or per event) and the rest
             join counts-only, the audience of a channel too big for everyone to
             list everyone. Converged is then when every view holds every member
             and every node lists them all.

Each part runs once per --presence mode: how the Go clients hear member
changes, diffs (the default: a member list when subscribing, then one folded
diff per channel per window) or per-event (one frame per join or leave, as
sgc clients hear them); --presence per-event,diffs runs both, one row each.

With --comparator BIN (bench/centrifuge, built), crash also runs on three
Centrifuge nodes (BIN --redis ... --node cN) on Centrifuge's Redis broker and
Redis presence manager, on a redis-server (--redis-server, Debian's
redis-server) that the bench starts on 127.0.0.1 for each run (random port,
--save '', --appendonly no, in a temp dir) and stops after it. The clients
speak Centrifuge's JSON protocol (internal/bench). The runs alternate, and a
second table gives each figure's median over the runs side by side with the
ratio rollcall / centrifuge.

`

func runBenchCluster(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var p bench.ClusterParams
	fs := flag.NewFlagSet("rollcall bench cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchClusterUsage, "Flags:\n"); fs.PrintDefaults() }
	fs.IntVar(&p.Members, "members", 3000, "crash: members of the channel")
	fs.IntVar(&p.Runs, "runs", 10, "crash: kills, each on a fresh cluster")
	fs.IntVar(&p.Storm, "storm", 2000, "joinstorm: members")
	fs.IntVar(&p.Generators, "generators", 0, "joinstorm, crash: run the clients in this many generator processes (0: in this one, unless --observers)")
	fs.IntVar(&p.Observers, "observers", 0, "joinstorm, crash: only this many members hear member changes (keep a view of the channel), the rest hear its count (in generator processes)")
	fs.IntVar(&p.Channels, "channels", 10, "fanout: channels")
	fs.IntVar(&p.Subscribers, "subscribers", 30, "fanout: subscribers per channel")
	fs.IntVar(&p.Publishers, "publishers", 10, "fanout: publishers (on n1)")
	fs.Float64Var(&p.Rate, "rate", 500, "fanout: publishes per second in all")
	fs.DurationVar(&p.Duration, "duration", 5*time.Second, "fanout: length")
	fs.DurationVar(&p.Timeout, "timeout", time.Minute, "bound on each phase")
	fs.StringVar(&p.Only, "only", "", "run only this part: fanout, crash, joinstorm or deploy")
	fs.IntVar(&p.Movers, "movers", 300, "deploy: clients on the node that gets SIGTERM")
	fs.IntVar(&p.DeployObservers, "deploy-observers", 100, "deploy: clients on the other nodes that count what they hear")
	fs.DurationVar(&p.Grace, "grace", 5*time.Second, "deploy: the nodes' --presence-grace")
	fs.DurationVar(&p.LeaveTimeout, "leave-timeout", 2*time.Minute, "crash: how long after the kill to await the leaves (and the member list), each run")
	fs.StringVar(&p.Comparator, "comparator", "", "crash: also run the Centrifuge comparator binary (built from bench/centrifuge) on Redis")
	fs.StringVar(&p.RedisServer, "redis-server", "redis-server", "crash with --comparator: the redis-server binary to start")
	fs.StringVar(&p.JSON, "json", "", "crash: also write its per-run figures as JSON to this file")
	nodeArgs := fs.String("node-args", "", "more rollcall serve flags for every node, space-separated (e.g. \"--count-rate 2000\")")
	presence := fs.String("presence", bench.Diffs, "how the clients hear member changes, comma-separated: per-event, diffs (each part runs once per mode)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	modes, err := bench.ParsePresence(*presence)
	if err != nil {
		return usageError{"bench cluster: --presence: " + err.Error()}
	}
	p.Presence = modes
	p.NodeArgs = strings.Fields(*nodeArgs)
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if p.Runs < 1 || p.Members < 3 {
		return usageError{"bench cluster: --runs must be at least 1 and --members at least 3"}
	}
	p.Exe, p.Log = []string{exe}, stderr
	return bench.RunCluster(ctx, p, stdout)
}
