package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is one invocation of `rollcall bench`.
type Config struct {
	Params
	// Servers are the kinds to run, in order: "rollcall", "centrifuge".
	Servers []string
	// Target is a running rollcall server (ws://127.0.0.1:PORT/); empty:
	// start one. PID is its process, for memory and CPU figures.
	Target string
	PID    int
	// Comparator is the comparator binary (bench/centrifuge), started when
	// "centrifuge" is among Servers.
	Comparator string
	// PusherComparator is the folder of the Pusher comparator, soketi
	// (bench/soketi, after npm ci there), started with node when "soketi"
	// is among Servers.
	PusherComparator string
	// Exe runs this binary: Exe + "serve ..." starts rollcall, Exe +
	// "bench-worker" a worker process. Without it workers are goroutines
	// and Target is required.
	Exe []string
	// Rates are the fanout steps, in publishes per second in all.
	Rates []float64
	// Runs is how many times each server runs the scenario (alternating);
	// the table shows medians.
	Runs int
	// Pin runs servers on CPU 0 and workers on CPU 1 (taskset) when the
	// machine has two or more.
	Pin bool
	// ServeArgs are added to `rollcall serve` when bench starts it.
	ServeArgs []string
	// Settle is the pause before measuring a quiet server.
	Settle time.Duration
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// defaults are each scenario's sizes when nothing says otherwise.
var defaults = map[string]Params{
	"idle":      {Conns: 1000, ChannelSize: 100, Duration: 10 * time.Second},
	"fanout":    {Channels: 10, Subscribers: 100, Publishers: 10, Payload: 100, Duration: 5 * time.Second},
	"joinstorm": {Conns: 500},
	"churn":     {Rate: 50, Lifetime: time.Second, Channels: 10, Duration: 30 * time.Second, Warmup: 30 * time.Second},
	"biglist":   {Conns: 15000, Duration: time.Second},
}

// Defaults returns scenario's default Params, and whether there is such a
// scenario (idle, fanout, joinstorm, churn or biglist).
func Defaults(scenario string) (Params, bool) {
	p, ok := defaults[scenario]
	p.Scenario = scenario
	p.Timeout = 2 * time.Minute
	return p, ok
}

// workersFor is the default number of workers for p: one per 8,000
// connections (a process here may hold at most 20,000 sockets).
func workersFor(p Params) int {
	conns := max(p.Conns, p.Channels*p.Subscribers+p.Publishers)
	return max(1, (conns+7999)/8000)
}

// CheckTarget refuses any target outside the loopback network: the bench
// opens thousands of connections and must never aim them elsewhere.
func CheckTarget(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("target %q: %w", target, err)
	}
	if u.Scheme != "ws" {
		return fmt.Errorf("target %q: want a ws:// URL", target)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q is not on loopback: rollcall bench only drives 127.0.0.0/8, ::1 or localhost", target)
	}
	return nil
}

// Run runs cfg's scenario against each server cfg.Runs times, alternating
// servers, and returns the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Target != "" {
		if err := CheckTarget(cfg.Target); err != nil {
			return nil, err
		}
	}
	cfg.Runs = max(cfg.Runs, 1)
	if cfg.Workers == 0 {
		cfg.Workers = workersFor(cfg.Params)
	}
	rep := &Report{Scenario: cfg.Scenario, Params: cfg.Params, Machine: machine(), Started: time.Now()}
	if cfg.Scenario == "fanout" {
		rep.Rates = cfg.Rates
	}
	for run := range cfg.Runs {
		for _, name := range cfg.Servers {
			fmt.Fprintf(cfg.Log, "== %s: %s, run %d of %d\n", cfg.Scenario, name, run+1, cfg.Runs)
			out, err := runOnce(ctx, cfg, name)
			if err != nil {
				return rep, fmt.Errorf("%s on %s: %w", cfg.Scenario, name, err)
			}
			out.Run = run + 1
			rep.Outcomes = append(rep.Outcomes, *out)
		}
	}
	return rep, nil
}

func (c *Config) pins() (server, workers string) {
	if !c.Pin || runtime.NumCPU() < 2 {
		return "", ""
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return "", ""
	}
	return "0", "1"
}

