package main

// The harness of the cluster process tests: real `rollcall serve`
// processes (this test binary re-run as rollcall, see TestMain), sgc Go
// clients recording their events, and waits on conditions, never fixed
// sleeps.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/internal/testkit"
)

const clusterAPIKey = "k"

// logBuf collects a process's log lines and wakes waiters on each.
type logBuf struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	wake    chan struct{}
}

func newLogBuf() *logBuf { return &logBuf{wake: make(chan struct{})} }

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	close(l.wake)
	l.wake = make(chan struct{})
	return len(p), nil
}

// wait returns the first line matching re, waiting up to timeout.
func (l *logBuf) wait(re *regexp.Regexp, timeout time.Duration) (string, bool) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for _, s := range l.lines {
			if re.MatchString(s) {
				l.mu.Unlock()
				return s, true
			}
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-deadline.C:
			return "", false
		}
	}
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n") + string(l.partial)
}

// proc is one `rollcall serve` process.
type proc struct {
	name        string
	args        []string
	env         []string
	addr        string // HTTP address
	clusterPort int
	cmd         *exec.Cmd
	logs        *logBuf
	done        chan struct{}
	exitErr     error
}

var listenRe = regexp.MustCompile(`msg="rollcall listening" addr=(\S+)`)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startProc starts `rollcall serve args...` and returns once it listens
// (or has exited: then p.done is closed and p.addr empty).
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, args: args, env: env, logs: newLogBuf(), done: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"serve"}, args...)...)
	p.cmd.Env = append(append(os.Environ(), "ROLLCALL_RUN_MAIN=1"), env...)
	p.cmd.Stderr = p.logs
	p.cmd.Stdout = p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- log of %s:\n%s", p.name, p.logs)
		}
	})
	exited := make(chan struct{})
	go func() {
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
		}
		close(exited)
	}()
	for {
		if line, ok := p.logs.wait(listenRe, 50*time.Millisecond); ok {
			p.addr = listenRe.FindStringSubmatch(line)[1]
			return p
		}
		select {
		case <-exited:
			select {
			case <-p.done:
				return p
			default:
				t.Fatalf("%s did not start:\n%s", name, p.logs)
			}
		default:
		}
	}
}

// nodeArgs are the flags of an embedded-NATS cluster node.
func nodeArgs(name string, port int, peers []int, extra ...string) []string {
	var ps []string
	for _, q := range peers {
		if q != port {
			ps = append(ps, "127.0.0.1:"+strconv.Itoa(q))
		}
	}
	args := []string{"--addr", "127.0.0.1:0", "--node", name, "--api-key", clusterAPIKey, "--no-web", "--rate", "0",
		"--cluster-listen", "127.0.0.1:" + strconv.Itoa(port)}
	if len(ps) > 0 {
		args = append(args, "--cluster-peers", strings.Join(ps, ","))
	}
	return append(args, extra...)
}

// startCluster starts k embedded-NATS nodes n1..nk at once and waits until
// each is ready and sees all the others alive.
func startCluster(t *testing.T, k int, env []string, extra ...string) []*proc {
	t.Helper()
	ports := make([]int, k)
	for i := range ports {
		ports[i] = freePort(t)
	}
	nodes := make([]*proc, k)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("n%d", i+1)
			nodes[i] = startProc(t, name, env, nodeArgs(name, ports[i], ports, extra...)...)
			nodes[i].clusterPort = ports[i]
		}()
	}
	wg.Wait()
	for _, n := range nodes {
		if n == nil || n.addr == "" {
			t.Fatal("a node did not start")
		}
	}
	for _, n := range nodes {
		waitCluster(t, n, k, 15*time.Second)
	}
	return nodes
}

// restart starts p again with the same name and flags.
func (p *proc) restart(t *testing.T) *proc {
	t.Helper()
	q := startProc(t, p.name, p.env, p.args...)
	q.clusterPort = p.clusterPort
	return q
}

type statsNodes struct {
	Members int `json:"members"`
	Nodes   []struct {
		Name   string `json:"name"`
		State  string `json:"state"`
		Synced bool   `json:"synced"`
	} `json:"nodes"`
}

