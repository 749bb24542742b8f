package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/internal/testkit"
)

// once fails unless every client in cs received s exactly once.
func once(t *testing.T, s string, cs ...*tclient) {
	t.Helper()
	for _, c := range cs {
		if n := c.count(s); n != 1 {
			t.Errorf("%s received %q %d times, want once; events: %v", c.name, s, n, c.events())
		}
	}
}

// waitAll waits until every client in cs has s.
func waitAll(t *testing.T, s string, timeout time.Duration, cs ...*tclient) time.Time {
	t.Helper()
	var last time.Time
	for _, c := range cs {
		if at := c.waitEvent(t, s, 1, timeout); at.After(last) {
			last = at
		}
	}
	return last
}

// TestClusterEmbedded runs three `rollcall serve` nodes over embedded NATS
// and clients on each: every method and event across nodes, exactly once
// and in order; then kill -9 of a node (every survivor hears every leave
// within 1 s), its restart under the same name, and SIGTERM of another.
func TestClusterEmbedded(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ctx := ctx10(t)
	const wait = 5 * time.Second

	a := dial(t, wsURL(n1), "a", nil)
	b := dial(t, wsURL(n2), "b", nil)
	waitAll(t, "join "+b.id, wait, a)
	c := dial(t, wsURL(n3), "c", nil)
	waitAll(t, "join "+c.id, wait, a, b)

	// Subscribe one after the other; each hears the later ones.
	if err := a.Subscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "sub room "+a.id, wait, a)
	if err := b.Subscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "sub room "+b.id, wait, a, b)
	if err := c.Subscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "sub room "+c.id, wait, a, b, c)

	// Member lists are the same set on every node.
	want := []string{a.id, b.id, c.id}
	slices.Sort(want)
	for _, cl := range []*tclient{a, b, c} {
		if got := cl.memberIDs(t, "room"); !slices.Equal(got, want) {
			t.Fatalf("%s: members of room %v, want %v", cl.name, got, want)
		}
		if got := cl.memberIDs(t, ""); !slices.Equal(got, want) {
			t.Fatalf("%s: members %v, want %v", cl.name, got, want)
		}
	}

	// Publish to a channel and to everyone.
	if err := a.Publish(ctx, "room", "hello"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "msg room "+a.id+" hello", wait, b, c)
	if err := b.Publish(ctx, "", "hi all"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "msg  "+b.id+" hi all", wait, a, c)

	// The HTTP API of one node reaches members on all.
	if code := n2.post(t, "/api/publish", `{"channel":"room","text":"from the server"}`); code != 200 {
		t.Fatalf("api publish: %d", code)
	}
	waitAll(t, "msg room  from the server", wait, a, b, c)
	if code := n3.post(t, "/api/publish", `{"text":"to everyone"}`); code != 200 {
		t.Fatalf("api publish to everyone: %d", code)
	}
	waitAll(t, "msg   to everyone", wait, a, b, c)

	// An invitation from n1 to a member on n3, and its answer.
	if err := a.Subscribe(ctx, "priv"); err != nil {
		t.Fatal(err)
	}
	if err := a.Invite(ctx, "priv", c.id); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "inv priv "+a.id, wait, c)
	inv := <-c.invs
	if err := inv.Accept(ctx); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "invresp priv "+c.id+" accepted", wait, a)

	// Errors reflect the cluster: priv lives only on n1, so leaving it on
	// n2 is "not subscribed" (12), not "no such channel" (5); a channel
	// nobody has is 5 everywhere.
	var se *client.Error
	if err := b.Unsubscribe(ctx, "priv"); !errors.As(err, &se) || se.Code != client.CodeSubscriptionNotExists {
		t.Errorf("unsubscribe from a channel on another node: %v, want error %d", err, client.CodeSubscriptionNotExists)
	}
	if err := b.Unsubscribe(ctx, "nowhere"); !errors.As(err, &se) || se.Code != client.CodeChannelNotExists {
		t.Errorf("unsubscribe from a channel nowhere: %v, want error %d", err, client.CodeChannelNotExists)
	}

	// Unsubscribe on n2: n1 and n3 hear it.
	if err := b.Unsubscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "unsub room "+b.id, wait, a, c)

	// More members on n3, then kill -9 n3: every survivor hears every
	// resulting leave, within 1 s.
	var onN3 []*tclient
	onN3 = append(onN3, c)
	for i := range 10 {
		x := dial(t, wsURL(n3), fmt.Sprintf("x%d", i), nil)
		if err := x.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
		onN3 = append(onN3, x)
	}
	for _, x := range onN3[1:] {
		waitAll(t, "sub room "+x.id, wait, a)
		waitAll(t, "join "+x.id, wait, a, b)
	}
	killed := time.Now()
	if err := n3.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	var last time.Time
	for _, x := range onN3 {
		if at := waitAll(t, "leave "+x.id, 3*time.Second, a, b); at.After(last) {
			last = at
		}
		if at := waitAll(t, "unsub room "+x.id, 3*time.Second, a); at.After(last) {
			last = at
		}
	}
	latency := last.Sub(killed)
	t.Logf("kill -9: last of %d leaves at every survivor after %v", 2*len(onN3)+len(onN3), latency)
	if latency > time.Second {
		t.Errorf("the last leave after kill -9 came after %v, want ≤ 1s", latency)
	}
	n3.wait(t, 5*time.Second)

	// Restart n3 under the same name: it joins, syncs, and its members
	// reach the others.
	n3 = n3.restart(t)
	if n3.addr == "" {
		t.Fatalf("n3 did not restart:\n%s", n3.logs)
	}
	for _, n := range []*proc{n1, n2, n3} {
		waitCluster(t, n, 3, 10*time.Second)
	}
	c2 := dial(t, wsURL(n3), "c2", nil)
	if err := c2.Subscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "join "+c2.id, wait, a, b)
	waitAll(t, "sub room "+c2.id, wait, a)
	if got, want := c2.memberIDs(t, "room"), sorted(a.id, c2.id); !slices.Equal(got, want) {
		t.Fatalf("after the restart, room on n3 is %v, want %v", got, want)
	}

	// SIGTERM n2: its member leaves at the others at once, its client gets
	// 1001, and it exits 0.
	termed := time.Now()
	n2.signal(t, syscall.SIGTERM)
	at := waitAll(t, "leave "+b.id, 3*time.Second, a, c2)
	t.Logf("SIGTERM: the leave reached the others after %v", at.Sub(termed))
	if d := at.Sub(termed); d > time.Second {
		t.Errorf("leave after SIGTERM took %v, want ≤ 1s", d)
	}
	if d := b.waitEvent(t, "disconnect 1001", 1, 5*time.Second).Sub(termed); d > 5*time.Second {
		t.Errorf("1001 after %v", d)
	}
	if code := n2.wait(t, 12*time.Second); code != 0 {
		t.Errorf("n2 exited %d after SIGTERM, want 0", code)
	}
	if _, ok := n2.logs.wait(rx(`msg="leaving the cluster"`), time.Second); !ok {
		t.Error("n2 did not log that it leaves the cluster")
	}
	if _, ok := n1.logs.wait(rx(`msg="cluster node left".*peer=n2`), 2*time.Second); !ok {
		t.Error("n1 did not log n2 left")
	}
	if _, ok := n1.logs.wait(rx(`msg="cluster node dead".*peer=n3`), time.Second); !ok {
		t.Error("n1 did not log n3 dead")
	}

	// Exactly once, in order.
	once(t, "join "+b.id, a)
	once(t, "join "+c.id, a, b)
	once(t, "sub room "+b.id, a, b)
	once(t, "sub room "+c.id, a, b, c)
	once(t, "msg room "+a.id+" hello", b, c)
	once(t, "msg  "+b.id+" hi all", a, c)
	once(t, "msg room  from the server", a, b, c)
	once(t, "msg   to everyone", a, b, c)
	once(t, "inv priv "+a.id, c)
	once(t, "invresp priv "+c.id+" accepted", a)
	once(t, "unsub room "+b.id, a, c)
	for _, x := range onN3 {
		once(t, "leave "+x.id, a, b)
		once(t, "unsub room "+x.id, a)
	}
	once(t, "join "+c2.id, a)
	once(t, "leave "+b.id, a, c2)
	for _, cl := range []*tclient{a, b, c, c2} {
		cl.checkOrder(t)
	}
}