// runOnce starts (or reaches) the server, runs the scenario and stops it.
func runOnce(ctx context.Context, cfg Config, name string) (*Outcome, error) {
	serverPin, workerPin := cfg.pins()
	var srv *serverProc
	var err error
	switch {
	case (name == "rollcall" || name == "rollcall-diffs") && cfg.Target != "":
		srv = &serverProc{target: cfg.Target, pid: cfg.PID, stop: func() {}} // not ours to stop
	case name == "rollcall" || name == "rollcall-diffs":
		if len(cfg.Exe) == 0 {
			return nil, errors.New("no target and no rollcall binary to start")
		}
		args := append([]string{}, cfg.Exe...)
		args = append(args, "serve", "--addr", "127.0.0.1:0", "--debug", "--no-web", "--log-level", "info",
			"--rate", "1000000", "--burst", "1000000", "--max-channels", "10000")
		args = append(args, cfg.ServeArgs...)
		srv, err = startServer(ctx, launchSpec{name: name, args: args, pin: serverPin, listening: rollcallListening})
	case name == "rollcall-pusher":
		if len(cfg.Exe) == 0 {
			return nil, errors.New("no rollcall binary to start")
		}
		yaml, remove, cerr := pusherConfig()
		if cerr != nil {
			return nil, cerr
		}
		defer remove()
		args := append([]string{}, cfg.Exe...)
		args = append(args, "serve", "--addr", "127.0.0.1:0", "--debug", "--no-web", "--log-level", "info",
			"--config", yaml, "--max-channels", "10000", "--max-message-size", "1048576")
		args = append(args, cfg.ServeArgs...)
		srv, err = startServer(ctx, launchSpec{name: name, args: args, pin: serverPin, listening: rollcallListening})
	case name == "centrifuge":
		if cfg.Comparator == "" {
			return nil, errors.New("no comparator binary: build bench/centrifuge and pass --comparator")
		}
		srv, err = startServer(ctx, launchSpec{name: name, args: []string{cfg.Comparator, "--addr", "127.0.0.1:0"}, pin: serverPin, listening: comparatorListening})
	case name == "soketi":
		srv, err = startSoketi(ctx, serverPin, cfg.PusherComparator)
	default:
		return nil, fmt.Errorf("unknown server %q: want rollcall, rollcall-diffs, rollcall-pusher, centrifuge or soketi", name)
	}
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	p := cfg.Params
	p.Driver, p.Target = name, srv.target
	if p.Scenario == "biglist" {
		// One channel of counts-only members: they are members, but hear
		// no member changes, only a paced count.
		p.Driver, p.ChannelSize = "rollcall-counts", p.Conns
	}
	var exe []string
	if len(cfg.Exe) > 0 {
		exe = append(append([]string{}, cfg.Exe...), "bench-worker")
	}
	s := &session{cfg: cfg, p: p, srv: srv, exe: exe, pin: workerPin, out: &Outcome{Server: name}}
	switch p.Scenario {
	case "idle":
		err = s.idle(ctx)
	case "fanout":
		err = s.fanout(ctx)
	case "joinstorm":
		err = s.joinstorm(ctx)
	case "churn":
		err = s.churn(ctx)
	case "biglist":
		err = s.biglist(ctx)
	default:
		err = fmt.Errorf("unknown scenario %q: want idle, fanout, joinstorm, churn or biglist", p.Scenario)
	}
	return s.out, err
}

// serverProc is a server under test.
type serverProc struct {
	target string // ws://host:port/
	pid    int    // 0: unknown (no /proc figures)
	stop   func()
}

// base is the server's http:// address.
func (s *serverProc) base() string {
	return "http" + strings.TrimPrefix(strings.TrimSuffix(s.target, "/"), "ws")
}

// startServer launches s, a server that reports its address, and returns
// it as the server under test; stopping it interrupts it, and kills it
// after 15 s.
func startServer(ctx context.Context, s launchSpec) (*serverProc, error) {
	p, err := launch(ctx, s)
	if err != nil {
		return nil, err
	}
	return &serverProc{target: "ws://" + p.addr + "/", pid: p.pid(), stop: func() { p.stop(15 * time.Second) }}, nil
}

// session is one server's run of the scenario.
type session struct {
	cfg Config
	p   Params
	srv *serverProc
	exe []string
	pin string
	out *Outcome
}

func (s *session) add(name, unit string, v float64, better string) {
	s.out.Figures = append(s.out.Figures, Figure{Name: name, Unit: unit, Value: v, Better: better})
}

