package main

// Process tests of the cluster port: route authentication, mutual TLS, and
// a node that takes the control stream as untrusted input. The rogue is a
// stock nats-server built from its Go module (natsServerBin).

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/rollcall/rollcall/cluster/natsbroker"
	"github.com/rollcall/rollcall/internal/testkit"
)

// rogueNATS is a stock nats-server process with a route to a node.
type rogueNATS struct {
	clientURL string
	httpPort  int
	logs      *logBuf
}

// startRogueNATS starts nats-server named name with a route to routeTo
// (a nats-route:// URL, credentials included if any) and extra flags.
func startRogueNATS(t *testing.T, name, routeTo string, extra ...string) *rogueNATS {
	t.Helper()
	bin, err := natsServerBin()
	if err != nil {
		t.Fatal(err)
	}
	port, httpPort, clusterPort := freePort(t), freePort(t), freePort(t)
	args := append([]string{"-a", "127.0.0.1", "-p", strconv.Itoa(port), "-n", name, "-m", strconv.Itoa(httpPort), "-D",
		"--cluster_name", "rollcall", "--cluster", "nats://127.0.0.1:" + strconv.Itoa(clusterPort), "--routes", routeTo}, extra...)
	cmd := exec.Command(bin, args...)
	r := &rogueNATS{clientURL: "nats://127.0.0.1:" + strconv.Itoa(port), httpPort: httpPort, logs: newLogBuf()}
	cmd.Stderr, cmd.Stdout = r.logs, r.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("--- log of the rogue nats-server %s:\n%s", name, r.logs)
		}
	})
	if _, ok := r.logs.wait(rx(`Server is ready`), 10*time.Second); !ok {
		t.Fatalf("nats-server did not start:\n%s", r.logs)
	}
	return r
}