func (p *proc) stats(t *testing.T) (statsNodes, error) {
	var st statsNodes
	req, _ := http.NewRequest("GET", "http://"+p.addr+"/api/stats", nil)
	req.Header.Set("Authorization", "Bearer "+clusterAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

func (p *proc) readyz() int {
	resp, err := http.Get("http://" + p.addr + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// post sends an API request (body JSON) and returns the status.
func (p *proc) post(t *testing.T, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+p.addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+clusterAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitCluster waits until p is ready and lists want nodes alive and synced.
func waitCluster(t *testing.T, p *proc, want int, timeout time.Duration) {
	t.Helper()
	testkit.Eventually(t, timeout, fmt.Sprintf("%s ready with %d nodes alive", p.name, want), func() bool {
		if p.readyz() != 200 {
			return false
		}
		st, err := p.stats(t)
		if err != nil {
			return false
		}
		alive := 0
		for _, n := range st.Nodes {
			if n.State == "alive" && n.Synced {
				alive++
			}
		}
		return alive == want
	})
}

// signal sends sig to p.
func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits for p to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("%s did not exit within %v", p.name, timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// event is one event a test client received.
type event struct {
	at time.Time
	s  string
}

// tclient is an sgc client that records its events as strings:
// "join ID", "leave ID", "sub CH ID", "unsub CH ID", "msg CH FROM TEXT",
// "inv CH FROM", "invresp CH INVITEE accepted|refused", "disconnect CODE".
type tclient struct {
	*client.Client
	name string
	id   string

	mu   sync.Mutex
	evs  []event
	wake chan struct{}
	invs chan *client.Invitation
}

func (c *tclient) add(s string) {
	c.mu.Lock()
	c.evs = append(c.evs, event{time.Now(), s})
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
}

// dial connects a recording client to node p (or to url when p is nil).
func dial(t *testing.T, url, name string, tweak func(*client.Options)) *tclient {
	t.Helper()
	c := &tclient{name: name, wake: make(chan struct{}), invs: make(chan *client.Invitation, 16)}
	o := client.Options{
		Name:                  name,
		NoReconnect:           true,
		OnNewMember:           func(m client.Member) { c.add("join " + m.ID) },
		OnRemoveMember:        func(m client.Member) { c.add("leave " + m.ID) },
		OnNewChannelMember:    func(ch string, m client.Member) { c.add("sub " + ch + " " + m.ID) },
		OnRemoveChannelMember: func(ch string, m client.Member) { c.add("unsub " + ch + " " + m.ID) },
		OnPublishMsg: func(text, ch string, from client.Member) {
			c.add("msg " + ch + " " + from.ID + " " + text)
		},
		OnChannelInvitation: func(inv *client.Invitation) {
			c.add("inv " + inv.Channel + " " + inv.From.ID)
			c.invs <- inv
		},
		OnChannelInvitationResponse: func(r client.InvitationResponse) {
			res := "refused"
			if r.Accepted {
				res = "accepted"
			}
			c.add("invresp " + r.Channel + " " + r.Invitee.ID + " " + res)
		},
		OnDisconnect: func(code int) { c.add("disconnect " + strconv.Itoa(code)) },
	}
	if tweak != nil {
		tweak(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, url, o)
	if err != nil {
		t.Fatalf("dial %s as %s: %v", url, name, err)
	}
	c.Client = cl
	c.id = cl.Member().ID
	t.Cleanup(func() { _ = cl.Close() })
	return c
}

func wsURL(p *proc) string { return "ws://" + p.addr + "/" }

// count returns how many events equal s.
func (c *tclient) count(s string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.evs {
		if e.s == s {
			n++
		}
	}
	return n
}

// waitEvent waits until c has received s at least n times and returns
// when the n-th arrived.
func (c *tclient) waitEvent(t *testing.T, s string, n int, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		k := 0
		for _, e := range c.evs {
			if e.s == s {
				if k++; k == n {
					c.mu.Unlock()
					return e.at
				}
			}
		}
		wake := c.wake
		c.mu.Unlock()
		select {
		case <-wake:
		case <-deadline.C:
			t.Fatalf("%s: timed out after %v waiting for %q ×%d; got %d; events: %v", c.name, timeout, s, n, k, c.events())
		}
	}
}

func (c *tclient) events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.evs))
	for i, e := range c.evs {
		out[i] = e.s
	}
	return out
}

// checkOrder fails if, for any member and channel, c's sub and unsub
// events do not alternate (and join/leave likewise): nothing twice, no
// remove right after a remove. (The first event of a member may be a
// remove: it was there before c connected.)
func (c *tclient) checkOrder(t *testing.T) {
	t.Helper()
	state := map[string]bool{} // key -> last event was a "new"; absent: none yet
	for _, s := range c.events() {
		f := strings.Fields(s)
		var key string
		var on bool
		switch f[0] {
		case "join", "leave":
			key, on = "member "+f[1], f[0] == "join"
		case "sub", "unsub":
			key, on = f[1]+" "+f[2], f[0] == "sub"
		default:
			continue
		}
		if last, seen := state[key]; seen && last == on {
			t.Errorf("%s: %q out of order or twice; events: %v", c.name, s, c.events())
			return
		}
		state[key] = on
	}
}

// memberIDs returns the sorted ids GetMembers lists for channel.
func (c *tclient) memberIDs(t *testing.T, channel string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ms, err := c.GetMembers(ctx, channel)
	if err != nil {
		t.Fatalf("%s: GetMembers(%q): %v", c.name, channel, err)
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.ID
	}
	slices.Sort(ids)
	return ids
}

func ctx10(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func rx(s string) *regexp.Regexp { return regexp.MustCompile(s) }
