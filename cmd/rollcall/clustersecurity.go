package main

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/nats-io/nats.go"

	"github.com/rollcall/rollcall/cluster/natsbroker"
)

// validateRoutes checks the route security flags: TLS files go together,
// and a route listener off the loopback range needs route authentication
// (a secret or mutual TLS) unless --cluster-insecure says the network is
// private.
func (c *clusterConfig) validateRoutes() []string {
	var bad []string
	tlsSet := c.ClusterTLSCert != "" || c.ClusterTLSKey != "" || c.ClusterTLSCA != ""
	if tlsSet && (c.ClusterTLSCert == "" || c.ClusterTLSKey == "" || c.ClusterTLSCA == "") {
		bad = append(bad, "--cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca go together")
	}
	if (c.NATSTLSCert == "") != (c.NATSTLSKey == "") {
		bad = append(bad, "--nats-tls-cert and --nats-tls-key go together")
	}
	if len(c.NATS) > 0 && (tlsSet || c.ClusterSecretFile != "" || c.ClusterInsecure) {
		bad = append(bad, "--cluster-secret-file, --cluster-tls-* and --cluster-insecure are for the embedded NATS (--cluster-listen), not --nats")
	}
	if c.ClusterListen != "" && !loopback(c.ClusterListen) && c.ClusterSecretFile == "" && !tlsSet && !c.ClusterInsecure {
		bad = append(bad, fmt.Sprintf("--cluster-listen %s is off the loopback range and routes are not authenticated: anyone who reaches it joins the cluster, reads every member and message and can forge them. "+
			"Give every node --cluster-secret-file (make one with: head -c 32 /dev/urandom | base64 > cluster.secret) and, across hosts, --cluster-tls-cert/--cluster-tls-key/--cluster-tls-ca; "+
			"or, on a private network only, --cluster-insecure", c.ClusterListen))
	}
	return bad
}

// loopback reports whether a host:port listens on the loopback range only:
// its host is an IP in 127.0.0.0/8, ::1, or "localhost". An empty host,
// 0.0.0.0, any other IP or name listens (or may) beyond the machine.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// security puts the route secret, route TLS and external NATS TLS into o,
// reading their files once, and warns of an unauthenticated route listener
// off the loopback range.
func (c *clusterConfig) security(o *natsbroker.Options, log *slog.Logger) error {
	if c.ClusterSecretFile != "" {
		secret, err := natsbroker.ReadSecretFile(c.ClusterSecretFile)
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		o.ClusterSecret = secret
	}
	if c.ClusterTLSCert != "" {
		tc, err := natsbroker.RouteTLS(c.ClusterTLSCert, c.ClusterTLSKey, c.ClusterTLSCA)
		if err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
		o.ClusterTLS = tc
	}
	if c.NATSTLSCA != "" {
		o.NATSOptions = append(o.NATSOptions, nats.RootCAs(c.NATSTLSCA))
	}
	if c.NATSTLSCert != "" {
		o.NATSOptions = append(o.NATSOptions, nats.ClientCert(c.NATSTLSCert, c.NATSTLSKey))
	}
	if c.ClusterListen != "" && !loopback(c.ClusterListen) && o.ClusterSecret == nil && o.ClusterTLS == nil {
		log.Warn("cluster routes are not authenticated (--cluster-insecure): anyone who reaches --cluster-listen joins the cluster", "cluster_listen", c.ClusterListen)
	}
	return nil
}
