package natsbroker

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// serverName is the embedded server's name: the node name and incarnation,
// so that a restarted node's server is a new server to NATS, and a route's
// remote name tells whose server it is.
func serverName(node string, inc uint64) string {
	return node + "#" + strconv.FormatUint(inc, 16)
}

func parseServerName(s string) (node string, inc uint64, ok bool) {
	i := strings.LastIndexByte(s, '#')
	if i < 0 {
		return "", 0, false
	}
	inc, err := strconv.ParseUint(s[i+1:], 16, 64)
	if err != nil {
		return "", 0, false
	}
	return s[:i], inc, true
}

// startServer starts the embedded nats-server: routes, no monitoring, no
// JetStream, no signal handlers, no logs. The node connects in process.
//
// The client listener cannot be turned off: with DontListen, nats-server
// v2.15.2 never starts routing (StartRouting waits for a channel only the
// client accept loop closes). So the client listener is on a random
// loopback port and takes only token, a random secret the node alone knows.
func startServer(o *Options, inc uint64, token string) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(o.ClusterListen)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: cluster listen %q: %w", o.ClusterListen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("natsbroker: cluster listen %q: bad port", o.ClusterListen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else if err := checkListen(o.ClusterListen); err != nil {
		return nil, err
	}
	var routes []*url.URL
	for _, p := range o.Peers {
		s := p
		if !strings.Contains(s, "://") {
			s = "nats-route://" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("natsbroker: peer %q is not host:port", p)
		}
		if o.ClusterUser != "" && u.User == nil {
			u.User = url.UserPassword(o.ClusterUser, o.ClusterPassword)
		}
		routes = append(routes, u)
	}
	so := &server.Options{
		ServerName:    serverName(o.Name, inc),
		Host:          "127.0.0.1",
		Port:          server.RANDOM_PORT,
		Authorization: token,
		NoLog:         true,
		NoSigs:        true,
		MaxPayload:    8 << 20,
		Cluster: server.ClusterOpts{
			Name:        o.ClusterName,
			Host:        host,
			Port:        port,
			Advertise:   o.ClusterAdvertise,
			NoAdvertise: true, // no client URLs to gossip: no client listener
			Username:    o.ClusterUser,
			Password:    o.ClusterPassword,
		},
		Routes: routes,
	}
	if o.ClusterTLS != nil {
		so.Cluster.TLSConfig = o.ClusterTLS.Clone()
		so.Cluster.TLSTimeout = routeTLSTimeout
	}
	if o.Server != nil {
		o.Server(so)
	}
	srv, err := server.NewServer(so)
	if err != nil {
		return nil, fmt.Errorf("natsbroker: embedded server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("natsbroker: embedded server did not start (cluster listen %s)", o.ClusterListen)
	}
	return srv, nil
}

// checkListen fails at once when addr cannot be listened on (a port in
// use, an address not of this host), where nats-server would retry in the
// background and never become ready.
func checkListen(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			err = syscall.EADDRINUSE
		}
		return fmt.Errorf("natsbroker: cluster listen %s: %w", addr, err)
	}
	return ln.Close()
}

// routedServers returns the names of the servers srv has a route to.
func routedServers(srv *server.Server) map[string]bool {
	rz, err := srv.Routez(&server.RoutezOptions{})
	if err != nil {
		return nil
	}
	m := make(map[string]bool, len(rz.Routes))
	for _, r := range rz.Routes {
		if r.RemoteName != "" {
			m[r.RemoteName] = true
		}
	}
	return m
}

// waitRoutes waits, at most timeout, until srv has a route to some server,
// then until the set of routed servers stays the same for a moment (the
// servers a seed knows connect to a newcomer within milliseconds).
func waitRoutes(srv *server.Server, timeout time.Duration, stop <-chan struct{}) {
	const step = 10 * time.Millisecond
	const settle = 100 * time.Millisecond
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(step)
	defer t.Stop()
	var last map[string]bool
	var since time.Time
	for time.Now().Before(deadline) {
		cur := routedServers(srv)
		switch {
		case len(cur) == 0:
		case !sameSet(cur, last):
			last, since = cur, time.Now()
		case time.Since(since) >= settle:
			return
		}
		select {
		case <-t.C:
		case <-stop:
			return
		}
	}
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}
