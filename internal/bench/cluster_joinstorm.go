package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/rollcall/rollcall/client"
)

// joinstorm: storm members join one channel at once, spread over the
// nodes, once per presence mode; the time until every node lists them
// all, and the frames the nodes wrote to their clients meanwhile.
func (b *cluster) joinstorm(ctx context.Context, w io.Writer) error {
	fmt.Fprintf(w, "joinstorm: %d members over 3 nodes (a fresh cluster per presence mode)%s\n\n", b.p.Storm, b.clientsNote("keep a view of the channel"))
	fmt.Fprintln(w, "| presence | connect and join | subscribe storm until every node lists all (and every view holds all) | frames written in the storm (all nodes) | per member |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	for _, mode := range b.p.Presence {
		r, err := b.joinstormOnce(ctx, mode)
		if err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		fmt.Fprintf(w, "| %s | %.1f ms | %.1f ms | %d | %.1f |\n", mode, ms(r.connected), ms(r.converged), r.frames,
			float64(r.frames)/float64(b.p.Storm))
	}
	fmt.Fprintln(w)
	return nil
}

// stormResult is what one cluster join storm measured.
type stormResult struct {
	connected, converged time.Duration
	frames               uint64
	// In generator processes: when the last view held every member (0:
	// not all did), and when every node listed them all, from the storm's
	// start; the views' shortfall and disagreement with a node's list.
	viewed, listed  time.Duration
	short, mismatch int64
	generatorCPU    time.Duration
}

func (b *cluster) joinstormOnce(ctx context.Context, mode string) (stormResult, error) {
	if b.p.Generators > 0 || b.p.Observers > 0 {
		return b.joinstormFleet(ctx, mode)
	}
	var r stormResult
	nodes, stop, err := b.startNodes(ctx, 3)
	if err != nil {
		return r, err
	}
	defer stop()
	n := b.p.Storm
	start := time.Now()
	clients, err := dialMany(ctx, nodes, n, mode, func(i int) client.Options { return client.Options{Name: "j" + strconv.Itoa(i)} })
	if err != nil {
		return r, err
	}
	defer closeAll(clients)
	r.connected = time.Since(start)
	before := framesSettled(ctx, nodes, 300*time.Millisecond, b.p.Timeout)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	subStart := time.Now()
	for _, c := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = c.Subscribe(ctx, "storm")
		})
	}
	wg.Wait()
	deadline := time.Now().Add(b.p.Timeout)
	for _, nd := range nodes {
		if !waitFor(ctx, time.Until(deadline), func() bool { return nd.lists("storm", n) }) {
			return r, errors.New("join storm did not converge in time")
		}
	}
	r.converged = time.Since(subStart)
	r.frames = framesSettled(ctx, nodes, 500*time.Millisecond, b.p.Timeout) - before
	fmt.Fprintf(b.log, "joinstorm %s: converged in %.1f ms, %d frames written\n", mode, ms(r.converged), r.frames)
	return r, nil
}

// joinstormFleet is joinstormOnce with the clients in generator processes
// (`rollcall bench-worker`, the worker's joinstorm): b.p.Generators of them,
// or one per 8,000 clients and at least two. With b.p.Observers only that
// many clients, spread over the nodes, keep a view of the channel (in
// presence mode mode); the rest join counts-only. Converged is when every
// view holds every member and every node lists them all.
func (b *cluster) joinstormFleet(ctx context.Context, mode string) (stormResult, error) {
	var r stormResult
	nodes, stop, err := b.startNodes(ctx, 3)
	if err != nil {
		return r, err
	}
	defer stop()
	n := b.p.Storm
	start := time.Now()
	f, ready, err := b.generators(ctx, nodes, Params{Scenario: "joinstorm", Driver: SGC{Diffs: mode == Diffs}.Name(), Conns: n,
		Observers: b.p.Observers, Timeout: b.p.Timeout})
	if err != nil {
		return r, err
	}
	defer f.stop()
	r.connected = time.Since(start)
	fmt.Fprintf(b.log, "joinstorm %s: %d clients in %d generators connected in %.1f ms\n", mode, n, len(ready), ms(r.connected))
	before := framesSettled(ctx, nodes, 300*time.Millisecond, b.p.Timeout)
	t0 := time.Now().Add(200 * time.Millisecond)
	if err := f.release(order{Start: t0.UnixNano()}); err != nil {
		return r, err
	}
	// Every node's count, through the API's O(1) channel state.
	listed := make(chan time.Duration, 1)
	go func() {
		deadline := time.Now().Add(b.p.Timeout)
		for ok, _ := counts(nodes, "storm", n); !ok; ok, _ = counts(nodes, "storm", n) {
			if time.Now().After(deadline) || ctx.Err() != nil {
				listed <- 0
				return
			}
			time.Sleep(20 * time.Millisecond) // 3 nodes' API, lightly
		}
		listed <- time.Since(t0)
	}()
	res, err := f.barrier(ctx, "stormed", b.p.Timeout+time.Minute)
	if err != nil {
		return r, err
	}
	st := sum(res)
	r.listed = <-listed // before the clients leave
	if err := f.finish(); err != nil {
		return r, err
	}
	if st.Errors > 0 {
		return r, fmt.Errorf("%d errors in the storm (first: %s)", st.Errors, st.Sample)
	}
	r.viewed, r.short, r.mismatch, r.generatorCPU = st.Elapsed, st.Short, st.Mismatch, st.CPU
	if r.listed == 0 || r.viewed <= 0 || r.short > 0 {
		_, now := counts(nodes, "storm", n)
		return r, fmt.Errorf("join storm did not converge in %v: nodes listed all after %v (now %s of %d), views full after %v, %d members short", b.p.Timeout, r.listed, now, n, r.viewed, r.short)
	}
	r.converged = max(r.listed, r.viewed)
	r.frames = framesSettled(ctx, nodes, 500*time.Millisecond, b.p.Timeout) - before
	fmt.Fprintf(b.log, "joinstorm %s: every view full after %.1f ms, every node listed all after %.1f ms, %d frames written, views unlike a node's list: %d\n",
		mode, ms(r.viewed), ms(r.listed), r.frames, r.mismatch)
	return r, nil
}
