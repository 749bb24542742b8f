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
// nodes; the time until every node lists them all.
func (b *cluster) joinstorm(ctx context.Context, w io.Writer) error {
	nodes, stop, err := b.startNodes(ctx, 3)
	if err != nil {
		return err
	}
	defer stop()
	n := b.p.Storm
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
			return errors.New("join storm did not converge in time")
		}
	}
	converged := time.Since(subStart)
	var frames uint64
	for _, nd := range nodes {
		var st struct {
			Out uint64 `json:"messages_out"`
		}
		if nd.get("/api/stats", &st) == nil {
			frames += st.Out
		}
	}
	fmt.Fprintf(w, "joinstorm: %d members over 3 nodes\n\n", n)
	fmt.Fprintln(w, "| connect and join | subscribe storm until every node lists all | frames written (all nodes) |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	fmt.Fprintf(w, "| %.1f ms | %.1f ms | %d |\n\n", ms(connected), ms(converged), frames)
	return nil
}
