package main

// The comparator of `rollcall bench cluster` crash: three Centrifuge nodes
// (bench/centrifuge with --redis) on Centrifuge's Redis broker and Redis
// presence manager, on a redis-server the bench starts for the run.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rollcall/rollcall/internal/bench"
)

// redisProc is a redis-server the bench started on 127.0.0.1.
type redisProc struct {
	addr string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startRedis starts bin on a free loopback port, without persistence, in a
// temporary directory, and waits until it answers PING.
func startRedis(ctx context.Context, bin string) (*redisProc, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, fmt.Errorf("redis-server: %w (Debian: apt-get install -y redis-server; or --redis-server PATH)", err)
	}
	port, err := benchPort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "rollcall-bench-redis-")
	if err != nil {
		return nil, err
	}
	logFile := filepath.Join(dir, "redis.log")
	cmd := exec.Command(path, "--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no",
		"--logfile", logFile, "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	r := &redisProc{addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := redisPing(r.addr); err == nil {
			return r, nil
		} else if time.Now().After(deadline) || ctx.Err() != nil {
			log, _ := os.ReadFile(logFile)
			r.stop()
			return nil, fmt.Errorf("redis-server on %s did not answer PING: %v\n%s", r.addr, err, log)
		}
		select {
		case <-r.done:
			log, _ := os.ReadFile(logFile)
			r.stop()
			return nil, fmt.Errorf("redis-server exited: %v\n%s", cmd.ProcessState, log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// redisPing sends PING (RESP inline command) and expects +PONG.
func redisPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// stop kills the server (it keeps nothing) and removes its directory.
func (r *redisProc) stop() {
	select {
	case <-r.done:
	default:
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	os.RemoveAll(r.dir)
}

// cfNode is one Centrifuge node process of the comparator.
type cfNode struct {
	name string
	addr string // host:port of its HTTP server
	cmd  *exec.Cmd
	done chan struct{}
}

// startCentrifugeNodes starts k comparator nodes c1..ck on the Redis at
// redisAddr and waits until each lists all k in its node info.
func (b *benchCluster) startCentrifugeNodes(ctx context.Context, redisAddr string, k int) ([]*cfNode, func(), error) {
	nodes := make([]*cfNode, k)
	stop := func() {
		for _, n := range nodes {
			if n != nil {
				select {
				case <-n.done:
				default:
					_ = n.cmd.Process.Kill()
					<-n.done
				}
			}
		}
	}
	errs := make(chan error, k)
	for i := range nodes {
		name := fmt.Sprintf("c%d", i+1)
		cmd := exec.Command(b.p.comparator, "--addr", "127.0.0.1:0", "--redis", redisAddr, "--node", name)
		cmd.Stderr = b.log
		out, err := cmd.StdoutPipe()
		if err != nil {
			stop()
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			stop()
			return nil, nil, fmt.Errorf("start the comparator: %w", err)
		}
		n := &cfNode{name: name, cmd: cmd, done: make(chan struct{})}
		nodes[i] = n
		go func() {
			sc := bufio.NewScanner(out)
			if sc.Scan() {
				if addr, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
					n.addr = addr
					errs <- nil
					_, _ = io.Copy(io.Discard, out)
					_ = cmd.Wait()
					close(n.done)
					return
				}
			}
			errs <- fmt.Errorf("comparator %s did not say where it listens", name)
			_, _ = io.Copy(io.Discard, out)
			_ = cmd.Wait()
			close(n.done)
		}()
	}
	for range nodes {
		if err := <-errs; err != nil {
			stop()
			return nil, nil, err
		}
	}
	deadline := time.Now().Add(b.p.convergeMax)
	for _, n := range nodes {
		for {
			names, err := cfNodeNames(n)
			if err == nil && len(names) == k {
				break
			}
			if time.Now().After(deadline) || ctx.Err() != nil {
				stop()
				return nil, nil, fmt.Errorf("comparator %s lists nodes %v (%v), want %d", n.name, names, err, k)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nodes, stop, nil
}

// cfNodeNames asks n for the names in its Centrifuge node info.
func cfNodeNames(n *cfNode) ([]string, error) {
	resp, err := http.Get("http://" + n.addr + "/debug/nodes")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/debug/nodes: %s", resp.Status)
	}
	var v struct {
		Nodes []struct {
			Name string `json:"name"`
		} `json:"nodes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, err
	}
	var names []string
	for _, x := range v.Nodes {
		names = append(names, x.Name)
	}
	slices.Sort(names)
	return names, nil
}

// cfMember is one comparator client with what it has seen.
type cfMember struct {
	c       bench.Client
	id      atomic.Pointer[string] // set once Dial returned
	view    *leaveView
	members chan []string // answers to presence requests (the latest)
}

// crashOnceCentrifuge is crashOnce on three Centrifuge nodes on one Redis:
// the members' clients connect to c1..c3 in turn and subscribe to "room"
// with join/leave; once all are subscribed and Redis lists all of them in
// the channel's presence, one node is killed with SIGKILL, and each
// surviving client's leave pushes are awaited up to --leave-timeout while
// one surviving client asks for the channel's presence every
// crashPollStep.
func (b *benchCluster) crashOnceCentrifuge(ctx context.Context, victim int) (crashTally, error) {
	rd, err := startRedis(ctx, b.p.redisServer)
	if err != nil {
		return crashTally{}, err
	}
	defer rd.stop()
	nodes, stop, err := b.startCentrifugeNodes(ctx, rd.addr, 3)
	if err != nil {
		return crashTally{}, err
	}
	defer stop()
	n := b.p.members
	mem := make([]*cfMember, n)
	var killed atomic.Bool
	var falseCount, subscribed, survivorErrors atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range n {
		m := &cfMember{view: newLeaveView(), members: make(chan []string, 1)}
		mem[i] = m
		h := &bench.Handler{
			Join: func(_, member string) {
				if id := m.id.Load(); id != nil && *id == member {
					subscribed.Add(1)
				}
			},
			Leave: func(_, member string) {
				now := time.Now()
				if !killed.Load() {
					falseCount.Add(1)
				}
				m.view.leave(member, now)
			},
			Members: func(_ string, ids []string) {
				select {
				case <-m.members:
				default:
				}
				m.members <- ids
			},
			Error: func(err error) {
				if !killed.Load() {
					firstErr.CompareAndSwap(nil, err)
				} else if i%3 != victim {
					survivorErrors.Add(1)
				}
			},
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := bench.Centrifuge{}.Dial(ctx, "ws://"+nodes[i%3].addr+"/", nil, "m"+strconv.Itoa(i), h)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			id := c.ID()
			m.id.Store(&id)
			m.c = c
		}()
	}
	wg.Wait()
	defer func() {
		var cw sync.WaitGroup
		for _, m := range mem {
			if m.c != nil {
				cw.Add(1)
				go func() { defer cw.Done(); _ = m.c.Close() }()
			}
		}
		cw.Wait()
	}()
	if err, _ := firstErr.Load().(error); err != nil {
		return crashTally{}, err
	}
	for _, m := range mem {
		if err := m.c.Join("room"); err != nil {
			return crashTally{}, err
		}
	}
	// Every subscription confirmed, and the presence in Redis lists all.
	deadline := time.Now().Add(b.p.convergeMax)
	for subscribed.Load() < int64(n) {
		if err, _ := firstErr.Load().(error); err != nil {
			return crashTally{}, err
		}
		if time.Now().After(deadline) {
			return crashTally{}, fmt.Errorf("%d of %d subscriptions confirmed in time", subscribed.Load(), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for j := range 3 {
		for {
			ids, err := cfPresence(mem[j], time.Until(deadline))
			if err == nil && len(ids) == n {
				break
			}
			if time.Now().After(deadline) {
				return crashTally{}, fmt.Errorf("presence via c%d lists %d of %d (%v)", j+1, len(ids), n, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	var victims []string
	var survivors []*leaveView
	for i, m := range mem {
		if i%3 == victim {
			victims = append(victims, m.c.ID())
		} else {
			survivors = append(survivors, m.view)
		}
	}
	witness := mem[(victim+1)%3] // a client of a surviving node
	killed.Store(true)
	t0 := time.Now()
	_ = nodes[victim].cmd.Process.Kill()
	wait := t0.Add(b.p.leaveTimeout)
	listed := make(chan time.Duration, 1)
	go func() {
		listed <- pollListed(ctx, t0, wait, func() bool {
			ids, err := cfPresence(witness, 5*time.Second)
			return err == nil && len(ids) == n-len(victims) &&
				!slices.ContainsFunc(ids, func(id string) bool { return slices.Contains(victims, id) })
		})
	}()
	// When the survivors drop the dead node from their node lists, for the log.
	var dropped sync.WaitGroup
	for j, nd := range nodes {
		if j == victim {
			continue
		}
		dropped.Add(1)
		go func() {
			defer dropped.Done()
			at := pollListed(ctx, t0, wait, func() bool {
				names, err := cfNodeNames(nd)
				return err == nil && len(names) == 2
			})
			if at >= 0 {
				fmt.Fprintf(b.log, "crash: centrifuge %s dropped the killed node from its node list after %s\n", nd.name, ms(at))
			}
		}()
	}
	awaitLeaves(ctx, survivors, victims, wait)
	t := tallyLeaves(survivors, victims, t0, int(falseCount.Load()))
	t.listed = <-listed
	dropped.Wait()
	if e := survivorErrors.Load(); e > 0 {
		fmt.Fprintf(b.log, "crash: %d errors at the surviving centrifuge clients after the kill\n", e)
	}
	return t, nil
}

// cfPresence asks for room's presence through m and waits up to wait for
// the answer: the client ids present.
func cfPresence(m *cfMember, wait time.Duration) ([]string, error) {
	select { // a stale answer
	case <-m.members:
	default:
	}
	if err := m.c.Members("room"); err != nil {
		return nil, err
	}
	select {
	case ids := <-m.members:
		return ids, nil
	case <-time.After(wait):
		return nil, errors.New("no presence answer")
	}
}
