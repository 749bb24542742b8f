package bench

// `rollcall bench hostile`: the per-connection budgets (docs/security.md)
// under attack. Well-behaved members fill channels; then hostile clients
// of four kinds (hostile_clients.go) do their worst for a while beside
// them; the server's resident memory is read before, during and after.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// HostileParams is one `rollcall bench hostile` run.
type HostileParams struct {
	// Exe runs this binary: Exe + "serve ..." starts the server under test
	// (with --debug, --ack, the bench's Pusher app and an API key). Without
	// it, Target must be such a server.
	Exe []string
	// Target, APIKey and PID are a running server instead (tests): its
	// ws:// address, its API key and its process (0: no RSS figures).
	Target, APIKey string
	PID            int
	// ServeArgs are added to `rollcall serve` when the bench starts it.
	ServeArgs []string
	// Members well-behaved members join channels of ChannelSize members,
	// the even channels over sgc and the odd ones over Pusher.
	Members, ChannelSize int
	// PerKind is the number of hostile clients of each kind.
	PerKind int
	// Duration is how long the hostile clients are at it.
	Duration time.Duration
	// HostileRate is how many frames a second each hostile sender writes.
	HostileRate float64
	// PublishRate publishes a second of Payload bytes go into the busy
	// channel (POST /api/publish).
	PublishRate float64
	Payload     int
	// Budget is one connection's budget in bytes (outbound queue and
	// unacknowledged frames), for the report.
	Budget int64
	// Tolerance is how far above the baseline the RSS after the hostile
	// clients have closed may be (0: 0.10).
	Tolerance float64
	// Quiet is how long a hostile client that has not been closed reads
	// nothing before it is reported open (0: 2 s).
	Quiet time.Duration
	// Settle is the pause before measuring a quiet server; Timeout bounds
	// each phase.
	Settle, Timeout time.Duration
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// HostileKind is what the hostile clients of one kind did and how they
// ended.
type HostileKind struct {
	Kind    string         `json:"kind"`
	Clients int            `json:"clients"`
	Sent    int64          `json:"frames_sent"`
	Ends    map[string]int `json:"ends"`        // how each connection ended, as its client saw it
	Limited int            `json:"rate_errors"` // sgc error 45 and Pusher 4301 frames read
}

// HostileResult is what RunHostile measured.
type HostileResult struct {
	BaselineRSS, PeakRSS, AfterRSS int64
	// Baseline and After are the server's runtime figures beside the RSS.
	Baseline, After ServerStats
	Kinds           []HostileKind
	// Published publishes went into the busy channel; the witness, a
	// well-behaved member of it, received Witnessed of them.
	Published, Witnessed int64
	// Counters are the server's counters' increase over the hostile phase.
	SlowConsumers, RateLimited, Errors, ClosedForCause uint64
}

// apiStats is the part of GET /api/stats the scenario reads.
type apiStats struct {
	Connections    int64  `json:"connections"`
	SlowConsumers  uint64 `json:"slow_consumers"`
	RateLimited    uint64 `json:"rate_limited"`
	Errors         uint64 `json:"errors"`
	ClosedForCause uint64 `json:"closed_for_cause"`
}

const (
	busyChannel = "busy"
	hostileKey  = "bench-hostile-key"
	rssEvery    = 100 * time.Millisecond // the RSS sampling period
)

// RunHostile runs the scenario, writes its table to w and returns what it
// measured; it fails when the RSS after the hostile clients closed is not
// within the tolerance of the baseline.
func RunHostile(ctx context.Context, p HostileParams, w io.Writer) (*HostileResult, error) {
	if p.Log == nil {
		p.Log = io.Discard
	}
	if p.Tolerance == 0 {
		p.Tolerance = 0.10
	}
	if p.Quiet == 0 {
		p.Quiet = 2 * time.Second
	}
	srv, err := startHostileServer(ctx, &p)
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	b := &hostileRun{p: p, srv: srv}
	res, err := b.run(ctx)
	if res != nil {
		if werr := res.write(w, p); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return res, err
	}
	return res, res.check(p.Tolerance)
}

// check fails when the RSS after the hostile clients closed is more than
// tolerance over the baseline (and passes without RSS figures).
func (r *HostileResult) check(tolerance float64) error {
	if r.BaselineRSS > 0 && float64(r.AfterRSS) > float64(r.BaselineRSS)*(1+tolerance) {
		return fmt.Errorf("RSS after the hostile clients closed is %s, more than %.0f%% over the baseline %s",
			mib(r.AfterRSS), tolerance*100, mib(r.BaselineRSS))
	}
	return nil
}

// startHostileServer starts rollcall serve for the scenario, or takes
// p.Target.
func startHostileServer(ctx context.Context, p *HostileParams) (*serverProc, error) {
	if p.Target != "" {
		if err := CheckTarget(p.Target); err != nil {
			return nil, err
		}
		return &serverProc{target: p.Target, pid: p.PID, stop: func() {}}, nil
	}
	if len(p.Exe) == 0 {
		return nil, errors.New("no target and no rollcall binary to start")
	}
	yaml, remove, err := pusherConfig()
	if err != nil {
		return nil, err
	}
	p.APIKey = hostileKey
	args := append([]string{}, p.Exe...)
	args = append(args, "serve", "--addr", "127.0.0.1:0", "--debug", "--no-web", "--log-level", "info",
		"--config", yaml, "--ack", "--api-key", p.APIKey, "--member-events", "self",
		"--max-connections", "0", "--max-connections-per-ip", "0")
	args = append(args, p.ServeArgs...)
	srv, err := startServer(ctx, launchSpec{name: "rollcall", args: args, listening: rollcallListening})
	if err != nil {
		remove()
		return nil, err
	}
	stop := srv.stop
	srv.stop = func() { stop(); remove() }
	return srv, nil
}

// hostileRun is one run of RunHostile.
type hostileRun struct {
	p   HostileParams
	srv *serverProc
}

func (b *hostileRun) logf(format string, a ...any) { fmt.Fprintf(b.p.Log, "   "+format+"\n", a...) }

func (b *hostileRun) run(ctx context.Context) (*HostileResult, error) {
	p := b.p
	res := &HostileResult{}
	members, witnessed, err := b.members(ctx)
	defer func() {
		for _, c := range members {
			c.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	res.BaselineRSS, res.Baseline = b.quietRSS(ctx)
	before, err := b.apiStats(ctx)
	if err != nil {
		return nil, err
	}
	b.logf("%d members joined; baseline RSS %s", len(members)-1, mib(res.BaselineRSS))

	hs, err := b.dialHostiles(ctx)
	defer func() {
		for _, h := range hs {
			h.conn.Close()
		}
	}()
	if err != nil {
		return nil, err
	}
	b.logf("%d hostile clients connected; at it for %v", len(hs), p.Duration)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var peak atomic.Int64
	peak.Store(b.rss())
	wg.Go(func() { b.sampleRSS(stop, &peak) })
	wg.Go(func() { res.Published = b.publish(ctx, stop) })
	for _, h := range hs {
		switch h.kind {
		case kindMembers:
			frame := sgcwire.Encoder{}.Encode(&sgcwire.Message{Method: sgcwire.MethodGetMembers, Channel: hostileChannel(0, p.ChannelSize), Member: sgcwire.Member{ID: h.id}})
			wg.Go(func() { h.hammer(stop, p.HostileRate, frame) })
		case kindResub:
			frame := presenceSubscribe(h.id, pusherwire.PresencePrefix+hostileChannel(p.ChannelSize, p.ChannelSize), "hostile-"+h.id)
			wg.Go(func() { h.hammer(stop, p.HostileRate, frame) })
		case kindAckOnce:
			// Reads until the server closes it, or Quiet after the end.
			until := time.Now().Add(p.Duration + p.Quiet)
			wg.Go(func() { h.drain(p.Duration+p.Quiet, until) })
		}
	}
	select {
	case <-time.After(p.Duration):
	case <-ctx.Done():
	}
	close(stop)
	// What the clients that never read were sent, and how they ended: the
	// close frame (if any) waits behind everything queued before it.
	drained := time.Now().Add(p.Timeout)
	for _, h := range hs {
		if h.kind != kindAckOnce {
			wg.Go(func() { h.drain(p.Quiet, drained) })
		}
	}
	wg.Wait()
	res.PeakRSS = peak.Load()
	for _, h := range hs {
		h.conn.Close()
	}
	if err := b.awaitConnections(ctx, before.Connections); err != nil {
		return res, err
	}
	res.AfterRSS, res.After = b.quietRSS(ctx)
	after, err := b.apiStats(ctx)
	if err != nil {
		return res, err
	}
	res.SlowConsumers = after.SlowConsumers - before.SlowConsumers
	res.RateLimited = after.RateLimited - before.RateLimited
	res.Errors = after.Errors - before.Errors
	res.ClosedForCause = after.ClosedForCause - before.ClosedForCause
	res.Witnessed = witnessed.Load()
	res.Kinds = tallyHostiles(hs)
	b.logf("hostile clients closed; RSS %s (baseline %s)", mib(res.AfterRSS), mib(res.BaselineRSS))
	return res, nil
}

// hostileChannel is the channel of well-behaved member i.
func hostileChannel(i, size int) string { return "crowd-" + strconv.Itoa(i/max(size, 1)) }

// members connects the well-behaved members, each joined to its channel
// (even channels over sgc, odd ones over Pusher), and a witness in the
// busy channel; it returns them all and the witness's count of publishes
// received.
func (b *hostileRun) members(ctx context.Context) ([]Client, *atomic.Int64, error) {
	p := b.p
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	clients := make([]Client, p.Members+1)
	var witnessed atomic.Int64
	err := parallel(ctx, len(clients), 32, func(gctx context.Context, i int) error {
		ch, drv := hostileChannel(i, p.ChannelSize), Driver(SGC{})
		if i == p.Members {
			ch = busyChannel
		} else if i/max(p.ChannelSize, 1)%2 == 1 {
			drv = Pusher{}
		}
		var self atomic.Pointer[string]
		joined := make(chan struct{})
		var once sync.Once
		h := &Handler{Join: func(_, member string) {
			if id := self.Load(); id != nil && *id == member {
				once.Do(func() { close(joined) })
			}
		}}
		if i == p.Members {
			h.Message = func(string, []byte) { witnessed.Add(1) }
		}
		c, err := drv.Dial(gctx, b.srv.target, nil, "member-"+strconv.Itoa(i), h)
		if err != nil {
			return err
		}
		clients[i] = c
		id := c.ID()
		self.Store(&id)
		if err := c.Join(ch); err != nil {
			return err
		}
		select {
		case <-joined:
			return nil
		case <-gctx.Done():
			return fmt.Errorf("member %d: join of %s not confirmed: %w", i, ch, gctx.Err())
		}
	})
	var out []Client
	for _, c := range clients {
		if c != nil {
			out = append(out, c)
		}
	}
	return out, &witnessed, err
}

// dialHostiles connects PerKind hostile clients of each kind, each set up
// and, but for the one that acknowledges once, no longer reading.
func (b *hostileRun) dialHostiles(ctx context.Context) ([]*hostile, error) {
	p := b.p
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	base := strings.TrimSuffix(b.srv.target, "/")
	hs := make([]*hostile, len(hostileKinds)*p.PerKind)
	err := parallel(ctx, len(hs), 16, func(gctx context.Context, i int) error {
		kind := hostileKinds[i/p.PerKind]
		var h *hostile
		var err error
		if kind == kindResub {
			h, err = dialHostile(gctx, kind, base+"/app/"+PusherAppKey+"?protocol=7&client=rollcall-bench&version=1")
		} else {
			h, err = dialHostile(gctx, kind, base+"/", sgcwire.Subprotocol)
		}
		if err != nil {
			return err
		}
		hs[i] = h
		switch kind {
		case kindMembers:
			return h.joinSGC(deadline, hostileChannel(0, p.ChannelSize), false)
		case kindSlow:
			return h.joinSGC(deadline, busyChannel, false)
		case kindAckOnce:
			return h.joinSGC(deadline, busyChannel, true)
		default:
			return h.establishPusher(deadline)
		}
	})
	return slices.DeleteFunc(hs, func(h *hostile) bool { return h == nil }), err
}

// parallel calls fn for 0..n-1, at most limit at once, and returns the
// first error; the context fn gets is canceled after it.
func parallel(ctx context.Context, n, limit int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	var first atomic.Pointer[error]
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil && first.CompareAndSwap(nil, &err) {
				cancel()
			}
		})
	}
	wg.Wait()
	if err := first.Load(); err != nil {
		return *err
	}
	return nil
}

