package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rollcall/rollcall/client"
)

// fanout: publishers on n1, subscribers spread; then the same on one node.
func (b *cluster) fanout(ctx context.Context, w io.Writer) error {
	fmt.Fprintf(w, "fanout: %d channels × %d subscribers, %d publishers on n1, %.0f publishes/s for %v\n\n",
		b.p.Channels, b.p.Subscribers, b.p.Publishers, b.p.Rate, b.p.Duration)
	fmt.Fprintln(w, "| setup | presence | delivered msg/s | p50 | p99 | max | lost | duplicates |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, mode := range b.p.Presence {
		for _, k := range []int{1, 3} {
			r, err := b.fanoutOn(ctx, k, mode)
			if err != nil {
				return err
			}
			setup := "one node"
			if k == 3 {
				setup = "3 nodes (publishers on n1)"
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %.1f ms | %.1f ms | %.1f ms | %d | %d |\n", setup, mode, r.rate,
				ms(r.p50), ms(r.p99), ms(r.max), r.lost, r.dups)
		}
	}
	fmt.Fprintln(w)
	return nil
}

// fanoutResult is what one fanout setup measured.
type fanoutResult struct {
	rate          float64 // delivered per second
	p50, p99, max time.Duration
	lost, dups    int64
}

// fanoutOn runs the fanout on k nodes, its clients in presence mode mode.
func (b *cluster) fanoutOn(ctx context.Context, k int, mode string) (fanoutResult, error) {
	var res fanoutResult
	nodes, stop, err := b.startNodes(ctx, k)
	if err != nil {
		return res, err
	}
	defer stop()
	nsubs := b.p.Channels * b.p.Subscribers
	var mu sync.Mutex // guards lat and seen
	var lat Histogram
	seen := make([]map[string]bool, nsubs)
	var delivered, dups atomic.Int64
	subs, err := dialMany(ctx, nodes, nsubs, mode, func(i int) client.Options {
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
				lat.Record(d)
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
		if err := c.Subscribe(ctx, "ch"+strconv.Itoa(i%b.p.Channels)); err != nil {
			return res, err
		}
	}
	// Wait until n1 lists every subscriber (the others' replicas are in).
	if !waitFor(ctx, b.p.Timeout, func() bool {
		var chs []struct {
			Members int `json:"members"`
		}
		if nodes[0].get("/api/channels", &chs) != nil {
			return false
		}
		total := 0
		for _, c := range chs {
			total += c.Members
		}
		return total == nsubs
	}) {
		return res, errors.New("subscribers not replicated in time")
	}
	pubs, err := dialMany(ctx, nodes[:1], b.p.Publishers, mode, func(i int) client.Options { return client.Options{Name: "p" + strconv.Itoa(i)} })
	if err != nil {
		return res, err
	}
	defer closeAll(pubs)
	for _, c := range pubs { // sgc publishes to channels one is in
		for ch := range b.p.Channels {
			if err := c.Subscribe(ctx, "ch"+strconv.Itoa(ch)); err != nil {
				return res, err
			}
		}
	}
	per := b.p.Rate / float64(b.p.Publishers)
	var sent atomic.Int64
	var wg sync.WaitGroup
	end := time.Now().Add(b.p.Duration)
	start := time.Now()
	for i, c := range pubs {
		wg.Go(func() {
			tk := time.NewTicker(time.Duration(float64(time.Second) / per))
			defer tk.Stop()
			for seq := 0; time.Now().Before(end); seq++ {
				<-tk.C
				ch := "ch" + strconv.Itoa((i+seq)%b.p.Channels)
				text := strconv.FormatInt(time.Now().UnixNano(), 10) + " " + strconv.Itoa(i) + "." + strconv.Itoa(seq)
				if c.Publish(ctx, ch, text) == nil {
					sent.Add(1)
				}
			}
		})
	}
	wg.Wait()
	want := sent.Load() * int64(b.p.Subscribers)
	waitFor(ctx, 5*time.Second, func() bool { return delivered.Load() >= want })
	elapsed := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	res.rate = float64(delivered.Load()) / elapsed.Seconds()
	res.p50, res.p99, res.max = lat.Quantile(.5), lat.Quantile(.99), lat.Quantile(1)
	res.lost = want - delivered.Load()
	res.dups = dups.Load()
	return res, nil
}
