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
	fmt.Fprintf(w, "joinstorm: %d members over 3 nodes (a fresh cluster per presence mode)\n\n", b.p.Storm)
	fmt.Fprintln(w, "| presence | connect and join | subscribe storm until every node lists all | frames written in the storm (all nodes) | per member |")
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
}

func (b *cluster) joinstormOnce(ctx context.Context, mode string) (stormResult, error) {
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
