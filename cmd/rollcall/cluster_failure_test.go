package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
)

// TestClusterDroppedChangeRepaired drops one replication message of n1
// (the debug-only test hook, ROLLCALL_DEBUG_CLUSTER_HOOKS=1 with --debug):
// n2 sees the gap at n1's next heartbeat, resyncs from a snapshot, and its
// client hears the lost subscribe exactly once.
func TestClusterDroppedChangeRepaired(t *testing.T) {
	nodes := startCluster(t, 2, []string{clusterHooksEnv + "=1"}, "--debug")
	n1, n2 := nodes[0], nodes[1]
	ctx := ctx10(t)
	b := dial(t, wsURL(n2), "b", nil)
	if err := b.Subscribe(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	a := dial(t, wsURL(n1), "a", nil)
	b.waitEvent(t, "join "+a.id, 1, 5*time.Second)
	if code := n1.post(t, "/debug/cluster/drop-next-replicate", ""); code != 200 {
		t.Fatalf("hook: %d", code)
	}
	dropped := time.Now()
	if err := a.Subscribe(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	at := b.waitEvent(t, "sub x "+a.id, 1, 5*time.Second)
	t.Logf("a dropped change repaired after %v", at.Sub(dropped))
	if _, ok := n2.logs.wait(rx(`msg="cluster node resynced".*peer=n1`), 2*time.Second); !ok {
		t.Error("n2 did not log a resync of n1")
	}
	if got, want := b.memberIDs(t, "x"), sorted(a.id, b.id); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("x on n2: %v, want %v", got, want)
	}
	// Nothing twice after the snapshot overlapped the stream.
	if err := a.Publish(ctx, "x", "after"); err != nil {
		t.Fatal(err)
	}
	b.waitEvent(t, "msg x "+a.id+" after", 1, 5*time.Second)
	once(t, "sub x "+a.id, b)
	once(t, "join "+a.id, b)
	b.checkOrder(t)
}

// TestClusterPartitionHeals stops n3 (SIGSTOP) for longer than the node
// timeout: its members leave at the others; after SIGCONT they rejoin, and
// every client's events add up.
func TestClusterPartitionHeals(t *testing.T) {
	const timeout = time.Second
	nodes := startCluster(t, 3, nil, "--heartbeat", "250ms", "--node-timeout", timeout.String())
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ctx := ctx10(t)
	a, b, c := roomOfThree(t, ctx, n1, n2, n3)

	stopped := time.Now()
	n3.signal(t, syscall.SIGSTOP)
	at := waitAll(t, "leave "+c.id, 3*timeout, a, b)
	t.Logf("a stopped node's member left after %v (node timeout %v)", at.Sub(stopped), timeout)
	if d := at.Sub(stopped); d > timeout+500*time.Millisecond {
		t.Errorf("leave after %v, want ≤ node timeout + 0.5s", d)
	}
	waitAll(t, "unsub room "+c.id, time.Second, a, b)
	n3.signal(t, syscall.SIGCONT)
	healed := time.Now()
	a.waitEvent(t, "join "+c.id, 2, 5*time.Second)
	b.waitEvent(t, "join "+c.id, 2, 5*time.Second)
	a.waitEvent(t, "sub room "+c.id, 2, 5*time.Second)
	at = b.waitEvent(t, "sub room "+c.id, 2, 5*time.Second)
	t.Logf("rejoined %v after SIGCONT", at.Sub(healed))
	for _, n := range nodes {
		waitCluster(t, n, 3, 5*time.Second)
	}
	want := sorted(a.id, b.id, c.id)
	for _, cl := range []*tclient{a, b, c} {
		if got := cl.memberIDs(t, "room"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: room %v, want %v", cl.name, got, want)
		}
		cl.checkOrder(t)
	}
	// c's own view: nothing, or leaves and rejoins that add up (checked
	// by checkOrder and the member list above).
	t.Logf("c saw %d leaves of a during the partition", c.count("leave "+a.id))
	_ = n2
}

// TestClusterNoFalseLeaves runs three nodes under load for 60 s
// (ROLLCALL_CLUSTER_SOAK=30s shortens it; skipped with -short): members
// publish and others churn on another channel; none of the steady members
// leaves anywhere.
func TestClusterNoFalseLeaves(t *testing.T) {
	if testing.Short() {
		t.Skip("60 s soak")
	}
	d := 60 * time.Second
	if s := os.Getenv("ROLLCALL_CLUSTER_SOAK"); s != "" {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			t.Fatal(err)
		}
	}
	nodes := startCluster(t, 3, nil)
	ctx := ctx10(t)
	const perNode = 8
	var steady []*tclient
	for i, n := range nodes {
		for j := range perNode {
			cl := dial(t, wsURL(n), fmt.Sprintf("s%d-%d", i, j), nil)
			if err := cl.Subscribe(ctx, "room"); err != nil {
				t.Fatal(err)
			}
			steady = append(steady, cl)
		}
	}
	for _, cl := range steady[1:] {
		waitAll(t, "sub room "+cl.id, 10*time.Second, steady[0])
	}
	for _, cl := range []*tclient{steady[perNode], steady[len(steady)-1]} {
		testkit.Eventually(t, 5*time.Second, cl.name+" lists every steady member", func() bool {
			return len(cl.memberIDs(t, "room")) == len(steady)
		})
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var published, churned atomic.Int64
	// Publishers: every steady member, 5 a second.
	for _, cl := range steady {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := time.NewTicker(200 * time.Millisecond)
			defer tk.Stop()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-tk.C:
				}
				if cl.Publish(context.Background(), "room", "m"+strconv.Itoa(k)) == nil {
					published.Add(1)
				}
			}
		}()
	}
	// Churn: a member per node connects, subscribes and leaves, again and
	// again (replication traffic beside the publishes).
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				cl := dial(t, wsURL(n), fmt.Sprintf("churn%d-%d", i, k), nil)
				_ = cl.Subscribe(context.Background(), "churn")
				_ = cl.Close()
				churned.Add(1)
			}
		}()
	}
	timer := time.NewTimer(d)
	<-timer.C
	close(stop)
	wg.Wait()
	false_ := 0
	for _, cl := range steady {
		for _, other := range steady {
			false_ += cl.count("leave "+other.id) + cl.count("unsub room "+other.id)
		}
	}
	t.Logf("%v: %d publishes, %d churn members, %d false leaves", d, published.Load(), churned.Load(), false_)
	if false_ != 0 {
		t.Errorf("%d false leaves", false_)
	}
	for _, n := range nodes {
		if _, ok := n.logs.wait(rx(`msg="cluster node (dead|restarted)"`), 0); ok {
			t.Errorf("%s declared a node dead under load", n.name)
		}
	}
}

