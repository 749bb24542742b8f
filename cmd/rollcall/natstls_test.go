package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
)

// TestClusterExternalNATSTLS: a stock nats-server (built from its Go
// module) serving TLS and verifying client certificates, all of a CA the
// test makes. Two `rollcall serve` nodes connect to it with --nats
// tls://…, --nats-tls-ca, --nats-tls-cert and --nats-tls-key and see each
// other's members and messages; a node without the client certificate is
// refused at start, with an error that says so: the server's alert
// (certificate required) when it arrives during the handshake, else, when
// TLS 1.3 shows the refusal only as a connection closed after it, the
// flags it lacks.
func TestClusterExternalNATSTLS(t *testing.T) {
	bin, err := natsServerBin()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca := testkit.NewCA(t)
	caFile := ca.WriteCert(t, dir, "ca.pem")
	srvCert, srvKey := ca.Issue(t, dir, "nats")
	port := freePort(t)
	conf := filepath.Join(dir, "nats.conf")
	body := fmt.Sprintf("listen: \"127.0.0.1:%d\"\ntls { cert_file: %q, key_file: %q, ca_file: %q, verify: true, timeout: 2 }\n", port, srvCert, srvKey, caFile)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	logs := newLogBuf()
	cmd.Stderr, cmd.Stdout = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("--- log of nats-server:\n%s", logs)
		}
	})
	if _, ok := logs.wait(rx(`Server is ready`), 10*time.Second); !ok {
		t.Fatalf("nats-server did not start:\n%s", logs)
	}
	url := "tls://127.0.0.1:" + strconv.Itoa(port)
	args := func(name string, tls ...string) []string {
		return append([]string{"--addr", "127.0.0.1:0", "--node", name, "--api-key", clusterAPIKey, "--no-web",
			"--nats", url, "--nats-tls-ca", caFile}, tls...)
	}

	n1Cert, n1Key := ca.Issue(t, dir, "n1")
	n2Cert, n2Key := ca.Issue(t, dir, "n2")
	n1 := startProc(t, "n1", nil, args("n1", "--nats-tls-cert", n1Cert, "--nats-tls-key", n1Key)...)
	n2 := startProc(t, "n2", nil, args("n2", "--nats-tls-cert", n2Cert, "--nats-tls-key", n2Key)...)
	for _, n := range []*proc{n1, n2} {
		if n.addr == "" {
			t.Fatalf("%s did not start:\n%s", n.name, n.logs)
		}
		waitCluster(t, n, 2, 15*time.Second)
	}
	ctx := ctx10(t)
	a := dial(t, wsURL(n1), "a", nil)
	b := dial(t, wsURL(n2), "b", nil)
	for _, cl := range []*tclient{a, b} {
		if err := cl.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
	}
	waitAll(t, "sub room "+b.id, 5*time.Second, a)
	if err := b.Publish(ctx, "room", "over tls"); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "msg room "+b.id+" over tls", 5*time.Second, a)
	if got := a.memberIDs(t, "room"); len(got) != 2 {
		t.Fatalf("n1 lists %v in room, want a and b", got)
	}

	n3 := startProc(t, "n3", nil, args("n3")...)
	if n3.addr != "" {
		t.Fatalf("n3 started without a client certificate:\n%s", n3.logs)
	}
	if code := n3.wait(t, 15*time.Second); code == 0 {
		t.Fatalf("n3 exited 0:\n%s", n3.logs)
	}
	if _, ok := n3.logs.wait(rx(`natsbroker: connect: (remote error: tls: certificate required|nats: tls error: .*needs --nats-tls-cert and --nats-tls-key)`), time.Second); !ok {
		t.Fatalf("n3's error does not say that NATS refused it for want of a certificate:\n%s", n3.logs)
	}
	t.Logf("n3, without a client certificate:\n%s", n3.logs)
	waitCluster(t, n1, 2, 5*time.Second)
}