func (s *session) note(format string, a ...any) {
	s.out.Notes = append(s.out.Notes, fmt.Sprintf(format, a...))
}

func (s *session) logf(format string, a ...any) {
	fmt.Fprintf(s.cfg.Log, "   "+format+"\n", a...)
}

// sample reads the server's /proc figures, or zero when its pid is unknown.
func (s *session) sample() ProcSample {
	if s.srv.pid == 0 {
		return ProcSample{}
	}
	ps, err := SampleProc(s.srv.pid)
	if err != nil {
		s.note("no /proc figures: %v", err)
	}
	return ps
}

// stats fetches the server's runtime figures after a GC; it notes and
// returns zero on failure.
func (s *session) stats(ctx context.Context) ServerStats {
	st, err := FetchStats(ctx, s.srv.base(), true)
	if err != nil {
		s.note("%v", err)
	}
	return st
}

// start starts the workers and waits until they report "ready"; the
// caller stops the fleet (stop after finish is harmless).
func (s *session) start(ctx context.Context) (*fleet, *Result, error) {
	s.p.Workers = max(s.p.Workers, 1)
	f, err := startFleet(ctx, s.p, s.exe, s.pin)
	if err != nil {
		return nil, nil, err
	}
	ready, err := f.barrier(ctx, "ready", s.p.Timeout+time.Minute)
	if err != nil {
		return nil, nil, err
	}
	return f, sum(ready), nil
}

func (s *session) errors(r *Result) {
	s.add("errors", "", float64(r.Errors), "lower")
	if r.Sample != "" {
		s.note("first error: %s", r.Sample)
	}
}

func (s *session) idle(ctx context.Context) error {
	base := s.stats(ctx)
	base0 := s.sample()
	f, r, err := s.start(ctx)
	if err != nil {
		return err
	}
	defer f.stop()
	s.logf("%d connections joined in %v", r.Conns, r.Elapsed.Round(time.Millisecond))
	time.Sleep(s.cfg.Settle)
	st := s.stats(ctx)
	p0 := s.sample()
	if err := f.release(order{}); err != nil {
		return err
	}
	idled, err := f.barrier(ctx, "idled", s.p.Duration+time.Minute)
	if err != nil {
		return err
	}
	p1 := s.sample()
	quiet := sum(idled)
	if err := f.finish(); err != nil {
		return err
	}
	n := float64(max(r.Conns, 1))
	s.add("connections", "", float64(r.Conns), "")
	s.add("connect+join rate", "conn/s", float64(r.Conns)/r.Elapsed.Seconds(), "higher")
	if s.srv.pid != 0 {
		s.add("server RSS per connection", "KB", float64(p0.RSS-base0.RSS)/n/1024, "lower")
		cpu := float64((p1.CPU - p0.CPU).Microseconds()) / n / s.p.Duration.Seconds()
		s.add("server CPU per connection", "µs/s", cpu, "lower")
	}
	s.add("server heap per connection", "KB", (float64(st.HeapInuse)-float64(base.HeapInuse))/n/1024, "lower")
	s.add("server goroutines per connection", "", float64(st.Goroutines-base.Goroutines)/n, "lower")
	s.add("frames received while idle", "per conn", float64(quiet.Frames)/n, "")
	r.add(quiet)
	s.errors(r)
	return nil
}

