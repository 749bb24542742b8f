//go:build linux

package epoll

import (
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Wait parks until a registered file is ready and returns its data; Close
// ends a Wait in progress with an error.
func TestWaitAndClose(t *testing.T) {
	s, err := New()
	if err != nil {
		t.Fatal(err)
	}
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	const data = 1<<40 | 7 // both halves of the 64 bits survive
	if err := s.Ctl(syscall.EPOLL_CTL_ADD, p[0], syscall.EPOLLIN|syscall.EPOLLONESHOT, data); err != nil {
		t.Fatal(err)
	}
	got := make(chan uint64)
	go func() {
		events := make([]syscall.EpollEvent, 4)
		n, err := s.Wait(events)
		if err != nil || n != 1 {
			t.Errorf("Wait: %d %v", n, err)
			close(got)
			return
		}
		got <- Data(&events[0])
	}()
	select {
	case <-got:
		t.Fatal("Wait returned before the pipe was written")
	case <-time.After(50 * time.Millisecond):
	}
	if _, err := syscall.Write(p[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-got:
		if d != data {
			t.Fatalf("data %#x, want %#x", d, uint64(data))
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Wait did not return for a ready pipe")
	}

	// One-shot: the pipe is still readable but disabled, so Wait parks
	// until Close.
	waited := make(chan error)
	go func() {
		_, err := s.Wait(make([]syscall.EpollEvent, 4))
		waited <- err
	}()
	time.Sleep(50 * time.Millisecond) // lets Wait park first; if it has not, Close ends it all the same
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if err == nil {
			t.Fatal("Wait on a closed set returned no error")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not end the Wait")
	}
	if err := s.Ctl(syscall.EPOLL_CTL_DEL, p[0], 0, 0); err == nil {
		t.Fatal("Ctl on a closed set succeeded")
	}
}