// TestClusterDuplicateName: a second live node with a name in use exits 1
// with the documented message.
func TestClusterDuplicateName(t *testing.T) {
	nodes := startCluster(t, 1, nil)
	p := freePort(t)
	dup := startProc(t, "dup", nil, nodeArgs("n1", p, []int{nodes[0].clusterPort, p})...)
	if dup.addr != "" {
		t.Fatal("a second n1 started")
	}
	if code := dup.wait(t, 10*time.Second); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(dup.logs.String(), `rollcall: node name "n1" is already in use by a live node`) {
		t.Errorf("stderr:\n%s", dup.logs)
	}
}

// TestClusterReadyzAlone: a cluster node alone is ready at once; a plain
// node too.
func TestClusterReadyzAlone(t *testing.T) {
	nodes := startCluster(t, 1, nil)
	if c := nodes[0].readyz(); c != 200 {
		t.Fatalf("readyz %d", c)
	}
	plain := startProc(t, "plain", nil, "--addr", "127.0.0.1:0", "--no-web")
	if c := plain.readyz(); c != 200 {
		t.Fatalf("plain readyz %d", c)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// TestServeMetricsAddr: --metrics-addr serves /metrics without the key;
// the main address serves it behind the API key, with the cluster's
// figures on a cluster node.
func TestServeMetricsAddr(t *testing.T) {
	p := freePort(t)
	n := startProc(t, "n1", nil, nodeArgs("n1", p, nil, "--metrics-addr", "127.0.0.1:0")...)
	line, ok := n.logs.wait(rx(`msg="metrics listening" addr=`), 5*time.Second)
	if !ok {
		t.Fatalf("no metrics listener:\n%s", n.logs)
	}
	addr := rx(`addr=(\S+)`).FindStringSubmatch(line)[1]
	waitCluster(t, n, 1, 5*time.Second)
	for _, u := range []string{"http://" + addr + "/metrics", "http://" + n.addr + "/metrics"} {
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+clusterAPIKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"rollcall_connections 0", `rollcall_cluster_nodes{state="alive"} 1`, "rollcall_broker_messages_out_total ", "rollcall_ready 1"} {
			if !strings.Contains(string(body), want) {
				t.Errorf("%s lacks %q:\n%s", u, want, body)
			}
		}
	}
	resp, err := http.Get("http://" + n.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("metrics without the key on the main address: %d", resp.StatusCode)
	}
}

// TestClusterClientReconnectsElsewhere: a Go client given every node's URL
// reconnects to another node after its own got SIGTERM, joins again and
// restores its subscriptions; the others see it leave and come back.
func TestClusterClientReconnectsElsewhere(t *testing.T) {
	nodes := startCluster(t, 3, nil)
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ctx := ctx10(t)
	z := dial(t, wsURL(n3), "z", nil)
	if err := z.Subscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	sessions := make(chan string, 4)
	m := dial(t, wsURL(n1), "m", func(o *client.Options) {
		o.NoReconnect = false
		o.URLs = []string{wsURL(n2), wsURL(n3)}
		o.ReconnectMin, o.ReconnectMax = 50*time.Millisecond, time.Second
		o.OnConnect = func(s string) { sessions <- s }
	})
	<-sessions
	if err := m.Subscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	z.waitEvent(t, "sub room "+m.id, 1, 5*time.Second)
	termed := time.Now()
	n1.signal(t, syscall.SIGTERM)
	m.waitEvent(t, "disconnect 1001", 1, 5*time.Second)
	id := testkit.Recv(t, sessions, 10*time.Second, "the client to reconnect")
	at := z.waitEvent(t, "sub room "+id, 1, 5*time.Second)
	t.Logf("moved to another node and re-subscribed %v after SIGTERM", at.Sub(termed))
	if m.Member().ID != id || !slices.Contains(m.Subscriptions(), "room") {
		t.Errorf("member %+v, subscriptions %v", m.Member(), m.Subscriptions())
	}
	once(t, "leave "+m.id, z)
	once(t, "join "+id, z)
	if code := n1.wait(t, 12*time.Second); code != 0 {
		t.Errorf("n1 exit %d", code)
	}
}

// TestClusterYAMLConfig: the cluster keys of the YAML file start a node.
func TestClusterYAMLConfig(t *testing.T) {
	port := freePort(t)
	path := filepath.Join(t.TempDir(), "rollcall.yaml")
	conf := fmt.Sprintf("addr: 127.0.0.1:0\napi_key: %s\nno_web: true\nnode: y1\ncluster_listen: 127.0.0.1:%d\ncluster_peers: []\nheartbeat: 500ms\nnode_timeout: 2s\n", clusterAPIKey, port)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startProc(t, "y1", nil, "--config", path)
	waitCluster(t, n, 1, 5*time.Second)
	st, err := n.stats(t)
	if err != nil || len(st.Nodes) != 1 || st.Nodes[0].Name != "y1" {
		t.Fatalf("stats %+v, %v", st, err)
	}
	if _, ok := n.logs.wait(rx(`msg="cluster node started".*cluster=127.0.0.1:`+strconv.Itoa(port)), time.Second); !ok {
		t.Errorf("not on the configured cluster address:\n%s", n.logs)
	}
}

// TestClusterWrongPeer: a node given a peer address where no node listens
// warns about it and, with --cluster-min-peers 1, answers /readyz 503
// with the count until another node routes to it.
func TestClusterWrongPeer(t *testing.T) {
	port, wrong := freePort(t), freePort(t)
	n1 := startProc(t, "n1", nil, nodeArgs("n1", port, []int{wrong}, "--cluster-min-peers", "1")...)
	if n1.addr == "" {
		t.Fatal("n1 did not start")
	}
	if _, ok := n1.logs.wait(rx(`level=WARN msg="cluster peers unreachable.*configured=1 reached=0 peers=127.0.0.1:`+strconv.Itoa(wrong)), 15*time.Second); !ok {
		t.Fatal("no warning about the unreachable peer")
	}
	body := n1.get(t, "/readyz", 503)
	if !strings.Contains(body, `"peers":{"configured":1,"reached":0,"required":1}`) {
		t.Fatalf("readyz: %s", body)
	}
	n2 := startProc(t, "n2", nil, nodeArgs("n2", freePort(t), []int{port})...)
	if n2.addr == "" {
		t.Fatal("n2 did not start")
	}
	testkit.Eventually(t, 15*time.Second, "n1 ready once n2 routed in", func() bool { return n1.readyz() == 200 })
	if body := n1.get(t, "/readyz", 200); !strings.Contains(body, `"reached":1`) {
		t.Fatalf("readyz: %s", body)
	}
}

// TestClusterListenBusy: a --cluster-listen port in use fails at once with
// the reason.
func TestClusterListenBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	start := time.Now()
	p := startProc(t, "busy", nil, nodeArgs("busy", port, nil)...)
	if p.addr != "" {
		t.Fatal("started on a busy port")
	}
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
	if want := "cluster listen 127.0.0.1:" + strconv.Itoa(port) + ": address already in use"; !strings.Contains(p.logs.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, p.logs)
	}
}

// get GETs path on p, wants status, and returns the body.
func (p *proc) get(t *testing.T, path string, status int) string {
	t.Helper()
	resp, err := http.Get("http://" + p.addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", path, resp.StatusCode, status, body)
	}
	return string(body)
}
