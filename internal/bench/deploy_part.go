package bench

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/rollcall/rollcall/client"
)

// deploy is a worker's part of the cluster deploy: its share of Conns
// movers, Go clients on Targets[0] that reconnect to the other targets
// with their resume tokens (presence diffs, or per event with driver
// "rollcall"), joined and subscribed to deployChannel. After "ready" the
// coordinator stops the first node and sends the time; the worker reports
// at "moved" when each mover was back, on another session and subscribed
// again: Latency from the stop, Conns how many.
func (w *worker) deploy(ctx context.Context, l *link) error {
	idx := w.mine(w.p.Conns)
	movers := make([]*client.Client, len(idx))
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for k, i := range idx {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o := client.Options{Name: "m" + strconv.Itoa(i), PerEvent: w.p.Driver == SGC{}.Name(), URLs: w.p.Targets[1:],
				ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond}
			c, err := client.Dial(ctx, w.p.Targets[0], o)
			if err == nil {
				if err = c.Subscribe(ctx, deployChannel); err != nil {
					c.Close()
				}
			}
			if err != nil {
				w.tally.fail(err)
				return
			}
			movers[k] = c
		})
	}
	wg.Wait()
	defer closeAll(movers)
	sessions := make([]string, len(movers))
	opened := 0
	for k, m := range movers {
		if m != nil {
			sessions[k] = m.Session()
			opened++
		}
	}
	r := w.tally.take()
	r.Conns = opened
	o, err := l.sync("ready", r)
	if err != nil {
		return err
	}
	stopped := time.Unix(0, o.Start)
	back := make([]bool, len(movers))
	var lat Histogram
	n := 0
	for deadline := stopped.Add(w.p.Duration); n < opened && time.Now().Before(deadline) && ctx.Err() == nil; {
		for k, m := range movers {
			if m == nil || back[k] {
				continue
			}
			if s := m.Session(); s != "" && s != sessions[k] && slices.Contains(m.Subscriptions(), deployChannel) {
				back[k] = true
				lat.Record(time.Since(stopped))
				n++
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	r = w.tally.take()
	r.Conns, r.Latency = n, &lat
	_, err = l.sync("moved", r)
	return err
}
