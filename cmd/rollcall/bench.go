package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rollcall/rollcall/internal/bench"
	"github.com/rollcall/rollcall/presence"
)

const benchUsage = `usage: rollcall bench SCENARIO [flags]

Scenarios:
  idle       --conns N joined members, --channel-size per channel, idle for --duration;
             server RSS, heap and CPU per connection
  fanout     --channels × --subscribers, --publishers at each of --rates (publishes/s in
             all) for --duration; delivered/s, latency p50/p90/p99/max, loss, duplicates
  joinstorm  --conns members join one channel at once; time until every view is complete,
             frames and bytes delivered
  churn      connections join, subscribe, publish and leave at --rate per second: first
             for --warmup, then for --duration; server goroutines and heap of the fresh
             server, after the warm-up (before) and after the run, members left behind
  cluster    three nodes on embedded NATS: cross-node fan-out, kill -9 time to the last
             leave, join storm; with --comparator the kill -9 also on three Centrifuge
             nodes on Redis (rollcall bench cluster -h)
  biglist    --conns members in one channel, each a counts-only subscription (they
             hear a paced count, not each other), then 5 new clients in turn ask
             for diffs and join it: time from the join to the list's last page
  hostile    well-behaved members beside hostile clients of four kinds: their
             outcomes, server RSS against the budget (rollcall bench hostile -h)

Without --target, bench starts its own server (this binary's serve --debug) on
127.0.0.1; with --comparator it also runs the Centrifuge comparator
(bench/centrifuge), alternating runs, and prints both side by side.
Targets outside loopback are refused. --protocol pusher runs rollcall over the
Pusher Channels protocol instead (fanout only: presence channels, client events);
--protocol sgc,pusher runs both, alternating, in one table. --pusher-comparator DIR
also runs soketi, the Pusher comparator, from DIR (bench/soketi after npm ci there)
with node, driven over Pusher with the same app; the table gets a column
rollcall-pusher / soketi (and rollcall / centrifuge with --comparator).
--presence says how rollcall's sgc clients hear member changes: per-event
(the default: one frame per join or leave, the sgc protocol as sgc clients
speak it) or diffs (rollcall@hello first; a versioned member list when
joining a channel, then one folded diff per channel per window; the server
is named rollcall-diffs); --presence per-event,diffs runs both, alternating,
with a column rollcall / rollcall-diffs.
`

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprint(stdout, benchUsage)
			return nil
		}
		return usageError{"bench: name a scenario: idle, fanout, joinstorm, churn or biglist"}
	}
	scenario := args[0]
	if scenario == "cluster" {
		return runBenchCluster(ctx, args[1:], stdout, stderr)
	}
	if scenario == "hostile" {
		return runBenchHostile(ctx, args[1:], stdout, stderr)
	}
	p, ok := bench.Defaults(scenario)
	if !ok {
		return usageError{fmt.Sprintf("bench: unknown scenario %q: want idle, fanout, joinstorm, churn or biglist", scenario)}
	}
	cfg := bench.Config{Runs: 1, Settle: 2 * time.Second}
	fs := flag.NewFlagSet("rollcall bench "+scenario, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchUsage, "\nFlags:\n"); fs.PrintDefaults() }
	fs.StringVar(&cfg.Target, "target", "", "drive this running rollcall server (ws://127.0.0.1:PORT/) instead of starting one")
	fs.IntVar(&cfg.PID, "pid", 0, "process id of --target, for its memory and CPU figures")
	fs.StringVar(&cfg.Comparator, "comparator", "", "Centrifuge comparator binary (built from bench/centrifuge); runs it beside rollcall")
	fs.StringVar(&cfg.PusherComparator, "pusher-comparator", "", "folder of the soketi comparator (bench/soketi, after npm ci there); runs it beside rollcall over Pusher (fanout)")
	servers := fs.String("servers", "", "servers to run, comma-separated: rollcall, rollcall-diffs, rollcall-pusher, centrifuge, soketi (default: rollcall, centrifuge with --comparator, soketi with --pusher-comparator)")
	protocols := fs.String("protocol", "sgc", "the protocols rollcall is driven with, comma-separated: sgc, pusher (fanout)")
	presenceModes := fs.String("presence", bench.PerEvent, "how rollcall's sgc clients hear member changes, comma-separated: per-event, diffs")
	fs.IntVar(&p.Workers, "workers", 0, "worker processes (default: one per 8,000 connections)")
	fs.IntVar(&cfg.Runs, "runs", cfg.Runs, "runs per server, alternating; the table shows medians")
	fs.BoolVar(&cfg.Pin, "pin", false, "pin servers to CPU 0 and workers to CPU 1 with taskset")
	memberEvents := fs.String("member-events", "self", "rollcall serve --member-events: self (presence per channel, like the comparator) or all (sgc: everyone hears every join)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file (- for stdout)")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	fs.IntVar(&p.Conns, "conns", p.Conns, "connections (idle, joinstorm, biglist)")
	fs.IntVar(&p.ChannelSize, "channel-size", p.ChannelSize, "members per channel (idle)")
	fs.IntVar(&p.Channels, "channels", p.Channels, "channels (fanout, churn)")
	fs.IntVar(&p.Subscribers, "subscribers", p.Subscribers, "subscribers per channel (fanout)")
	fs.IntVar(&p.Publishers, "publishers", p.Publishers, "publishers (fanout)")
	fs.IntVar(&p.Payload, "payload", p.Payload, "message size in bytes (fanout; at least 40)")
	rates := fs.String("rates", "1000,2000", "fanout steps: publishes per second in all, comma-separated")
	fs.Float64Var(&p.Rate, "rate", p.Rate, "connections per second (churn)")
	fs.DurationVar(&p.Lifetime, "lifetime", p.Lifetime, "how long each churn connection lives")
	fs.DurationVar(&p.Duration, "duration", p.Duration, "idle time, fanout step length, churn length")
	fs.DurationVar(&p.Warmup, "warmup", p.Warmup, "churn: churn this long first and take the \"before\" figures after it (0: against the fresh server)")
	fs.DurationVar(&p.Timeout, "timeout", p.Timeout, "bound on each phase (connecting, converging, draining)")
	fs.DurationVar(&cfg.Settle, "settle", cfg.Settle, "pause before measuring a quiet server")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("bench: unexpected argument %q", fs.Arg(0))}
	}
	if cfg.Target != "" {
		if err := bench.CheckTarget(cfg.Target); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	for _, f := range strings.Split(*rates, ",") {
		r, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || r <= 0 {
			return usageError{fmt.Sprintf("bench: bad rate %q in --rates", f)}
		}
		cfg.Rates = append(cfg.Rates, r)
	}
	switch {
	case *servers != "":
		cfg.Servers = strings.Split(*servers, ",")
	case cfg.Comparator != "":
		cfg.Servers = []string{"rollcall", "centrifuge"}
	default:
		cfg.Servers = []string{"rollcall"}
	}
	modes, err := bench.ParsePresence(*presenceModes)
	if err != nil {
		return usageError{"bench: --presence: " + err.Error()}
	}
	var rollcalls []string
	for _, pr := range strings.Split(*protocols, ",") {
		switch strings.TrimSpace(pr) {
		case "sgc":
			for _, mode := range modes {
				if mode == bench.Diffs {
					rollcalls = append(rollcalls, "rollcall-diffs")
				} else {
					rollcalls = append(rollcalls, "rollcall")
				}
			}
		case "pusher":
			if scenario != "fanout" {
				return usageError{"bench: --protocol pusher runs the fanout scenario only"}
			}
			rollcalls = append(rollcalls, "rollcall-pusher")
		default:
			return usageError{fmt.Sprintf("bench: bad --protocol %q: want sgc, pusher or both (sgc,pusher)", pr)}
		}
	}
	if *servers == "" {
		var out []string
		for _, sv := range cfg.Servers {
			if sv == "rollcall" {
				out = append(out, rollcalls...)
			} else {
				out = append(out, sv)
			}
		}
		if cfg.PusherComparator != "" {
			if !slices.Contains(out, "rollcall-pusher") {
				return usageError{"bench: --pusher-comparator compares with rollcall over Pusher: add --protocol pusher (or sgc,pusher)"}
			}
			out = append(out, "soketi")
		}
		cfg.Servers = out
	}
	if slices.Contains(cfg.Servers, "soketi") {
		if scenario != "fanout" {
			return usageError{"bench: soketi runs the fanout scenario only"}
		}
		if err := bench.CheckSoketi(cfg.PusherComparator); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	if slices.Contains(cfg.Servers, "rollcall-pusher") && cfg.Target != "" {
		return usageError{"bench: --protocol pusher starts its own server (with a bench app); it takes no --target"}
	}
	if _, err := presence.ParseMemberEvents(*memberEvents); err != nil {
		return usageError{fmt.Sprintf("bench: bad --member-events %q: want all or self", *memberEvents)}
	}
	if p.Warmup < 0 {
		return usageError{"bench: --warmup must not be negative"}
	}
	if p.Payload < 40 && scenario == "fanout" {
		return usageError{"bench: --payload must be at least 40 bytes (time, publisher and sequence number)"}
	}
	cfg.Params = p
	// Thousands of connections come from 127.0.0.1: no connection caps.
	cfg.ServeArgs = []string{"--member-events", *memberEvents, "--max-connections", "0", "--max-connections-per-ip", "0"}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: finding this binary: %w", err)
	}
	cfg.Exe = []string{exe}
	if !*quiet {
		cfg.Log = stderr
	}
	rep, err := bench.Run(ctx, cfg)
	if rep != nil && len(rep.Outcomes) > 0 {
		fmt.Fprintf(stdout, "rollcall bench %s (%s)\n", scenario, rep.Machine)
		if terr := rep.WriteTable(stdout); terr != nil {
			return terr
		}
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	switch *jsonOut {
	case "":
	case "-":
		return rep.WriteJSON(stdout)
	default:
		f, err := os.Create(*jsonOut)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer f.Close()
		if err := rep.WriteJSON(f); err != nil {
			return fmt.Errorf("bench: writing %s: %w", *jsonOut, err)
		}
	}
	return nil
}
