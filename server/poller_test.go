package server

import (
	"bufio"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/presence"
)

// With the poller (the default on Linux) an idle session holds no
// goroutine; with ReaderPerConn each holds its reader. Either way every
// session still answers when woken, and ends when its client leaves.
func TestIdleSessionsHoldNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Fatalf("the poller is Linux-only; this test runs on Linux (GOOS=%s)", runtime.GOOS)
	}
	for _, perConn := range []bool{false, true} {
		t.Run(fmt.Sprintf("ReaderPerConn=%v", perConn), func(t *testing.T) {
			srv, url := startServer(t, Options{ReaderPerConn: perConn, MemberEvents: presence.MemberEventsSelf})
			const n = 40
			base := runtime.NumGoroutine()
			clients := make([]*rawClient, n)
			for i := range clients {
				clients[i] = dial(t, url)
				clients[i].join(fmt.Sprintf("m%d", i), "")
			}
			extra := settledGoroutines(base)
			if !perConn && extra > 2 {
				t.Errorf("%d goroutines for %d idle sessions, want none", extra, n)
			}
			// Goroutines of earlier tests may still be ending: allow a few.
			if perConn && extra < n-4 {
				t.Errorf("%d goroutines for %d idle sessions with a reader each", extra, n)
			}
			// Woken by a message, each session answers.
			for i, c := range clients {
				c.subscribe(fmt.Sprintf("room%d", i))
			}
			for _, c := range clients {
				c.conn.Close()
			}
			testkit.Poll(t, testTimeout, func() error {
				if open := srv.Stats().Connections; open != 0 {
					return fmt.Errorf("%d sessions still open after their clients left", open)
				}
				return nil
			})
			if members, _ := srv.Engine().Members(""); len(members) != 0 {
				t.Fatalf("%d members left behind", len(members))
			}
		})
	}
}

// settledGoroutines waits for writers and readers to finish and returns
// how many goroutines there are beyond base.
func settledGoroutines(base int) int {
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > base+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	return runtime.NumGoroutine() - base
}

// Clients that connect together are not pinged together: each is pinged
// after 3/4 to all of the ping interval of silence, so their first pings
// spread over a quarter of the interval; and a silent client is not pinged
// again before its own threshold has passed.
func TestPingsAreSpread(t *testing.T) {
	const interval = 400 * time.Millisecond
	_, url := startServer(t, Options{PingInterval: interval, IdleTimeout: 3 * time.Second})
	const n = 40
	start := time.Now()
	firsts := make(chan time.Duration, n)
	counts := make(chan int, n)
	for range n {
		c := dial(t, url) // reads the session frame
		go func() {
			var first time.Duration
			pings := 0
			br := bufio.NewReader(c.conn)
			_ = c.conn.SetReadDeadline(start.Add(1200 * time.Millisecond))
			for {
				h, err := ws.ReadHeader(br)
				if err != nil {
					break
				}
				if _, err := br.Discard(int(h.Length)); err != nil {
					break
				}
				if h.OpCode == ws.OpPing {
					if pings == 0 {
						first = time.Since(start)
					}
					pings++
				}
			}
			firsts <- first
			counts <- pings
		}()
	}
	lo, hi := time.Hour, time.Duration(0)
	for range n {
		f := <-firsts
		if f == 0 {
			t.Fatal("a silent client was not pinged within 3 ping intervals")
		}
		lo, hi = min(lo, f), max(hi, f)
		if c := <-counts; c > 4 {
			t.Errorf("a silent client got %d pings in 1.2 s with a 400 ms interval", c)
		}
	}
	if lo < interval*3/4-50*time.Millisecond || hi > interval+400*time.Millisecond {
		t.Errorf("first pings between %v and %v, want within [%v, %v]", lo, hi, interval*3/4, interval)
	}
	if hi-lo < interval/8 {
		t.Errorf("first pings of %d clients that connected together all within %v", n, hi-lo)
	}
}