// routes returns the names of the servers the rogue has a route to.
func (r *rogueNATS) routes(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(r.httpPort) + "/routez")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rz struct {
		Routes []struct {
			RemoteName string `json:"remote_name"`
		} `json:"routes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rz); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, x := range rz.Routes {
		names = append(names, x.RemoteName)
	}
	return names
}

func (r *rogueNATS) connect(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(r.clientURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func writeSecret(t *testing.T, secret string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.secret")
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const testClusterSecret = "Zm9yIHRlc3RzIG9ubHk6IG5vdCBhIHJlYWwgc2VjcmV0IQ=="

// TestClusterRogueRouteRefused: nodes sharing --cluster-secret-file form a
// cluster; a stock nats-server routing in without credentials, or with
// wrong ones, is refused (Authorization Violation) and routed to nobody.
// (On a cluster without a secret the same nats-server routes in and reads
// everything.)
func TestClusterRogueRouteRefused(t *testing.T) {
	secret := writeSecret(t, testClusterSecret)
	nodes := startCluster(t, 2, nil, "--cluster-secret-file", secret)
	n1 := nodes[0]
	route := "127.0.0.1:" + strconv.Itoa(n1.clusterPort)
	for _, tc := range []struct{ name, url string }{
		{"no credentials", "nats-route://" + route},
		{"wrong credentials", "nats-route://rollcall-0000000000000000:wrong@" + route},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRogueNATS(t, "rogue", tc.url)
			if _, ok := r.logs.wait(rx(`(?i)authorization violation`), 10*time.Second); !ok {
				t.Fatal("the rogue route was not refused")
			}
			// The rogue retries, and each attempt lists the route for the
			// moment before its refusal: a refused route is one that does not
			// stay (an accepted one would be listed until the timeout).
			testkit.Poll(t, 5*time.Second, func() error {
				if got := r.routes(t); len(got) != 0 {
					return fmt.Errorf("the rogue server is routed to %v", got)
				}
				return nil
			})
			waitCluster(t, n1, 2, 5*time.Second)
		})
	}
	// The derived credentials (the secret never crosses the wire) are what
	// a node presents: with them, a server routes in.
	user, password := natsbroker.RouteCredentials([]byte(testClusterSecret))
	r := startRogueNATS(t, "holder", "nats-route://"+user+":"+password+"@"+route)
	testkit.Eventually(t, 10*time.Second, "the secret's holder routed in", func() bool { return len(r.routes(t)) > 0 })
}

// TestClusterMutualTLS: three `rollcall serve` nodes on routes in mutual
// TLS with certificates of a CA the test makes (and the secret) form a
// cluster whose members see each other; a stock nats-server without TLS,
// or with a certificate of another CA, gets no route.
func TestClusterMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, other := testkit.NewCA(t), testkit.NewCA(t)
	caFile := ca.WriteCert(t, dir, "ca.pem")
	secret := writeSecret(t, testClusterSecret)
	const k = 3
	ports := make([]int, k)
	for i := range ports {
		ports[i] = freePort(t)
	}
	nodes := make([]*proc, k)
	var wg sync.WaitGroup
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		cert, key := ca.Issue(t, dir, name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i] = startProc(t, name, nil, nodeArgs(name, ports[i], ports, "--cluster-secret-file", secret,
				"--cluster-tls-cert", cert, "--cluster-tls-key", key, "--cluster-tls-ca", caFile)...)
			nodes[i].clusterPort = ports[i]
		}()
	}
	wg.Wait()
	for _, n := range nodes {
		if n.addr == "" {
			t.Fatalf("%s did not start:\n%s", n.name, n.logs)
		}
		waitCluster(t, n, k, 15*time.Second)
	}
	ctx := ctx10(t)
	a, b, c := roomOfThree(t, ctx, nodes[0], nodes[1], nodes[2])
	if err := a.Publish(ctx, "room", "over tls"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "msg room "+a.id+" over tls", 5*time.Second, b, c)

	user, password := natsbroker.RouteCredentials([]byte(testClusterSecret))
	route := "nats-route://" + user + ":" + password + "@127.0.0.1:" + strconv.Itoa(ports[0])
	t.Run("no TLS", func(t *testing.T) {
		r := startRogueNATS(t, "rogue", route)
		if _, ok := r.logs.wait(rx(`Router connection closed`), 10*time.Second); !ok {
			t.Fatal("the plain route was not closed")
		}
		if got := r.routes(t); len(got) != 0 {
			t.Fatalf("the rogue server is routed to %v", got)
		}
	})
	t.Run("another CA", func(t *testing.T) {
		cert, key := other.Issue(t, dir, "rogue")
		conf := filepath.Join(dir, "rogue.conf")
		body := fmt.Sprintf("cluster { tls { cert_file: %q, key_file: %q, ca_file: %q, verify: true, timeout: 2 } }\n", cert, key, caFile)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		r := startRogueNATS(t, "rogue", route, "-c", conf)
		if _, ok := r.logs.wait(rx(`(?i)tls.*(error|fail)|Router connection closed`), 10*time.Second); !ok {
			t.Fatal("the route with another CA's certificate was not refused")
		}
		if got := r.routes(t); len(got) != 0 {
			t.Fatalf("the rogue server is routed to %v", got)
		}
	})
	waitCluster(t, nodes[0], k, 5*time.Second)
}

// TestClusterControlUntrusted: a server routed into a cluster without
// route authentication (loopback, the default) forges control messages.
// Malformed ones are dropped and counted in /metrics; a forged leave of a
// healthy node makes the others forget its members, but its heartbeats
// bring it back (resynced, ready, its member seen again); and a routed
// server named like a node that never speaks as one holds readiness only
// for a bounded time.
func TestClusterControlUntrusted(t *testing.T) {
	nodes := startCluster(t, 2, nil, "--heartbeat", "250ms", "--node-timeout", "1s")
	n1, n2 := nodes[0], nodes[1]
	ctx := ctx10(t)
	a := dial(t, wsURL(n1), "a", nil)
	b := dial(t, wsURL(n2), "b", nil)
	a.waitEvent(t, "join "+b.id, 1, 5*time.Second)

	// A routed server named like a node ("n9" with an incarnation) that never
	// says hello.
	r := startRogueNATS(t, "n9#1", "nats-route://127.0.0.1:"+strconv.Itoa(n1.clusterPort))
	testkit.Eventually(t, 10*time.Second, "the rogue routed to n1", func() bool { return len(r.routes(t)) > 0 })
	nc := r.connect(t)

	// n2's incarnation, from its heartbeat.
	hb, err := nc.SubscribeSync("rollcall.c.h." + nodeToken("n2"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := hb.NextMsgWithContext(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inc := m.Data[:8]

	// Malformed and inconsistent: dropped and counted.
	for _, f := range []struct {
		subj string
		body []byte
	}{
		{"rollcall.c.l." + nodeToken("n2"), []byte{1, 2, 3}},
		{"rollcall.c.l." + nodeToken("n2"), binary.BigEndian.AppendUint64(nil, binary.BigEndian.Uint64(inc)+1)},
		{"rollcall.c.h." + nodeToken("n2"), make([]byte, 8)},
	} {
		if err := nc.Publish(f.subj, f.body); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, 5*time.Second, "n1 counting 3 dropped control messages", func() bool {
		return metric(t, n1, "rollcall_cluster_control_dropped_total") >= 3
	})

	// A forged leave of n2: forgotten, then back.
	if err := nc.Publish("rollcall.c.l."+nodeToken("n2"), inc); err != nil {
		t.Fatal(err)
	}
	if _, ok := n1.logs.wait(rx(`msg="cluster node left".*peer=n2`), 5*time.Second); !ok {
		t.Fatal("n1 did not take the forged leave")
	}
	a.waitEvent(t, "leave "+b.id, 1, 5*time.Second)
	a.waitEvent(t, "join "+b.id, 2, 5*time.Second)
	waitCluster(t, n1, 2, 10*time.Second)
	if _, ok := n1.logs.wait(rx(`msg="cluster route from a server that is no rollcall node`), 5*time.Second); !ok {
		t.Error("n1 did not log the routed server it stopped waiting for")
	}
}