func (s *session) fanout(ctx context.Context) error {
	f, r, err := s.start(ctx)
	if err != nil {
		return err
	}
	defer f.stop()
	s.logf("%d connections joined in %v", r.Conns, r.Elapsed.Round(time.Millisecond))
	total := &Result{}
	total.add(r)
	best := 0.0
	for _, rate := range s.cfg.Rates {
		time.Sleep(s.cfg.Settle)
		p0 := s.sample()
		start := time.Now().Add(200 * time.Millisecond)
		if err := f.release(order{Rate: rate, Start: start.UnixNano()}); err != nil {
			return err
		}
		step, err := f.barrier(ctx, "step", s.p.Duration+s.p.Timeout+time.Minute)
		if err != nil {
			return err
		}
		p1 := s.sample()
		st := sum(step)
		total.add(&Result{Errors: st.Errors, Sample: st.Sample})
		expected := st.Sent * int64(s.p.Subscribers)
		lost := expected - (st.Received - st.Dups)
		delivered := float64(st.Received-st.Dups) / s.p.Duration.Seconds()
		h := st.Latency
		if h == nil {
			h = &Histogram{}
		}
		at := fmt.Sprintf(" @ %g/s", rate)
		s.add("delivered"+at, "msg/s", delivered, "higher")
		s.add("p50 latency"+at, "ms", ms(h.Quantile(0.5)), "lower")
		s.add("p90 latency"+at, "ms", ms(h.Quantile(0.9)), "lower")
		s.add("p99 latency"+at, "ms", ms(h.Quantile(0.99)), "lower")
		s.add("max latency"+at, "ms", ms(time.Duration(h.Max)), "lower")
		s.add("lost"+at, "msg", float64(lost), "lower")
		s.add("duplicated"+at, "msg", float64(st.Dups), "lower")
		if s.srv.pid != 0 {
			cpu := p1.CPU - p0.CPU
			s.add("server CPU"+at, "%", 100*cpu.Seconds()/s.p.Duration.Seconds(), "lower")
			// What each delivery cost the server: the figure that still
			// compares the servers when the generator, not they, set the
			// limit.
			if n := st.Received - st.Dups; n > 0 {
				s.add("server CPU per delivery"+at, "µs", float64(cpu.Microseconds())/float64(n), "lower")
			}
		}
		// The generator's CPU tells whether a step measured the server or
		// the generator: near 100% of its core, latency is the generator's.
		gen := 100 * st.CPU.Seconds() / s.p.Duration.Seconds()
		s.add("generator CPU"+at, "%", gen, "")
		s.logf("rate %g/s: sent %d, delivered %.0f/s, p99 %.2f ms, lost %d, dup %d, errors %d, generator CPU %.0f%%",
			rate, st.Sent, delivered, ms(h.Quantile(0.99)), lost, st.Dups, st.Errors, gen)
		if lost == 0 && st.Dups == 0 && h.Quantile(0.99) < 50*time.Millisecond && st.Errors == 0 {
			best = max(best, delivered)
		}
	}
	if err := f.finish(); err != nil {
		return err
	}
	s.add("best delivered with p99 < 50 ms, no loss", "msg/s", best, "higher")
	s.errors(total)
	return nil
}

func (s *session) joinstorm(ctx context.Context) error {
	p0, t0 := s.sample(), time.Now()
	f, r, err := s.start(ctx)
	if err != nil {
		return err
	}
	defer f.stop()
	connected, p1 := time.Since(t0), s.sample()
	s.logf("%d members connected; storming one channel", r.Conns)
	time.Sleep(s.cfg.Settle)
	p2 := s.sample()
	if err := f.release(order{Start: time.Now().Add(200 * time.Millisecond).UnixNano()}); err != nil {
		return err
	}
	res, err := f.barrier(ctx, "stormed", s.p.Timeout+time.Minute)
	if err != nil {
		return err
	}
	p3 := s.sample()
	st := sum(res)
	if err := f.finish(); err != nil {
		return err
	}
	converged := st.Elapsed > 0 && st.Short == 0
	s.add("members", "", float64(r.Conns), "")
	if converged {
		s.add("time to converge", "ms", ms(st.Elapsed), "lower")
	} else {
		s.note("did not converge within %v: %d member entries missing from the views", s.p.Timeout, st.Short)
		s.add("time to converge", "ms", -1, "lower")
	}
	s.add("frames delivered", "", float64(st.Frames), "lower")
	s.add("bytes delivered", "MB", float64(st.Bytes)/1e6, "lower")
	// Connecting is where --member-events all costs most: every join is
	// told to every member. (It includes starting the worker processes.)
	s.add("time to connect and join", "ms", ms(connected), "lower")
	if s.srv.pid != 0 {
		s.add("server CPU, connect and join", "ms", ms(p1.CPU-p0.CPU), "lower")
		s.add("server CPU, storm", "ms", ms(p3.CPU-p2.CPU), "lower")
	}
	// The views are built by the generator on the same machine: its CPU
	// says how much of the time to converge was its own.
	s.add("generator CPU, storm", "ms", ms(st.CPU), "")
	s.add("missing from views", "entries", float64(st.Short), "lower")
	s.add("views unlike the server's list", "", float64(st.Mismatch), "lower")
	if s.p.Driver == "rollcall-diffs" {
		s.add("diffs past their view's version", "", float64(st.Gaps), "lower")
	}
	r.add(&Result{Errors: st.Errors, Sample: st.Sample})
	s.errors(r)
	return nil
}

