package transport

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSlowConsumer: a peer that never reads fills the queue; the next Send
// fails with ErrSlowConsumer, the connection closes with 1008 and every
// goroutine ends within the close timeout.
func TestSlowConsumer(t *testing.T) {
	srvSide, peer := net.Pipe() // writes block until the peer reads
	defer peer.Close()
	c := New(srvSide, nil, Options{QueueLength: 2})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		code, reason := c.ReadLoop(func([]byte) error { return nil })
		if code != ClosePolicyViolation || reason != "slow consumer: outbound queue full" {
			t.Errorf("ReadLoop ended with %d %q", code, reason)
		}
	}()
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = c.Send([]byte(`{"jsonrpc":"2.0"}`))
	}
	if !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("Send: %v", err)
	}
	if err := c.Send([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after overflow: %v", err)
	}
	select {
	case <-ended:
	case <-time.After(3 * DefaultCloseTimeout):
		t.Fatal("connection not closed")
	}
	<-c.Done()
}

// TestCloseIsFinal: Close queues one close frame; later Sends fail and a
// second Close changes nothing.
func TestCloseIsFinal(t *testing.T) {
	srvSide, peer := net.Pipe()
	defer peer.Close()
	c := New(srvSide, nil, Options{})
	c.Close(CloseGoingAway, "bye")
	c.Close(CloseProtocolError, "ignored")
	if code, why := c.CloseStatus(); code != CloseGoingAway || why != "bye" {
		t.Fatalf("status %d %q", code, why)
	}
	if err := c.Send([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close: %v", err)
	}
	// The peer reads the close frame: 0x88, length, code 1001, "bye".
	buf := make([]byte, 7)
	_ = peer.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := io.ReadFull(peer, buf); err != nil || buf[0] != 0x88 || buf[1] != 5 || string(buf[4:]) != "bye" {
		t.Fatalf("close frame % x %v", buf, err)
	}
	c.Terminate()
	<-c.Done()
}

func TestAppendHeader(t *testing.T) {
	for _, tc := range []struct{ n, size int }{{0, 2}, {125, 2}, {126, 4}, {65535, 4}, {65536, 10}} {
		n := tc.n
		h := appendHeader(nil, 1, n)
		if len(h) != tc.size || h[0] != 0x81 {
			t.Fatalf("n=%d: % x", n, h)
		}
	}
}
