package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"time"
)

// The lines by which the servers the bench starts say where they listen;
// the first group is the address.
var (
	rollcallListening   = regexp.MustCompile(`msg="rollcall listening" addr=(\S+)`)
	comparatorListening = regexp.MustCompile(`listening on (\S+)`)
)

// launchTimeout bounds the wait for a started server to report its address.
const launchTimeout = 30 * time.Second

// launchSpec says how to start a child process and when it is up.
type launchSpec struct {
	// name is the process in errors ("rollcall", "n2", "redis-server").
	name string
	// args are the command and its arguments.
	args []string
	// pin, if set, is a CPU list to run the process on with taskset.
	pin string
	// listening, if set, matches the line of the process's output (stdout
	// or stderr) that reports its address, in its first group; launch
	// waits for it. Nil: launch returns once the process has started.
	listening *regexp.Regexp
	// line, if set, sees every line of the process's output, in order, on
	// one goroutine.
	line func(string)
}

// process is a child process the bench started and owns: a server under
// test, a cluster node, a comparator node, a redis-server. Its output is
// read to the end, so it never blocks on a full pipe.
type process struct {
	name string
	addr string // host:port it listens on (reported: launchSpec.listening)
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited
}

// launch starts the process of s and, when s.listening is set, waits until
// it reports its address; a process that exits or stays silent first is
// killed and reported.
func launch(ctx context.Context, s launchSpec) (*process, error) {
	args := pinned(s.pin, s.args)
	cmd := exec.Command(args[0], args[1:]...)
	dieWithBench(cmd)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", s.name, err)
	}
	p := &process{name: s.name, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); pw.Close(); close(p.done) }()
	found := make(chan string, 1)
	silent := make(chan struct{}) // closed when the output ended
	go func() {
		defer close(silent)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if s.line != nil {
				s.line(sc.Text())
			}
			if s.listening == nil {
				continue
			}
			if m := s.listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr) // a line too long for the scanner
	}()
	if s.listening == nil {
		return p, nil
	}
	timer := time.NewTimer(launchTimeout)
	defer timer.Stop()
	var err error
	select {
	case p.addr = <-found:
		return p, nil
	case <-silent:
		select {
		case p.addr = <-found:
			return p, nil
		default:
		}
		err = fmt.Errorf("%s exited before it reported its address", s.name)
	case <-timer.C:
		err = fmt.Errorf("%s did not report its address within %v", s.name, launchTimeout)
	case <-ctx.Done():
		err = fmt.Errorf("%s did not report its address: %w", s.name, ctx.Err())
	}
	p.kill()
	return nil, err
}

// pid is the process id.
func (p *process) pid() int { return p.cmd.Process.Pid }

// kill ends the process with SIGKILL (kill -9) and waits for it; it does
// nothing to a process that has exited.
func (p *process) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop interrupts the process (SIGINT), waits up to grace for it to exit,
// and kills it after that.
func (p *process) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.kill()
	}
}

// pinned is args run on the CPUs of the list pin with taskset, or args
// when pin is empty.
func pinned(pin string, args []string) []string {
	if pin == "" {
		return args
	}
	return append([]string{"taskset", "-c", pin}, args...)
}

// freePorts returns n distinct TCP ports free on 127.0.0.1 just now.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