// churn measures what a server keeps after connections have come and gone.
// Like most leak checks it compares against a warmed-up server, not a fresh
// one: a fresh server has not yet grown what it keeps on purpose (its maps
// at their high-water mark, the runtime's goroutine and thread records,
// pools and caches), and at rollcall's size, under 1 MB of heap, that alone
// is tens of percent. So the same churn runs first for Warmup; "before" is
// measured after it and "after" after Duration, both the same way (see
// settledStats). The fresh server's figures are reported too.
func (s *session) churn(ctx context.Context) error {
	fresh := s.settledStats(ctx)
	f, _, err := s.start(ctx)
	if err != nil {
		return err
	}
	defer f.stop()
	if err := f.release(order{}); err != nil {
		return err
	}
	before := fresh
	warm := &Result{}
	if s.p.Warmup > 0 {
		res, err := f.barrier(ctx, "warmed", s.p.Warmup+s.p.Timeout+time.Minute)
		if err != nil {
			return err
		}
		warm = sum(res)
		s.logf("warm-up: %d connections opened and closed in %v", warm.Cycles, warm.Elapsed.Round(time.Millisecond))
		time.Sleep(s.cfg.Settle)
		before = s.settledStats(ctx)
		if err := f.release(order{}); err != nil {
			return err
		}
	}
	res, err := f.barrier(ctx, "churned", s.p.Duration+s.p.Timeout+time.Minute)
	if err != nil {
		return err
	}
	st := sum(res)
	if err := f.finish(); err != nil {
		return err
	}
	time.Sleep(s.cfg.Settle)
	after := s.settledStats(ctx)
	left, err := s.leftBehind(ctx)
	if err != nil {
		return err
	}
	s.add("connections opened and closed", "", float64(st.Cycles), "")
	s.add("rate achieved", "conn/s", float64(st.Cycles)/s.p.Duration.Seconds(), "")
	if s.p.Warmup > 0 {
		s.add("connections in the warm-up", "", float64(warm.Cycles), "")
	}
	s.add("server goroutines fresh", "", float64(fresh.Goroutines), "")
	s.add("server goroutines before", "", float64(before.Goroutines), "")
	s.add("server goroutines after", "", float64(after.Goroutines), "lower")
	s.add("server heap fresh", "KB", float64(fresh.HeapInuse)/1024, "")
	s.add("server heap before", "KB", float64(before.HeapInuse)/1024, "")
	s.add("server heap after", "KB", float64(after.HeapInuse)/1024, "lower")
	if before.HeapInuse > 0 {
		s.add("server heap change", "%", 100*(float64(after.HeapInuse)/float64(before.HeapInuse)-1), "lower")
	}
	s.add("server live heap before", "KB", float64(before.HeapAlloc)/1024, "")
	s.add("server live heap after", "KB", float64(after.HeapAlloc)/1024, "lower")
	if before.HeapAlloc > 0 {
		s.add("server live heap change", "%", 100*(float64(after.HeapAlloc)/float64(before.HeapAlloc)-1), "lower")
	}
	s.add("members left behind", "", float64(left), "lower")
	total := &Result{}
	total.add(warm)
	total.add(st)
	s.errors(total)
	return nil
}

// settledStats reads a quiet server's figures for a before-and-after
// comparison. One collection is not enough to read the heap right after
// load: sync.Pool keeps what it holds through one collection (in its victim
// cache) and frees it at the next, and the pools of net/http, of the
// WebSocket library and of rollcall's transport hold buffers from the last
// connections. So the first answer (?gc=1 collects and returns memory to
// the OS) is thrown away, and the figures are the median of the next three,
// each after its own collection: the heap in use counts whole spans, and
// the spans each processor caches for the stats request's own allocations
// add or take a few 8 KB pages from one reading to the next. Measured on a
// quiet rollcall after churn: the first reading was 4-7 % above the next
// ones, which agreed within 2 %.
func (s *session) settledStats(ctx context.Context) ServerStats {
	if _, err := FetchStats(ctx, s.srv.base(), true); err != nil {
		s.note("%v", err)
		return ServerStats{}
	}
	var rs [3]ServerStats
	for i := range rs {
		rs[i] = s.stats(ctx)
	}
	med := func(f func(ServerStats) uint64) uint64 {
		v := []uint64{f(rs[0]), f(rs[1]), f(rs[2])}
		slices.Sort(v)
		return v[1]
	}
	return ServerStats{
		Goroutines: int(med(func(r ServerStats) uint64 { return uint64(r.Goroutines) })),
		HeapAlloc:  med(func(r ServerStats) uint64 { return r.HeapAlloc }),
		HeapInuse:  med(func(r ServerStats) uint64 { return r.HeapInuse }),
		HeapSys:    med(func(r ServerStats) uint64 { return r.HeapSys }),
		Sys:        med(func(r ServerStats) uint64 { return r.Sys }),
	}
}

