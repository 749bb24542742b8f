package bench

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Params is one scenario run, as every worker sees it.
type Params struct {
	Scenario string `json:"scenario"`
	Driver   string `json:"driver"`
	Target   string `json:"target"`
	Worker   int    `json:"worker"`
	Workers  int    `json:"workers"`

	Conns       int           `json:"conns"`        // idle, joinstorm, crash: connections; deploy: movers
	ChannelSize int           `json:"channel_size"` // idle: members per channel
	Channels    int           `json:"channels"`     // fanout, churn
	Subscribers int           `json:"subscribers"`  // fanout: per channel
	Publishers  int           `json:"publishers"`   // fanout
	Payload     int           `json:"payload"`      // fanout: bytes per message
	Rate        float64       `json:"rate"`         // churn: connections per second
	Lifetime    time.Duration `json:"lifetime"`     // churn: how long each connection lives
	Duration    time.Duration `json:"duration"`     // idle, fanout step, churn; crash: how long the leaves are awaited; deploy: the movers
	Warmup      time.Duration `json:"warmup"`       // churn: churning before the baseline is taken
	Timeout     time.Duration `json:"timeout"`      // bound on each phase

	// Targets, if set, are several nodes of one cluster: connection i
	// dials Targets[i % len(Targets)] instead of Target.
	Targets []string `json:"targets,omitempty"`
	// Observers, if set (joinstorm, crash), is how many connections hear member
	// changes through Driver and keep a view of the channel: connections
	// 0..Observers-1, spread over Targets. The others are members of the
	// channel that hear its count only (counts-only): the audience of a
	// channel too big for everyone to list everyone.
	Observers int `json:"observers,omitempty"`
}

// Result is one worker's measurements at a phase; the coordinator sums
// them.
type Result struct {
	Conns    int           `json:"conns,omitempty"`
	Errors   int64         `json:"errors,omitempty"`
	Sample   string        `json:"sample,omitempty"` // the first error
	Frames   int64         `json:"frames,omitempty"` // received in the window
	Bytes    int64         `json:"bytes,omitempty"`
	Elapsed  time.Duration `json:"elapsed,omitempty"` // the phase's own duration
	Sent     int64         `json:"sent,omitempty"`
	Received int64         `json:"received,omitempty"`
	Dups     int64         `json:"dups,omitempty"`
	Latency  *Histogram    `json:"latency,omitempty"`
	Short    int64         `json:"short,omitempty"`    // joinstorm: members missing from views
	Mismatch int64         `json:"mismatch,omitempty"` // joinstorm: views unlike the server's list
	Gaps     int64         `json:"gaps,omitempty"`     // joinstorm: diffs that began after their view's version
	Cycles   int64         `json:"cycles,omitempty"`   // churn: connections that lived and closed
	CPU      time.Duration `json:"cpu,omitempty"`      // fanout: the worker process's CPU time in the step

	// crash: the member ids of the worker's connections (in the order of
	// worker.mine), and what its observers on the surviving nodes heard of
	// the victims' leaves (crashTally's figures; Latency the times to
	// each complete one's last).
	IDs                                          []string `json:"ids,omitempty"`
	Subscribers, Complete, Missing, Extra, False int      `json:",omitempty"`
}

