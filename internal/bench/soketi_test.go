package bench

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// soketiDir is the comparator's folder, for the tests that run it. They
// are opt-in: ROLLCALL_BENCH_SOKETI=1 (after npm ci in bench/soketi, which
// bench/run does), so that the main test command needs neither node nor
// soketi's packages. With the variable set, a missing install fails.
func soketiDir(t *testing.T) string {
	t.Helper()
	if os.Getenv("ROLLCALL_BENCH_SOKETI") != "1" {
		t.Skip("opt-in: set ROLLCALL_BENCH_SOKETI=1 (after npm ci in bench/soketi) to run the soketi comparator tests")
	}
	dir := filepath.Join("..", "..", "bench", "soketi")
	if err := CheckSoketi(dir); err != nil {
		t.Fatalf("ROLLCALL_BENCH_SOKETI=1: %v", err)
	}
	return dir
}

// A tiny fanout against soketi over the Pusher driver: every message
// reaches every subscriber once, and nothing errs.
func TestSoketiFanout(t *testing.T) {
	dir := soketiDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rep, err := Run(ctx, Config{
		Params: Params{Scenario: "fanout", Channels: 2, Subscribers: 5, Publishers: 2, Payload: 100,
			Duration: 500 * time.Millisecond, Timeout: 30 * time.Second, Workers: 1},
		Servers: []string{"soketi"}, PusherComparator: dir, Rates: []float64{40}, Settle: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{"lost @ 40/s": 0, "duplicated @ 40/s": 0, "errors": 0} {
		if got, ok := rep.Median("soketi", name); !ok || got != want {
			t.Errorf("%s = %v (%v), want %v", name, got, ok, want)
		}
	}
	if got, ok := rep.Median("soketi", "delivered @ 40/s"); !ok || got <= 0 {
		t.Errorf("delivered %v/s", got)
	}
	if _, ok := rep.Median("soketi", "server CPU @ 40/s"); !ok {
		t.Error("no server CPU figure: soketi's pid unknown?")
	}
}

// Every socket soketi opens, its UDP peer discovery's included, is bound
// to 127.0.0.1.
func TestSoketiLoopbackOnly(t *testing.T) {
	dir := soketiDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, err := startSoketi(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.stop()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", srv.pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", srv.pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.Trim(strings.TrimPrefix(l, "socket:"), "[]")] = true
		}
	}
	seen := map[string][]string{}
	for _, proto := range []string{"tcp", "udp", "tcp6", "udp6"} {
		b, err := os.ReadFile("/proc/net/" + proto)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || !inodes[f[9]] {
				continue
			}
			addr := procAddr(t, f[1])
			seen[proto] = append(seen[proto], addr)
			if ip := net.ParseIP(strings.Split(addr, " ")[0]); ip == nil || !ip.Equal(net.IPv4(127, 0, 0, 1)) {
				t.Errorf("soketi has a %s socket bound to %s", proto, addr)
			}
		}
	}
	if len(seen["udp"]) == 0 || len(seen["tcp"]) < 2 {
		t.Errorf("sockets %v: want the discovery's UDP socket and the two listeners", seen)
	}
	t.Logf("soketi's sockets: %v", seen)
}

// procAddr decodes a /proc/net address (hex IP:port, IPv4 little-endian)
// as "IP port".
func procAddr(t *testing.T, s string) string {
	h, p, _ := strings.Cut(s, ":")
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	for i := 0; i+4 <= len(b); i += 4 { // each 32-bit word is in host order
		b[i], b[i+1], b[i+2], b[i+3] = b[i+3], b[i+2], b[i+1], b[i]
	}
	port, _ := strconv.ParseInt(p, 16, 32)
	return fmt.Sprintf("%s %d", net.IP(b), port)
}