// leftBehind joins each churn channel with a fresh member and counts the
// other members the server still lists there.
func (s *session) leftBehind(ctx context.Context) (int, error) {
	drv := Drivers[s.p.Driver]
	lists := make(chan []string, 1)
	joined := make(chan string, 1)
	var self string
	h := &Handler{
		Members: func(_ string, ids []string) { lists <- ids },
		Join: func(ch, member string) {
			select {
			case joined <- member:
			default:
			}
		},
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := drv.Dial(ctx, s.srv.target, nil, "checker", h)
	if err != nil {
		return 0, fmt.Errorf("leftover check: %w", err)
	}
	defer c.Close()
	self = c.ID()
	left := 0
	for i := range max(s.p.Channels, 1) {
		ch := fmt.Sprintf("churn-%d", i)
		if err := c.Join(ch); err != nil {
			return 0, err
		}
		for m := ""; m != self; {
			select {
			case m = <-joined:
			case <-ctx.Done():
				return 0, fmt.Errorf("leftover check: join %s not confirmed", ch)
			}
		}
		if err := c.Members(ch); err != nil {
			return 0, err
		}
		select {
		case ids := <-lists:
			for _, id := range ids {
				if id != self {
					left++
				}
			}
		case <-ctx.Done():
			return 0, fmt.Errorf("leftover check: no member list for %s", ch)
		}
	}
	return left, nil
}

// biglist: the workers hold Conns counts-only members in one channel; then
// the coordinator's new clients, one at a time, ask for diffs, join the
// channel, and time the member list from the subscribe to its last page.
func (s *session) biglist(ctx context.Context) error {
	f, r, err := s.start(ctx)
	if err != nil {
		return err
	}
	defer f.stop()
	s.logf("%d counts-only members joined in %v", r.Conns, r.Elapsed.Round(time.Millisecond))
	channel := idleChannel(0, s.p.ChannelSize)
	var lat Histogram
	var listed int
	for i := range bigListClients {
		got := make(chan int, 1)
		h := &Handler{List: func(ch string, _ uint64, ids []string) {
			if ch == channel {
				select {
				case got <- len(ids):
				default:
				}
			}
		}}
		c, err := SGC{Diffs: true}.Dial(ctx, s.srv.target, nil, "lister"+strconv.Itoa(i), h)
		if err != nil {
			return fmt.Errorf("biglist: the new client: %w", err)
		}
		start := time.Now()
		if err := c.Join(channel); err != nil {
			c.Close()
			return err
		}
		select {
		case n := <-got:
			lat.Record(time.Since(start))
			listed = n
		case <-time.After(s.p.Timeout):
			c.Close()
			return fmt.Errorf("biglist: no member list within %v", s.p.Timeout)
		case <-ctx.Done():
			c.Close()
			return ctx.Err()
		}
		c.Close()
	}
	if err := f.release(order{}); err != nil {
		return err
	}
	idled, err := f.barrier(ctx, "idled", s.p.Duration+time.Minute)
	if err != nil {
		return err
	}
	if err := f.finish(); err != nil {
		return err
	}
	s.add("members", "", float64(r.Conns), "")
	s.add("members in the list", "", float64(listed), "")
	s.add("subscribe to the last page, median", "ms", ms(lat.Quantile(.5)), "lower")
	s.add("subscribe to the last page, max", "ms", ms(lat.Quantile(1)), "lower")
	r.add(sum(idled))
	s.errors(r)
	return nil
}

// bigListClients is how many new clients biglist times, one after another.
const bigListClients = 5
