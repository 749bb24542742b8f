package bench

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The worker side of each scenario. Phases are named after what has just
// happened ("ready": connected and joined).

// idTable holds each connection's member id, written after its dial and
// read by its handlers on the read goroutine.
type idTable []atomic.Pointer[string]

func (t idTable) set(i int, id string) { t[i].Store(&id) }

// is reports whether id is connection i's own member id.
func (t idTable) is(i int, id string) bool {
	p := t[i].Load()
	return p != nil && *p == id
}

// idle: connections joined to channels of ChannelSize members, then idle.
func (w *worker) idle(ctx context.Context, l *link) error {
	idx := w.mine(w.p.Conns)
	var joined atomic.Int64
	own := make(idTable, w.p.Conns)
	h := func(i int) *Handler {
		h := w.handler()
		ch := idleChannel(i, w.p.ChannelSize)
		h.Join = func(channel, member string) {
			if channel == ch && own.is(i, member) {
				joined.Add(1)
			}
		}
		return h
	}
	start := time.Now()
	clients := w.dialAll(ctx, idx, h)
	defer closeAll(clients)
	for k, c := range clients {
		if c == nil {
			continue
		}
		own.set(idx[k], c.ID())
		if err := c.Join(idleChannel(idx[k], w.p.ChannelSize)); err != nil {
			w.tally.fail(err)
		}
	}
	n := int64(opened(clients))
	waitFor(ctx, w.p.Timeout, func() bool { return joined.Load() >= n })
	r := w.tally.take()
	r.Conns, r.Elapsed = int(joined.Load()), time.Since(start)
	if _, err := l.sync("ready", r); err != nil {
		return err
	}
	time.Sleep(w.p.Duration)
	if _, err := l.sync("idled", w.tally.take()); err != nil {
		return err
	}
	return nil
}

func idleChannel(i, size int) string { return "idle-" + strconv.Itoa(i/max(size, 1)) }

// fanout: Channels × Subscribers subscribers and Publishers publishers;
// each step publishes at the coordinator's rate for Duration.
func (w *worker) fanout(ctx context.Context, l *link) error {
	p := w.p
	subs := w.mine(p.Channels * p.Subscribers)
	pubs := w.mine(p.Publishers)
	var hists [16]struct {
		sync.Mutex
		h Histogram
	}
	var received, dups, joined atomic.Int64
	var lastRecv atomic.Int64
	subIDs := make(idTable, p.Channels*p.Subscribers)
	h := func(i int) *Handler {
		h := w.handler()
		ch := fanoutChannel(i/p.Subscribers, p.Channels)
		last := make(map[int]int64) // publisher → last sequence number
		shard := &hists[i%len(hists)]
		h.Join = func(channel, member string) {
			if channel == ch && subIDs.is(i, member) {
				joined.Add(1)
			}
		}
		h.Message = func(channel string, payload []byte) {
			now := time.Now()
			sent, pub, seq, ok := parsePayload(payload)
			if !ok || channel != ch {
				w.tally.fail(fmt.Errorf("fanout: unexpected message on %q: %.40q", channel, payload))
				return
			}
			received.Add(1)
			lastRecv.Store(now.UnixNano())
			if seq <= last[pub] {
				dups.Add(1)
				return
			}
			last[pub] = seq
			shard.Lock()
			shard.h.Record(now.Sub(time.Unix(0, sent)))
			shard.Unlock()
		}
		return h
	}
	start := time.Now()
	subClients := w.dialAll(ctx, subs, h)
	defer closeAll(subClients)
	for k, c := range subClients {
		if c != nil {
			subIDs.set(subs[k], c.ID())
			if err := c.Join(fanoutChannel(subs[k]/p.Subscribers, p.Channels)); err != nil {
				w.tally.fail(err)
			}
		}
	}
	// Publishers are members of the channels they publish to; they ignore
	// what they receive. Their indices follow the subscribers'.
	base := p.Channels * p.Subscribers
	pubIdx := make([]int, len(pubs))
	for k, j := range pubs {
		pubIdx[k] = base + j
	}
	pubClients := w.dialAll(ctx, pubIdx, func(int) *Handler { return w.handler() })
	defer closeAll(pubClients)
	for k, c := range pubClients {
		if c == nil {
			continue
		}
		for _, ch := range publisherChannels(pubs[k], p.Publishers, p.Channels) {
			if err := c.Join(fanoutChannel(ch, p.Channels)); err != nil {
				w.tally.fail(err)
			}
		}
	}
	n := int64(opened(subClients))
	waitFor(ctx, p.Timeout, func() bool { return joined.Load() >= n })
	r := w.tally.take()
	r.Conns, r.Elapsed = int(joined.Load())+opened(pubClients), time.Since(start)
	phase := "ready"
	var seq int64
	for {
		o, err := l.sync(phase, r)
		if err != nil {
			return err
		}
		if o.Rate == 0 {
			return nil
		}
		phase = "step"
		// Reset the counts, wait for the step's start, publish, then wait
		// until deliveries stop. The counts are reset before the start: the
		// other workers' publishers begin at the start too, and a worker
		// that woke a little late would zero deliveries of this step.
		w.tally.take()
		received.Store(0)
		dups.Store(0)
		time.Sleep(time.Until(time.Unix(0, o.Start)))
		cpu0 := processCPU()
		var sent atomic.Int64
		var wg sync.WaitGroup
		perPub := o.Rate / float64(p.Publishers)
		for k, c := range pubClients {
			if c == nil {
				continue
			}
			chans := publisherChannels(pubs[k], p.Publishers, p.Channels)
			wg.Go(func() {
				sent.Add(w.publish(ctx, c, pubs[k], chans, perPub, &seq))
			})
		}
		wg.Wait()
		quiet := time.Second
		waitFor(ctx, p.Timeout, func() bool {
			return time.Since(time.Unix(0, lastRecv.Load())) > quiet
		})
		r = w.tally.take()
		r.Sent, r.Received, r.Dups = sent.Load(), received.Load(), dups.Load()
		r.CPU = processCPU() - cpu0
		r.Latency = &Histogram{}
		for i := range hists {
			hists[i].Lock()
			r.Latency.Merge(&hists[i].h)
			hists[i].h = Histogram{}
			hists[i].Unlock()
		}
	}
}