// nodeToken is a node name as a subject token (natsbroker's encoding).
func nodeToken(name string) string {
	return "_" + base64.RawURLEncoding.EncodeToString([]byte(name))
}

// metric returns the value of an unlabelled metric of p (0 if absent).
func metric(t *testing.T, p *proc, name string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+p.addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+clusterAPIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// TestServeRefusesOpenClusterPort: a route listener off the loopback range
// needs route authentication or --cluster-insecure (which is logged as a
// warning); nothing is bound before the refusal.
func TestServeRefusesOpenClusterPort(t *testing.T) {
	secret := writeSecret(t, testClusterSecret)
	for _, listen := range []string{"0.0.0.0:6222", ":6222", "192.0.2.1:6222", "example.com:6222", "[::]:6222"} {
		var out, errb strings.Builder
		if code := run([]string{"serve", "--cluster-listen", listen}, nil, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--cluster-secret-file") {
			t.Errorf("--cluster-listen %s: exit %d, %s", listen, code, errb.String())
		}
	}
	short := writeSecret(t, "short")
	for _, c := range []clusterConfig{
		{ClusterListen: "10.0.0.1:6222", ClusterInsecure: true},
		{ClusterListen: "10.0.0.1:6222", ClusterSecretFile: secret},
		{ClusterListen: "127.0.0.1:6222"},
		{ClusterListen: "127.3.4.5:6222"},
		{ClusterListen: "[::1]:6222"},
		{ClusterListen: "localhost:6222"},
	} {
		c.Heartbeat, c.NodeTimeout = time.Second, 3*time.Second
		c.OutboxMessages, c.OutboxBytes = natsbroker.DefaultMaxOutboxMessages, natsbroker.DefaultMaxOutboxBytes
		if bad := c.validate(); len(bad) != 0 {
			t.Errorf("%+v: %v", c, bad)
		}
	}
	c := clusterConfig{ClusterListen: "10.0.0.1:6222", ClusterTLSCert: "c.pem", Heartbeat: time.Second, NodeTimeout: 3 * time.Second,
		OutboxMessages: natsbroker.DefaultMaxOutboxMessages, OutboxBytes: natsbroker.DefaultMaxOutboxBytes}
	if bad := c.validate(); len(bad) != 1 || !strings.Contains(bad[0], "go together") {
		t.Errorf("half the TLS files: %v", bad)
	}
	// The warning of --cluster-insecure, and a short secret refused.
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	c = clusterConfig{ClusterListen: "10.0.0.1:6222", ClusterInsecure: true}
	var o natsbroker.Options
	if err := c.security(&o, log); err != nil || !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "not authenticated") {
		t.Errorf("insecure: %v, log %q", err, logs.String())
	}
	c = clusterConfig{ClusterListen: "127.0.0.1:0", ClusterSecretFile: short}
	if err := c.security(&o, log); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Errorf("short secret: %v", err)
	}
}
