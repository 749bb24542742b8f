package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/pprof"
	"sync"
	"time"
)

// A scenario runs in several workers, each with its share of the
// connections. Workers and the coordinator meet at phases: a worker
// reports a phase (with a partial result) and waits for the coordinator,
// who waits for every worker, measures the server, and releases them with
// the next step's orders. The same JSON-lines protocol links the
// coordinator to worker goroutines (small runs, tests) and to worker
// processes (large runs: a process here may hold at most 20,000 sockets).

// order is what the coordinator sends a worker: first the Params, then
// one release per phase.
type order struct {
	Params *Params `json:"params,omitempty"`
	// Rate is the next step's rate (fanout: publishes per second in all).
	Rate float64 `json:"rate,omitempty"`
	// Start is when the step starts (Unix nanoseconds), for times measured
	// across processes.
	Start int64 `json:"start,omitempty"`
	// Stop ends the scenario early.
	Stop bool `json:"stop,omitempty"`
	// Victim is the index of the node the crash kills, and Victims the
	// ids of its members.
	Victim  int      `json:"victim,omitempty"`
	Victims []string `json:"victims,omitempty"`
}

// report is what a worker sends at a phase.
type report struct {
	Phase  string  `json:"phase"`
	Result *Result `json:"result,omitempty"`
	Err    string  `json:"err,omitempty"`
}

// link is a worker's end of the protocol.
type link struct {
	enc *json.Encoder
	dec *json.Decoder
}

// sync reports phase with r and waits for the coordinator's release.
func (l *link) sync(phase string, r *Result) (order, error) {
	if err := l.enc.Encode(report{Phase: phase, Result: r}); err != nil {
		return order{}, fmt.Errorf("worker: report %s: %w", phase, err)
	}
	var o order
	if err := l.dec.Decode(&o); err != nil {
		return o, fmt.Errorf("worker: wait after %s: %w", phase, err)
	}
	if o.Stop {
		return o, errStopped
	}
	return o, nil
}

var errStopped = errors.New("stopped by the coordinator")

// WorkerEnv marks a process started as a bench worker.
const WorkerEnv = "ROLLCALL_BENCH_WORKER"

// ProfileEnv, when set to a path, makes each worker process write a CPU
// profile of its part to PATH.N (N: the worker's index).
const ProfileEnv = "ROLLCALL_BENCH_CPUPROFILE"