// publish sends rate messages per second from publisher pub for the
// step's duration, round robin over its channels, and returns how many.
//
// Publisher pub's n-th message is due at (n + pub/Publishers) / rate: the
// publishers are spread evenly over each interval, so that the server sees
// a steady stream at the step's rate rather than every publisher's message
// in one burst.
func (w *worker) publish(ctx context.Context, c Client, pub int, chans []int, rate float64, seq *int64) int64 {
	if len(chans) == 0 || rate <= 0 {
		return 0
	}
	phase := float64(pub) / float64(w.p.Publishers)
	start := time.Now()
	var n int64
	buf := make([]byte, 0, max(w.p.Payload, payloadHeader))
	for {
		elapsed := time.Since(start)
		if elapsed >= w.p.Duration || ctx.Err() != nil {
			return n
		}
		due := int64(math.Floor(elapsed.Seconds()*rate-phase)) + 1
		for ; n < due; n++ {
			s := atomic.AddInt64(seq, 1)
			ch := chans[int(n)%len(chans)]
			buf = appendPayload(buf[:0], time.Now(), pub, s, w.p.Payload)
			if err := c.Publish(fanoutChannel(ch, w.p.Channels), buf); err != nil {
				w.tally.fail(err)
				return n
			}
		}
		// Sleep until the next message is due, not in small steps: a
		// hundred publishers polling every millisecond cost the generator
		// a hundred thousand wake-ups a second.
		next := time.Duration((float64(n) + phase) / rate * float64(time.Second))
		time.Sleep(min(next-time.Since(start), w.p.Duration-time.Since(start)))
	}
}

func fanoutChannel(i, _ int) string { return "fan-" + strconv.Itoa(i) }

// publisherChannels lists the channels publisher j of np publishes to:
// every channel has one publisher when np ≤ nc, else several.
func publisherChannels(j, np, nc int) []int {
	if np >= nc {
		return []int{j % nc}
	}
	var chans []int
	for c := j; c < nc; c += np {
		chans = append(chans, c)
	}
	return chans
}

