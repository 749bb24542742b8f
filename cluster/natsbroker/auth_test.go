package natsbroker

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
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
	ca := newTestCA(t)
	other := newTestCA(t)
	caFile := ca.writeCA(t, dir, "ca.pem")
	confs := map[string]*tls.Config{}
	for _, name := range []string{"n1", "n2"} {
		cert, key := ca.issue(t, dir, name)
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
		cert, key := other.issue(t, dir, "rogue")
		otherCA := other.writeCA(t, dir, "other-ca.pem")
		tc, err := RouteTLS(cert, key, otherCA)
		if err != nil {
			t.Fatal(err)
		}
		tc.RootCAs = ca.pool() // it even trusts the cluster's CA: n1 must still refuse its certificate
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

// testCA is a certificate authority made for a test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "rollcall test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, der: der}
}

func (c *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

func (c *testCA) writeCA(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// issue makes a node certificate for 127.0.0.1, good for both ends of a
// route, and returns its certificate and key files.
func (c *testCA) issue(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