// publish posts Payload-byte publishes into the busy channel at
// PublishRate until stop is closed, and returns how many the server took.
func (b *hostileRun) publish(ctx context.Context, stop <-chan struct{}) int64 {
	text := strings.Repeat("x", max(b.p.Payload, 1))
	body, _ := json.Marshal(map[string]string{"channel": busyChannel, "text": text})
	const workers = 4
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			t := time.NewTicker(time.Duration(float64(time.Second) * workers / b.p.PublishRate))
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				if b.api(ctx, http.MethodPost, "/api/publish", string(body), nil) == nil {
					ok.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return ok.Load()
}

// api calls the server's HTTP API and decodes the answer into v (nil:
// discarded).
func (b *hostileRun) api(ctx context.Context, method, path, body string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, b.srv.base()+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.p.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if v == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (b *hostileRun) apiStats(ctx context.Context) (apiStats, error) {
	var st apiStats
	err := b.api(ctx, http.MethodGet, "/api/stats", "", &st)
	return st, err
}

// awaitConnections waits until the server has n connections open.
func (b *hostileRun) awaitConnections(ctx context.Context, n int64) error {
	ctx, cancel := context.WithTimeout(ctx, b.p.Timeout)
	defer cancel()
	for {
		st, err := b.apiStats(ctx)
		if err == nil && st.Connections == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server still holds %d connections, want %d: %w", st.Connections, n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// rss is the server's resident memory now, 0 when unknown.
func (b *hostileRun) rss() int64 {
	if b.srv.pid == 0 {
		return 0
	}
	ps, err := SampleProc(b.srv.pid)
	if err != nil {
		return 0
	}
	return ps.RSS
}

// quietRSS is the server's RSS after the settle pause and a collection
// that returns memory to the OS (the first such answer thrown away, as
// settledStats does).
func (b *hostileRun) quietRSS(ctx context.Context) (int64, ServerStats) {
	time.Sleep(b.p.Settle)
	var st ServerStats
	for range 2 {
		st, _ = FetchStats(ctx, b.srv.base(), true)
	}
	return b.rss(), st
}

// sampleRSS keeps the highest RSS seen in peak until stop is closed.
func (b *hostileRun) sampleRSS(stop <-chan struct{}, peak *atomic.Int64) {
	t := time.NewTicker(rssEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if r := b.rss(); r > peak.Load() {
				peak.Store(r)
			}
		}
	}
}

// tallyHostiles sums the hostile clients by kind.
func tallyHostiles(hs []*hostile) []HostileKind {
	var out []HostileKind
	for _, kind := range hostileKinds {
		k := HostileKind{Kind: kind, Ends: map[string]int{}}
		for _, h := range hs {
			if h.kind != kind {
				continue
			}
			end, limited := h.ended()
			k.Clients++
			k.Sent += h.sent.Load()
			k.Ends[end]++
			k.Limited += limited
		}
		out = append(out, k)
	}
	return out
}

// what says what the clients of kind do.
func (p *HostileParams) what(kind string) string {
	switch kind {
	case kindMembers:
		return fmt.Sprintf("get@members of a %d-member channel, %g/s each, never read", p.ChannelSize, p.HostileRate)
	case kindSlow:
		return fmt.Sprintf("in %q (%s/s published), never read", busyChannel, mib(int64(p.PublishRate*float64(p.Payload))))
	case kindAckOnce:
		return fmt.Sprintf("in %q, acknowledged once, read everything", busyChannel)
	default:
		return fmt.Sprintf("signed subscribe to a %d-member presence channel, %g/s each, never read", p.ChannelSize, p.HostileRate)
	}
}

func (r *HostileResult) write(w io.Writer, p HostileParams) error {
	fmt.Fprintf(w, "rollcall bench hostile: %d well-behaved members (channels of %d, sgc and Pusher), %d hostile clients of each kind for %v, --ack (%s)\n\n",
		p.Members, p.ChannelSize, p.PerKind, p.Duration, machine())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "kind\tclients\twhat they did\tframes sent\trate-limit errors read\thow they ended")
	for _, k := range r.Kinds {
		var ends []string
		for end, n := range k.Ends {
			ends = append(ends, fmt.Sprintf("%d× %s", n, end))
		}
		slices.Sort(ends)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\n", k.Kind, k.Clients, p.what(k.Kind), k.Sent, k.Limited, strings.Join(ends, "; "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	hostiles := int64(len(hostileKinds) * p.PerKind)
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "server RSS, baseline (members only)\t%s\t\n", mib(r.BaselineRSS))
	fmt.Fprintf(tw, "server RSS, peak with the hostile clients\t%s\t+%s; budget %d × %s = %s\n",
		mib(r.PeakRSS), mib(r.PeakRSS-r.BaselineRSS), hostiles, mib(p.Budget), mib(hostiles*p.Budget))
	fmt.Fprintf(tw, "server RSS, after they closed (gc)\t%s\t%+.1f%% of the baseline (limit +%.0f%%)\n",
		mib(r.AfterRSS), pct(r.AfterRSS, r.BaselineRSS), p.Tolerance*100)
	fmt.Fprintf(tw, "server heap in use, baseline → after\t%s → %s\tgoroutines %d → %d, runtime total (Sys) %s → %s\n",
		mib(int64(r.Baseline.HeapInuse)), mib(int64(r.After.HeapInuse)), r.Baseline.Goroutines, r.After.Goroutines, mib(int64(r.Baseline.Sys)), mib(int64(r.After.Sys)))
	fmt.Fprintf(tw, "runtime memory besides the heap, baseline → after\t\tstacks %s → %s, span structures %s → %s, GC metadata %s → %s, other %s → %s\n",
		mib(int64(r.Baseline.StackSys)), mib(int64(r.After.StackSys)), mib(int64(r.Baseline.MSpanSys)), mib(int64(r.After.MSpanSys)),
		mib(int64(r.Baseline.GCSys)), mib(int64(r.After.GCSys)), mib(int64(r.Baseline.OtherSys)), mib(int64(r.After.OtherSys)))
	fmt.Fprintf(tw, "server counters over the run\t\tslow-consumer closes +%d, closed for cause +%d, rate-limited frames +%d, error frames +%d\n",
		r.SlowConsumers, r.ClosedForCause, r.RateLimited, r.Errors)
	fmt.Fprintf(tw, "busy-channel witness (well-behaved)\t\treceived %d of %d publishes\n", r.Witnessed, r.Published)
	return tw.Flush()
}

func pct(v, base int64) float64 {
	if base == 0 {
		return 0
	}
	return (float64(v) - float64(base)) / float64(base) * 100
}

// mib formats a byte count in MiB.
func mib(n int64) string { return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB" }