// payloadHeader is the length of the payload's fixed fields: send time in
// Unix nanoseconds, publisher, sequence number.
const payloadHeader = 19 + 1 + 6 + 1 + 12 + 1

// appendPayload writes "TIME|PUB|SEQ|" padded with dots to size bytes.
func appendPayload(b []byte, t time.Time, pub int, seq int64, size int) []byte {
	b = fmt.Appendf(b, "%019d|%06d|%012d|", t.UnixNano(), pub, seq)
	for len(b) < size {
		b = append(b, '.')
	}
	return b
}

func parsePayload(b []byte) (sent int64, pub int, seq int64, ok bool) {
	if len(b) < payloadHeader || b[19] != '|' || b[26] != '|' || b[39] != '|' {
		return 0, 0, 0, false
	}
	sent, err1 := strconv.ParseInt(string(b[:19]), 10, 64)
	p, err2 := strconv.Atoi(string(b[20:26]))
	seq, err3 := strconv.ParseInt(string(b[27:39]), 10, 64)
	return sent, p, seq, err1 == nil && err2 == nil && err3 == nil
}

// joinstorm: Conns members join one channel at once; each builds its view
// of the channel: per event from the member list it asks for after its own
// join and the join events, or (driver rollcall-diffs) from the versioned
// list the server sends on the join and the diffs that follow. With
// Observers only those keep a view; the rest join counts-only.
func (w *worker) joinstorm(ctx context.Context, l *link) error {
	const channel = "storm"
	idx := w.mine(w.p.Conns)
	type view struct {
		mu    sync.Mutex
		c     Client
		r     *roster
		done  bool
		probe chan []string // set: the next member list goes here
	}
	views := make([]*view, w.p.Conns)
	var converged atomic.Int64
	var lastConverged atomic.Int64
	want := w.p.Conns
	sgc, _ := w.drv.(SGC)
	diffs := sgc.Diffs
	h := func(i int) *Handler {
		if !w.observes(i) {
			return w.handler() // the audience: counts only
		}
		v := &view{r: newRoster(want)}
		views[i] = v
		h := w.handler()
		check := func() {
			if !v.done && len(v.r.members) >= want {
				v.done = true
				converged.Add(1)
				lastConverged.Store(time.Now().UnixNano())
			}
		}
		h.Join = func(ch, member string) {
			if ch != channel {
				return
			}
			v.mu.Lock()
			v.r.add(member)
			if c := v.c; c != nil && member == c.ID() && !diffs {
				// Our own join: ask who was there before us.
				if err := c.Members(channel); err != nil {
					w.tally.fail(err)
				}
			}
			check()
			v.mu.Unlock()
		}
		h.Leave = func(ch, member string) {
			v.mu.Lock()
			delete(v.r.members, key(member))
			v.mu.Unlock()
		}
		h.Members = func(ch string, ids []string) {
			v.mu.Lock()
			if v.probe != nil {
				v.probe <- ids
				v.probe = nil
				v.mu.Unlock()
				return
			}
			for _, id := range ids {
				v.r.add(id)
			}
			check()
			v.mu.Unlock()
		}
		h.ListKeys = func(ch string, version uint64, keys []uint64) {
			if ch != channel {
				return
			}
			v.mu.Lock()
			v.r.list(version, keys)
			check()
			v.mu.Unlock()
		}
		h.DiffKeys = func(ch string, from, version uint64, joined, left []uint64) {
			if ch != channel {
				return
			}
			v.mu.Lock()
			v.r.diff(from, version, joined, left)
			check()
			v.mu.Unlock()
		}
		return h
	}
	clients := w.dialAll(ctx, idx, h)
	defer closeAll(clients)
	var n int64 // the views this worker keeps
	for k, c := range clients {
		if c != nil && views[idx[k]] != nil {
			n++
			views[idx[k]].mu.Lock()
			views[idx[k]].c = c
			views[idx[k]].mu.Unlock()
		}
	}
	r := w.tally.take()
	r.Conns = opened(clients)
	o, err := l.sync("ready", r)
	if err != nil {
		return err
	}
	time.Sleep(time.Until(time.Unix(0, o.Start)))
	w.tally.take()
	cpu0 := processCPU()
	w.joinAll(clients, channel)
	waitFor(ctx, w.p.Timeout, func() bool { return converged.Load() >= n })
	r = w.tally.take()
	r.CPU = processCPU() - cpu0
	if n > 0 {
		r.Elapsed = time.Duration(lastConverged.Load() - o.Start)
	}
	for _, i := range idx {
		if v := views[i]; v != nil {
			v.mu.Lock()
			if v.c != nil {
				r.Short += int64(max(want-len(v.r.members), 0))
				r.Gaps += int64(v.r.gaps)
			}
			v.mu.Unlock()
		}
	}
	if converged.Load() < n {
		r.Elapsed = 0
	}
	// Check one view against the server's own list.
	for k, c := range clients {
		v := views[idx[k]]
		if c == nil || v == nil {
			continue
		}
		got := make(chan []string, 1)
		v.mu.Lock()
		mine := make(map[uint64]struct{}, len(v.r.members))
		for k := range v.r.members {
			mine[k] = struct{}{}
		}
		v.probe = got
		v.mu.Unlock()
		if err := c.Members(channel); err != nil {
			w.tally.fail(err)
			break
		}
		select {
		case list := <-got:
			if !sameSet(mine, list) {
				r.Mismatch++
			}
		case <-time.After(w.p.Timeout):
			w.tally.fail(fmt.Errorf("joinstorm: no member list after the storm"))
		}
		break
	}
	_, err = l.sync("stormed", r)
	return err
}

