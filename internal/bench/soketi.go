package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// soketi is the Pusher comparator: soketi 1.6.1 (a Node server on
// uWebSockets.js), installed by npm ci in bench/soketi. The bench's Pusher
// driver talks to it exactly as to rollcall-pusher, with the same app.

// soketiListening is soketi's line with its address.
var soketiListening = regexp.MustCompile(`The Websockets server is available at (\S+)`)

// SoketiServer is the path of soketi's command inside its folder.
const SoketiServer = "node_modules/@soketi/soketi/bin/server.js"

// soketiConfig is soketi's configuration for the bench, in the dotted keys
// of its --config file (the same keys its SOKETI_* variables set): the
// bench's app with client events on and unlimited, presence channels
// without soketi's default cap of 100 members, and every socket on
// 127.0.0.1 at the given ports. That includes the UDP socket of its peer
// discovery (node-discover), which soketi starts even when it runs alone:
// by default it binds 0.0.0.0:11002 and says hello to 255.255.255.255, so
// it is bound to 127.0.0.1 and its hellos are sent by unicast to 127.0.0.1
// only, on a port of this run, where no other soketi listens (the
// broadcast address, unused once unicast is set, is loopback's too).
func soketiConfig(port, metricsPort, discoveryPort int) map[string]any {
	return map[string]any{
		"host":                          "127.0.0.1",
		"port":                          port,
		"metrics.enabled":               false,
		"metrics.host":                  "127.0.0.1",
		"metrics.port":                  metricsPort,
		"cluster.address":               "127.0.0.1",
		"cluster.unicast":               "127.0.0.1",
		"cluster.broadcast":             "127.255.255.255",
		"cluster.port":                  discoveryPort,
		"adapter.driver":                "local",
		"appManager.driver":             "array",
		"rateLimiter.driver":            "local",
		"queue.driver":                  "sync",
		"cache.driver":                  "memory",
		"shutdownGracePeriod":           100,
		"presence.maxMembersPerChannel": 1000000000,
		"appManager.array.apps": []map[string]any{{
			"id":                        PusherAppID,
			"key":                       PusherAppKey,
			"secret":                    PusherAppSecret,
			"enableClientMessages":      true,
			"maxConnections":            -1,
			"maxClientEventsPerSecond":  -1,
			"maxBackendEventsPerSecond": -1,
			"maxReadRequestsPerSecond":  -1,
			"enabled":                   true,
			"webhooks":                  []any{},
		}},
	}
}

// CheckSoketi reports whether dir holds an installed soketi.
func CheckSoketi(dir string) error {
	if dir == "" {
		return errors.New("no soketi folder: run npm ci in bench/soketi and pass --pusher-comparator bench/soketi")
	}
	if _, err := os.Stat(filepath.Join(dir, SoketiServer)); err != nil {
		return fmt.Errorf("soketi is not installed in %s (run npm ci there): %w", dir, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		return fmt.Errorf("soketi needs node: %w", err)
	}
	return nil
}

// startSoketi runs soketi from dir on free loopback ports and waits until
// it accepts connections.
func startSoketi(ctx context.Context, pin, dir string) (*serverProc, error) {
	if err := CheckSoketi(dir); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	ports = append(ports, udp.LocalAddr().(*net.UDPAddr).Port)
	udp.Close()
	tmp, err := os.MkdirTemp("", "rollcall-bench-soketi-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // soketi reads it once, at its start
	b, err := json.Marshal(soketiConfig(ports[0], ports[1], ports[2]))
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(tmp, "soketi.json")
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		return nil, err
	}
	server, err := filepath.Abs(filepath.Join(dir, SoketiServer))
	if err != nil {
		return nil, err
	}
	// soketi prints the address without knowing whether its listen
	// succeeded, so the address is checked with a connection too.
	srv, err := startServer(ctx, launchSpec{name: "soketi", args: []string{"node", server, "start", "--config=" + conf}, pin: pin,
		listening: soketiListening})
	if err != nil {
		return nil, err
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(srv.target, "ws://"), "/")
	if want := fmt.Sprintf("127.0.0.1:%d", ports[0]); addr != want {
		srv.stop()
		return nil, fmt.Errorf("soketi reported %s, want %s: was the config read?", addr, want)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		srv.stop()
		return nil, fmt.Errorf("soketi is not listening on %s: %w", addr, err)
	}
	c.Close()
	return srv, nil
}
