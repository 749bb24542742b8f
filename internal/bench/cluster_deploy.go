package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rollcall/rollcall/client"
)

// deployChannel is the channel of the deploy part.
const deployChannel = "room"

// deploy: one step of a rolling deploy. Movers Go clients on n1 (in
// generator processes) and Observers on n2 and n3 are in one channel; n1 gets SIGTERM under
// --presence-grace; the movers reconnect to n2 and n3 with their resume
// tokens. What the observers hear meanwhile and until the grace has
// passed (nothing, if the deploy is invisible), and how long the move and
// n1's drain took. Once per presence mode, each on a fresh cluster.
func (b *cluster) deploy(ctx context.Context, w io.Writer) error {
	fmt.Fprintf(w, "deploy: SIGTERM of n1 under --presence-grace %v; its %d clients move to n2 and n3, %d observers there (a fresh cluster per presence mode)\n\n",
		b.p.Grace, b.p.Movers, b.p.DeployObservers)
	fmt.Fprintln(w, "| presence | leaves heard by the observers | joins heard | movers back in the channel | SIGTERM to the last mover back | n1 drained and exited after |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, mode := range b.p.Presence {
		r, err := b.deployOnce(ctx, mode)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		fmt.Fprintf(w, "| %s | %d | %d | %d of %d | %.1f ms | %.1f ms |\n", mode, r.leaves, r.joins, r.back, b.p.Movers, ms(r.moved), ms(r.drained))
	}
	fmt.Fprintln(w)
	return nil
}

// deployResult is what one deploy step measured.
type deployResult struct {
	leaves, joins  int64 // heard by the observers after the SIGTERM
	back           int   // movers subscribed again on a survivor
	moved, drained time.Duration
}

func (b *cluster) deployOnce(ctx context.Context, mode string) (deployResult, error) {
	var r deployResult
	nodes, stop, err := b.startNodes(ctx, 3, "--presence-grace", b.p.Grace.String())
	if err != nil {
		return r, err
	}
	defer stop()
	var armed atomic.Bool
	var leaves, joins atomic.Int64
	observers, err := dialMany(ctx, nodes[1:], b.p.DeployObservers, mode, func(i int) client.Options {
		return client.Options{Name: "o" + strconv.Itoa(i),
			OnNewChannelMember: func(string, client.Member) {
				if armed.Load() {
					joins.Add(1)
				}
			},
			OnRemoveChannelMember: func(string, client.Member) {
				if armed.Load() {
					leaves.Add(1)
				}
			}}
	})
	if err != nil {
		return r, err
	}
	defer closeAll(observers)
	for _, o := range observers {
		if err := o.Subscribe(ctx, deployChannel); err != nil {
			return r, err
		}
	}
	// The movers, in generator processes, reconnect by themselves: to n2
	// or n3, with the resume token their last join gave them.
	f, _, err := b.generators(ctx, nodes, Params{Scenario: "deploy", Driver: SGC{Diffs: mode == Diffs}.Name(), Conns: b.p.Movers,
		Duration: b.p.Grace + b.p.Timeout, Timeout: b.p.Timeout})
	if err != nil {
		return r, err
	}
	defer f.stop()
	total := b.p.DeployObservers + b.p.Movers
	if !waitFor(ctx, b.p.Timeout, func() bool { ok, _ := counts(nodes, deployChannel, total); return ok }) {
		_, now := counts(nodes, deployChannel, total)
		return r, fmt.Errorf("the channel did not fill in %v: the nodes count %s of %d", b.p.Timeout, now, total)
	}
	framesSettled(ctx, nodes, 300*time.Millisecond, b.p.Timeout) // the joins told
	armed.Store(true)
	termed := time.Now()
	if err := nodes[0].cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return r, err
	}
	if err := f.release(order{Start: termed.UnixNano()}); err != nil {
		return r, err
	}
	moved, err := f.barrier(ctx, "moved", b.p.Grace+b.p.Timeout+time.Minute)
	if err != nil {
		return r, err
	}
	st := sum(moved)
	r.back = st.Conns
	if st.Latency != nil && st.Latency.N > 0 {
		r.moved = st.Latency.Quantile(1)
	}
	select {
	case <-nodes[0].done:
		r.drained = time.Since(termed)
	case <-time.After(time.Until(termed.Add(b.p.Grace + b.p.Timeout))):
		return r, errors.New("n1 did not exit after SIGTERM")
	}
	// Anything the grace was hiding shows once it has passed.
	time.Sleep(time.Until(termed.Add(b.p.Grace + time.Second)))
	if ok, now := counts(nodes[1:], deployChannel, total); !ok {
		return r, fmt.Errorf("after the deploy the survivors count %s members, want %d", now, total)
	}
	r.leaves, r.joins = leaves.Load(), joins.Load()
	if err := f.finish(); err != nil {
		return r, err
	}
	fmt.Fprintf(b.log, "deploy %s: %d of %d movers back after %.1f ms, n1 exited after %.1f ms, observers heard %d leaves and %d joins\n",
		mode, r.back, b.p.Movers, ms(r.moved), ms(r.drained), r.leaves, r.joins)
	return r, nil
}