// ServeWorker runs one worker on in/out: it reads its Params, runs its part
// of the scenario and reports. The rollcall binary calls it when started
// as a worker (`rollcall bench-worker`).
func ServeWorker(ctx context.Context, in io.Reader, out io.Writer) error {
	l := &link{enc: json.NewEncoder(out), dec: json.NewDecoder(bufio.NewReader(in))}
	var o order
	if err := l.dec.Decode(&o); err != nil || o.Params == nil {
		return fmt.Errorf("worker: no parameters on stdin: %v", err)
	}
	if path := os.Getenv(ProfileEnv); path != "" {
		// Profile this worker: the generator must stay cheaper than the
		// server it measures, and this shows where its time goes.
		f, err := os.Create(fmt.Sprintf("%s.%d", path, o.Params.Worker))
		if err != nil {
			return fmt.Errorf("worker: profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("worker: profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	err := runPart(ctx, *o.Params, l)
	if err != nil && !errors.Is(err, errStopped) {
		_ = l.enc.Encode(report{Phase: "error", Err: err.Error()})
	}
	return err
}

// member is the coordinator's end of one worker.
type member struct {
	enc  *json.Encoder
	dec  *json.Decoder
	wait func() error // waits for the worker to end
	kill func()
}

// fleet is the coordinator's view of its workers.
type fleet struct {
	workers []*member
}

// startFleet starts p.Workers workers: processes running exe args (with
// WorkerEnv set) when exe is given, goroutines otherwise. pin, if not
// empty, is a CPU list for taskset.
func startFleet(ctx context.Context, p Params, exe []string, pin string) (*fleet, error) {
	f := &fleet{}
	for i := range p.Workers {
		wp := p
		wp.Worker = i
		var m *member
		var err error
		if len(exe) > 0 {
			m, err = startProcess(ctx, exe, pin)
		} else {
			m = startGoroutine(ctx)
		}
		if err != nil {
			f.stop()
			return nil, err
		}
		f.workers = append(f.workers, m)
		if err := m.enc.Encode(order{Params: &wp}); err != nil {
			f.stop()
			return nil, fmt.Errorf("starting worker %d: %w", i, err)
		}
	}
	return f, nil
}

func startGoroutine(ctx context.Context) *member {
	toW, fromC := io.Pipe()
	toC, fromW := io.Pipe()
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		err := ServeWorker(ctx, toW, fromW)
		fromW.CloseWithError(io.EOF)
		toW.Close()
		done <- err
	}()
	var once sync.Once
	var werr error
	return &member{
		enc: json.NewEncoder(fromC), dec: json.NewDecoder(toC),
		wait: func() error { once.Do(func() { werr = <-done }); return werr },
		kill: func() { cancel(); fromC.Close(); toC.Close() },
	}
}

func startProcess(ctx context.Context, exe []string, pin string) (*member, error) {
	args := pinned(pin, exe)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), WorkerEnv+"=1")
	dieWithBench(cmd)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting worker process: %w", err)
	}
	var once sync.Once
	var werr error
	wait := func() error {
		once.Do(func() { in.Close(); werr = cmd.Wait() })
		return werr
	}
	return &member{
		enc: json.NewEncoder(in), dec: json.NewDecoder(bufio.NewReader(out)),
		wait: wait,
		kill: func() { _ = cmd.Process.Kill(); _ = wait() },
	}, nil
}

// barrier waits until every worker has reported phase, and returns their
// results in worker order. A worker's error ends the scenario.
func (f *fleet) barrier(ctx context.Context, phase string, timeout time.Duration) ([]*Result, error) {
	type got struct {
		i   int
		rep report
		err error
	}
	ch := make(chan got, len(f.workers))
	for i, m := range f.workers {
		go func() {
			var r report
			err := m.dec.Decode(&r)
			ch <- got{i, r, err}
		}()
	}
	results := make([]*Result, len(f.workers))
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var errs []error
	for range f.workers {
		select {
		case g := <-ch:
			switch {
			case g.err != nil:
				errs = append(errs, fmt.Errorf("worker %d before %s: %w", g.i, phase, g.err))
			case g.rep.Err != "":
				errs = append(errs, fmt.Errorf("worker %d: %s", g.i, g.rep.Err))
			case g.rep.Phase != phase:
				errs = append(errs, fmt.Errorf("worker %d reported %q, want %q", g.i, g.rep.Phase, phase))
			default:
				results[g.i] = g.rep.Result
			}
		case <-timer.C:
			f.stop()
			return nil, fmt.Errorf("workers did not reach %s within %v", phase, timeout)
		case <-ctx.Done():
			f.stop()
			return nil, ctx.Err()
		}
	}
	if len(errs) > 0 {
		f.stop()
		return nil, errors.Join(errs...)
	}
	return results, nil
}

// release sends o to every worker.
func (f *fleet) release(o order) error {
	for i, m := range f.workers {
		if err := m.enc.Encode(o); err != nil {
			return fmt.Errorf("releasing worker %d: %w", i, err)
		}
	}
	return nil
}

// finish releases the workers after their last phase and waits for them.
func (f *fleet) finish() error {
	var errs []error
	for i, m := range f.workers {
		_ = m.enc.Encode(order{})
		if err := m.wait(); err != nil {
			errs = append(errs, fmt.Errorf("worker %d: %w", i, err))
		}
	}
	return errors.Join(errs...)
}

// stop ends every worker at once.
func (f *fleet) stop() {
	for _, m := range f.workers {
		_ = m.enc.Encode(order{Stop: true})
		m.kill()
	}
}
