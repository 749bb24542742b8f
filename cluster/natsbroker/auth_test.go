package natsbroker

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/rollcall/rollcall/internal/testkit"
)

const testSecret = "0123456789abcdef0123456789abcdef-test"

func TestRouteCredentials(t *testing.T) {
	u1, p1 := RouteCredentials([]byte(testSecret))
	u2, p2 := RouteCredentials([]byte(testSecret))
	u3, p3 := RouteCredentials([]byte(testSecret + "x"))
	if u1 != u2 || p1 != p2 {
		t.Fatal("not deterministic")
	}
	if u1 == u3 || p1 == p3 {
		t.Fatal("another secret gives the same credentials")
	}
	if strings.Contains(u1+p1, testSecret) || len(p1) != 43 || !strings.HasPrefix(u1, "rollcall-") {
		t.Fatalf("credentials %q %q", u1, p1)
	}
	dir := t.TempDir()
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("too short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSecretFile(short); err == nil || !strings.Contains(err.Error(), "at least 32") {
		t.Fatalf("short secret: %v", err)
	}
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte(testSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadSecretFile(good); err != nil || string(b) != testSecret {
		t.Fatalf("good secret: %q %v", b, err)
	}
	if _, err := New(t.Context(), Options{Name: "x", ClusterSecret: []byte("short")}); err == nil {
		t.Fatal("New took a short secret")
	}
}

// TestRouteSecret: nodes sharing a secret form a cluster; a plain
// nats-server routing in without credentials, or with wrong ones, is
// refused, and sees nothing of the cluster's messages.
func TestRouteSecret(t *testing.T) {
	ns := cluster(t, 2, func(o *Options) { o.ClusterSecret = []byte(testSecret) })
	n1 := ns[0]
	for _, tc := range []struct{ name, user, password string }{
		{"no credentials", "", ""},
		{"wrong credentials", "rollcall-0000000000000000", "wrong"},
		{"another secret's", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, password := tc.user, tc.password
			if tc.name == "another secret's" {
				user, password = RouteCredentials([]byte(testSecret + "-other"))
			}
			r := startRogue(t, "rogue", n1.ClusterAddr(), user, password, nil)
			r.logs.wait(t, rx(`(?i)authorization violation`), 10*time.Second)
			// The rogue's own side of the refused route may still be
			// listed for a moment after n1 refused it: wait for it to go.
			testkit.Eventually(t, 5*time.Second, "the rogue server without routes", func() bool { return len(routedServers(r.srv)) == 0 })
			testkit.Eventually(t, 5*time.Second, "n1 with its one route (n2)", func() bool { return len(routedServers(n1.srv)) == 1 })
		})
	}
	// The right credentials route in: what a holder of the secret can do.
	user, password := RouteCredentials([]byte(testSecret))
	r := startRogue(t, "holder", n1.ClusterAddr(), user, password, nil)
	testkit.Eventually(t, 10*time.Second, "the secret's holder routed in", func() bool { return len(routedServers(r.srv)) > 0 })
}

// TestRouteTLS: nodes with certificates of one CA form a cluster over
// mutual TLS; a server without TLS, or with a certificate another CA
// signed, gets no route.
func TestRouteTLS(t *testing.T) {
	dir := t.TempDir()
	ca := testkit.NewCA(t)
	other := testkit.NewCA(t)
	caFile := ca.WriteCert(t, dir, "ca.pem")
	confs := map[string]*tls.Config{}
	for _, name := range []string{"n1", "n2"} {
		cert, key := ca.Issue(t, dir, name)
		tc, err := RouteTLS(cert, key, caFile)
		if err != nil {
			t.Fatal(err)
		}
		confs[name] = tc
	}
	ns := cluster(t, 2, func(o *Options) { o.ClusterTLS = confs[o.Name] })
	n1 := ns[0]
	if k := len(routedServers(n1.srv)); k != 1 {
		t.Fatalf("n1 has %d routes", k)
	}
	t.Run("no TLS", func(t *testing.T) {
		r := startRogue(t, "rogue", n1.ClusterAddr(), "", "", nil)
		t.Log(r.logs.wait(t, rx(`Router connection closed`), 10*time.Second))
		testkit.Eventually(t, 5*time.Second, "n1 with its one route", func() bool { return len(routedServers(n1.srv)) == 1 })
		if k := len(routedServers(r.srv)); k != 0 {
			t.Fatalf("the rogue server has %d routes", k)
		}
	})
	t.Run("another CA", func(t *testing.T) {
		cert, key := other.Issue(t, dir, "rogue")
		otherCA := other.WriteCert(t, dir, "other-ca.pem")
		tc, err := RouteTLS(cert, key, otherCA)
		if err != nil {
			t.Fatal(err)
		}
		tc.RootCAs = ca.Pool() // it even trusts the cluster's CA: n1 must still refuse its certificate
		r := startRogue(t, "rogue", n1.ClusterAddr(), "", "", func(so *server.Options) {
			so.Cluster.TLSConfig = tc
			so.Cluster.TLSTimeout = 2
		})
		t.Log(r.logs.wait(t, rx(`(?i)(tls.*(error|fail)|certificate|Router connection closed)`), 10*time.Second))
		if k := len(routedServers(r.srv)); k != 0 {
			t.Fatalf("the rogue server has %d routes", k)
		}
		if k := len(routedServers(n1.srv)); k != 1 {
			t.Fatalf("n1 has %d routes, want 1 (n2)", k)
		}
	})
}
