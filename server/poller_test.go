package server

import (
	"fmt"
	"runtime"
	"testing"
	"time"

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
			if perConn && extra < n {
				t.Errorf("%d goroutines for %d idle sessions with a reader each", extra, n)
			}
			// Woken by a message, each session answers.
			for i, c := range clients {
				c.subscribe(fmt.Sprintf("room%d", i))
			}
			for _, c := range clients {
				c.conn.Close()
			}
			deadline := time.Now().Add(5 * time.Second)
			for srv.Stats().Connections > 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if open := srv.Stats().Connections; open != 0 {
				t.Fatalf("%d sessions still open after their clients left", open)
			}
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