// sameSet reports whether the view a holds exactly the members b names.
func sameSet(a map[uint64]struct{}, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, id := range b {
		if _, ok := a[key(id)]; !ok {
			return false
		}
	}
	return true
}

// churn: connections join, subscribe, publish once and leave, Rate per
// second in all, each living Lifetime: first for Warmup (when set), then,
// once the coordinator has measured the warmed-up server, for Duration.
func (w *worker) churn(ctx context.Context, l *link) error {
	if _, err := l.sync("ready", &Result{}); err != nil {
		return err
	}
	next := 0 // the next connection number, continued across the phases
	if w.p.Warmup > 0 {
		if _, err := l.sync("warmed", w.churnFor(ctx, w.p.Warmup, &next)); err != nil {
			return err
		}
	}
	_, err := l.sync("churned", w.churnFor(ctx, w.p.Duration, &next))
	return err
}

// churnFor opens this worker's share of Rate connections per second for d,
// numbering them from *next on, and returns when every one has closed.
func (w *worker) churnFor(ctx context.Context, d time.Duration, next *int) *Result {
	rate := w.p.Rate / float64(w.p.Workers)
	start := time.Now()
	var cycles atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2000)
	for n := 0; ; n++ {
		due := start.Add(time.Duration(float64(n) / rate * float64(time.Second)))
		if due.Sub(start) >= d || ctx.Err() != nil {
			*next += n
			break
		}
		time.Sleep(time.Until(due))
		i := (*next+n)*w.p.Workers + w.p.Worker
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if w.cycle(ctx, i) {
				cycles.Add(1)
			}
		})
	}
	wg.Wait()
	r := w.tally.take()
	r.Cycles, r.Elapsed = cycles.Load(), time.Since(start)
	return r
}

// cycle is one churn connection's life.
func (w *worker) cycle(ctx context.Context, i int) bool {
	ch := "churn-" + strconv.Itoa(i%max(w.p.Channels, 1))
	joined := make(chan struct{})
	var once sync.Once
	var self atomic.Value
	h := w.handler()
	h.Join = func(channel, member string) {
		if channel == ch && member == self.Load() {
			once.Do(func() { close(joined) })
		}
	}
	c, err := w.dial(ctx, i, h)
	if err != nil {
		w.tally.fail(err)
		return false
	}
	defer c.Close()
	self.Store(c.ID())
	if err := c.Join(ch); err != nil {
		w.tally.fail(err)
		return false
	}
	select {
	case <-joined:
	case <-time.After(w.p.Timeout):
		w.tally.fail(fmt.Errorf("churn: join of %s not confirmed", ch))
		return false
	}
	if err := c.Publish(ch, []byte("churn "+strconv.Itoa(i))); err != nil {
		w.tally.fail(err)
		return false
	}
	time.Sleep(w.p.Lifetime)
	return true
}