// add sums o into r; Elapsed keeps the longest.
func (r *Result) add(o *Result) {
	if o == nil {
		return
	}
	r.Conns += o.Conns
	r.Errors += o.Errors
	if r.Sample == "" {
		r.Sample = o.Sample
	}
	r.Frames += o.Frames
	r.Bytes += o.Bytes
	r.Elapsed = max(r.Elapsed, o.Elapsed)
	r.Sent += o.Sent
	r.Received += o.Received
	r.Dups += o.Dups
	if o.Latency != nil {
		if r.Latency == nil {
			r.Latency = &Histogram{}
		}
		r.Latency.Merge(o.Latency)
	}
	r.Short += o.Short
	r.Mismatch += o.Mismatch
	r.Gaps += o.Gaps
	r.Cycles += o.Cycles
	r.CPU += o.CPU
	r.Subscribers += o.Subscribers
	r.Complete += o.Complete
	r.Missing += o.Missing
	r.Extra += o.Extra
	r.False += o.False
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func sum(rs []*Result) *Result {
	var t Result
	for _, r := range rs {
		t.add(r)
	}
	return &t
}

// Drivers maps the names of --server to their drivers.
var Drivers = map[string]Driver{"rollcall": SGC{}, "rollcall-diffs": SGC{Diffs: true}, "rollcall-counts": SGC{Counts: true}, "rollcall-pusher": Pusher{},
	"centrifuge": Centrifuge{}, "soketi": Pusher{}}

// tally counts what a worker's connections receive and the errors they
// meet; it is shared by the worker's connections.
type tally struct {
	frames, bytes, errors atomic.Int64
	mu                    sync.Mutex
	sample                string
}

func (t *tally) fail(err error) {
	if t.errors.Add(1) == 1 {
		t.mu.Lock()
		t.sample = err.Error()
		t.mu.Unlock()
	}
}

// take returns the counts since the last take.
func (t *tally) take() *Result {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := &Result{Frames: t.frames.Swap(0), Bytes: t.bytes.Swap(0), Errors: t.errors.Swap(0), Sample: t.sample}
	t.sample = ""
	return r
}

// worker is the state every part shares.
type worker struct {
	p     Params
	drv   Driver
	tally tally
	ips   []net.IP // local addresses to spread connections over
}

func newWorker(p Params) (*worker, error) {
	drv, ok := Drivers[p.Driver]
	if !ok {
		return nil, fmt.Errorf("unknown server kind %q", p.Driver)
	}
	w := &worker{p: p, drv: drv}
	u, err := url.Parse(w.target(0))
	if err != nil {
		return nil, fmt.Errorf("target %q: %w", w.target(0), err)
	}
	// Every 127.0.0.0/8 address is local: spreading the connections over
	// several gives each its own range of ephemeral ports.
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.To4() != nil && ip.IsLoopback() {
		for i := range 16 {
			w.ips = append(w.ips, net.IPv4(127, 0, byte(p.Worker+1), byte(i+2)))
		}
	}
	return w, nil
}

// mine lists the indices in [0, n) this worker handles.
func (w *worker) mine(n int) []int {
	var idx []int
	for i := w.p.Worker; i < n; i += w.p.Workers {
		idx = append(idx, i)
	}
	return idx
}

// target is the server connection i dials.
func (w *worker) target(i int) string {
	if len(w.p.Targets) > 0 {
		return w.p.Targets[i%len(w.p.Targets)]
	}
	return w.p.Target
}

// observes reports whether connection i hears member changes: all do
// unless Params.Observers says how many.
func (w *worker) observes(i int) bool { return w.p.Observers == 0 || i < w.p.Observers }

// dial opens connection number i, joined as member "b<i>", with h: with
// the worker's driver, or counts-only when it does not observe.
func (w *worker) dial(ctx context.Context, i int, h *Handler) (Client, error) {
	var laddr *net.TCPAddr
	if len(w.ips) > 0 {
		laddr = &net.TCPAddr{IP: w.ips[i%len(w.ips)]}
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	drv := w.drv
	if !w.observes(i) {
		drv = SGC{Counts: true}
	}
	return drv.Dial(ctx, w.target(i), laddr, fmt.Sprintf("b%d", i), h)
}

// handler returns a Handler that counts frames and errors in the tally.
func (w *worker) handler() *Handler {
	return &Handler{Counter: &w.tally.frames, ByteCounter: &w.tally.bytes, Error: w.tally.fail}
}

// dialAll opens a connection for each index with a few dials in flight,
// and returns the clients (nil where dialing failed; errors are tallied).
func (w *worker) dialAll(ctx context.Context, idx []int, h func(i int) *Handler) []Client {
	clients := make([]Client, len(idx))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(32, len(idx)) {
		wg.Go(func() {
			for {
				k := int(next.Add(1) - 1)
				if k >= len(idx) || ctx.Err() != nil {
					return
				}
				c, err := w.dial(ctx, idx[k], h(idx[k]))
				if err != nil {
					w.tally.fail(err)
					continue
				}
				clients[k] = c
			}
		})
	}
	wg.Wait()
	return clients
}

// joinAll has every client of clients that is not nil join channel, eight
// at a time and all at once as far as the server can tell; errors are
// tallied.
func (w *worker) joinAll(clients []Client, channel string) {
	var wg sync.WaitGroup
	for part := range 8 {
		wg.Go(func() {
			for k := part; k < len(clients); k += 8 {
				if c := clients[k]; c != nil {
					if err := c.Join(channel); err != nil {
						w.tally.fail(err)
					}
				}
			}
		})
	}
	wg.Wait()
}

// closeAll closes every client of clients that is not nil, 64 at a time,
// and waits for them.
func closeAll[C interface {
	comparable
	Close() error
}](clients []C) {
	var zero C
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for _, c := range clients {
		if c == zero {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_ = c.Close()
		})
	}
	wg.Wait()
}

func opened(clients []Client) int {
	n := 0
	for _, c := range clients {
		if c != nil {
			n++
		}
	}
	return n
}

// waitFor polls cond until it holds or d passes; it reports whether it held.
func waitFor(ctx context.Context, d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// runPart runs this worker's part of p's scenario.
func runPart(ctx context.Context, p Params, l *link) error {
	w, err := newWorker(p)
	if err != nil {
		return err
	}
	switch p.Scenario {
	case "idle", "biglist": // biglist's members idle while the coordinator measures
		return w.idle(ctx, l)
	case "fanout":
		return w.fanout(ctx, l)
	case "joinstorm":
		return w.joinstorm(ctx, l)
	case "churn":
		return w.churn(ctx, l)
	case "crash":
		return w.crash(ctx, l)
	case "deploy":
		return w.deploy(ctx, l)
	}
	return fmt.Errorf("unknown scenario %q", p.Scenario)
}
