package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rollcall/rollcall/internal/bench"
)

const benchHostileUsage = `usage: rollcall bench hostile [flags]

The per-connection budgets under attack. One rollcall serve --debug --ack
on 127.0.0.1 (the bench's Pusher app, an API key); --members well-behaved
members in channels of --channel-size (even channels over sgc, odd ones
over Pusher) and a witness in a busy channel; the server's RSS after a
collection is the baseline. Then --per-kind hostile clients of each kind
for --duration:

  get@members         asks for a member list --hostile-rate times a second, never reads
  slow reader         in the busy channel (--publish-rate publishes/s of --payload
                      bytes, POST /api/publish), never reads
  ack once            in the busy channel, acknowledges its first frame, then reads
                      everything and acknowledges nothing
  pusher resubscribe  re-sends a signed presence subscribe --hostile-rate times a
                      second, never reads

The table gives each kind's outcome (how its connections ended, the rate-limit
errors it was sent), the peak RSS against the budget (the clients times
--max-queue-bytes plus --ack-max-pending-bytes) and the RSS once they have
closed. The run fails if that is more than --tolerance over the baseline.

`

func runBenchHostile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	p := bench.HostileParams{Timeout: time.Minute}
	fs := flag.NewFlagSet("rollcall bench hostile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, benchHostileUsage, "Flags:\n"); fs.PrintDefaults() }
	fs.IntVar(&p.Members, "members", 1000, "well-behaved members")
	fs.IntVar(&p.ChannelSize, "channel-size", 100, "members per channel")
	fs.IntVar(&p.PerKind, "per-kind", 10, "hostile clients of each kind")
	fs.DurationVar(&p.Duration, "duration", 10*time.Second, "how long the hostile clients are at it")
	fs.Float64Var(&p.HostileRate, "hostile-rate", 200, "frames per second each hostile sender writes")
	fs.Float64Var(&p.PublishRate, "publish-rate", 200, "publishes per second into the busy channel")
	fs.IntVar(&p.Payload, "payload", 8192, "bytes of each publish into the busy channel")
	fs.Float64Var(&p.Tolerance, "tolerance", 0.10, "how far over the baseline the RSS after close may be (0.10: 10%)")
	fs.DurationVar(&p.Settle, "settle", 2*time.Second, "pause before measuring a quiet server")
	fs.DurationVar(&p.Timeout, "timeout", p.Timeout, "bound on each phase")
	queue := fs.Int64("max-queue-bytes", 8<<20, "rollcall serve --max-queue-bytes")
	pending := fs.Int64("ack-max-pending-bytes", 8<<20, "rollcall serve --ack-max-pending-bytes")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("bench hostile: unexpected argument %q", fs.Arg(0))}
	}
	if p.Members < 1 || p.ChannelSize < 1 || p.PerKind < 1 || p.HostileRate <= 0 || p.PublishRate <= 0 || p.Payload < 1 || p.Tolerance <= 0 {
		return usageError{"bench hostile: --members, --channel-size, --per-kind, --hostile-rate, --publish-rate, --payload and --tolerance must be positive"}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("bench: finding this binary: %w", err)
	}
	p.Exe, p.Log = []string{exe}, stderr
	p.Budget = *queue + *pending
	p.ServeArgs = []string{"--max-queue-bytes", fmt.Sprint(*queue), "--ack-max-pending-bytes", fmt.Sprint(*pending)}
	if _, err := bench.RunHostile(ctx, p, stdout); err != nil {
		return fmt.Errorf("bench hostile: %w", err)
	}
	return nil
}