// natsServerBin builds nats-server from its Go module (in go.sum) into a
// temporary folder, once per test binary run.
var natsServerBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "rollcall-nats-server")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "nats-server")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/nats-io/nats-server/v2")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build nats-server: %v\n%s", err, out)
	}
	return bin, nil
})

// inNetns runs the calling test again inside a new network namespace with
// only lo up (unshare -n, as root) and reports false: the caller returns.
// Inside it, or where that is not possible (then every address is on
// 127.0.0.1, and the test says so), it reports true.
func inNetns(t *testing.T, env ...string) bool {
	t.Helper()
	if os.Getenv("ROLLCALL_IN_NETNS") == "1" {
		return true
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil || os.Geteuid() != 0 {
		t.Log("not root or no unshare: running on 127.0.0.1 in the host's network namespace")
		return true
	}
	if err := exec.Command(unshare, "-n", "true").Run(); err != nil {
		t.Logf("unshare -n fails (%v): running on 127.0.0.1 in the host's network namespace", err)
		return true
	}
	cmd := exec.Command(unshare, "-n", "sh", "-c", `ip link set lo up && exec "$@"`, "sh",
		os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.timeout=5m")
	cmd.Env = append(append(os.Environ(), "ROLLCALL_IN_NETNS=1", "PATH=/usr/sbin:/sbin:"+os.Getenv("PATH")), env...)
	out, err := cmd.CombinedOutput()
	t.Logf("in a network namespace of its own:\n%s", out)
	if err != nil {
		t.Fatalf("the test in its network namespace failed: %v", err)
	}
	return false
}

// TestClusterExternalNATS runs the core scenario over an external
// nats-server built from its Go module, in a network namespace of its own:
// events across nodes, kill -9 (leaves within the node timeout: an
// external NATS shows nothing sooner), SIGTERM, and NATS lost and back
// (the nodes report not ready, keep serving, and resync).
func TestClusterExternalNATS(t *testing.T) {
	bin := os.Getenv("ROLLCALL_NATS_SERVER")
	if bin == "" {
		var err error
		if bin, err = natsServerBin(); err != nil {
			t.Fatal(err)
		}
	}
	if !inNetns(t, "ROLLCALL_NATS_SERVER="+bin) {
		return
	}
	port := freePort(t)
	startNATS := func() (*exec.Cmd, chan struct{}) {
		cmd := exec.Command(bin, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
		logs := newLogBuf()
		cmd.Stderr, cmd.Stdout = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
		if _, ok := logs.wait(rx(`Server is ready`), 10*time.Second); !ok {
			t.Fatalf("nats-server did not start:\n%s", logs)
		}
		return cmd, done
	}
	natsCmd, natsDone := startNATS()
	url := "nats://127.0.0.1:" + strconv.Itoa(port)
	const timeout = time.Second
	args := func(name string) []string {
		return []string{"--addr", "127.0.0.1:0", "--node", name, "--api-key", clusterAPIKey, "--no-web",
			"--nats", url, "--heartbeat", "250ms", "--node-timeout", timeout.String()}
	}
	var nodes [3]*proc
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("n%d", i+1)
			nodes[i] = startProc(t, name, nil, args(name)...)
		}()
	}
	wg.Wait()
	for _, n := range nodes {
		if n.addr == "" {
			t.Fatalf("%s did not start:\n%s", n.name, n.logs)
		}
		waitCluster(t, n, 3, 10*time.Second)
	}
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ctx := ctx10(t)
	a, b, c := roomOfThree(t, ctx, n1, n2, n3)
	if err := a.Publish(ctx, "room", "hello"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "msg room "+a.id+" hello", 5*time.Second, b, c)

	// NATS lost: not ready, still serving; back: ready, resynced.
	_ = natsCmd.Process.Kill()
	<-natsDone
	testkit.Eventually(t, 5*time.Second, "n1 not ready without NATS", func() bool { return n1.readyz() == 503 })
	if got := a.memberIDs(t, "room"); len(got) != 3 {
		t.Errorf("without NATS, n1 lists %v", got)
	}
	startNATS()
	for _, n := range nodes {
		waitCluster(t, n, 3, 10*time.Second)
	}
	if err := b.Publish(ctx, "room", "back"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "msg room "+b.id+" back", 5*time.Second, a, c)

	// kill -9 n3: the others drop c within the node timeout.
	killed := time.Now()
	_ = n3.cmd.Process.Kill()
	at := waitAll(t, "leave "+c.id, 3*timeout, a, b)
	t.Logf("external NATS, kill -9: leave after %v (node timeout %v)", at.Sub(killed), timeout)
	if d := at.Sub(killed); d > timeout+500*time.Millisecond {
		t.Errorf("leave after %v, want ≤ node timeout + 0.5s", d)
	}
	// SIGTERM n2: at once.
	termed := time.Now()
	n2.signal(t, syscall.SIGTERM)
	at = waitAll(t, "leave "+b.id, 2*time.Second, a)
	t.Logf("external NATS, SIGTERM: leave after %v", at.Sub(termed))
	if code := n2.wait(t, 12*time.Second); code != 0 {
		t.Errorf("n2 exit %d", code)
	}
	once(t, "leave "+c.id, a, b)
	once(t, "leave "+b.id, a)
	once(t, "msg room "+a.id+" hello", b, c)
	for _, cl := range []*tclient{a, b, c} {
		cl.checkOrder(t)
	}
}

// roomOfThree connects a client to each of three nodes, subscribes each to
// "room", and waits until the earlier ones heard the later ones.
func roomOfThree(t *testing.T, ctx context.Context, n1, n2, n3 *proc) (a, b, c *tclient) {
	t.Helper()
	a = dial(t, wsURL(n1), "a", nil)
	b = dial(t, wsURL(n2), "b", nil)
	c = dial(t, wsURL(n3), "c", nil)
	for _, cl := range []*tclient{a, b, c} {
		if err := cl.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
	}
	waitAll(t, "sub room "+c.id, 5*time.Second, a, b)
	waitAll(t, "sub room "+b.id, 5*time.Second, a)
	return a, b, c
}
