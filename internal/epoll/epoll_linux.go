// Package epoll is a Linux epoll set that is itself waited on through Go's
// network poller: an epoll descriptor is readable when one of its files is
// ready, so waiting parks a goroutine like any socket read, blocking no
// thread and never holding a P in a system call.
package epoll

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Set is one epoll instance.
type Set struct {
	f  *os.File // the epoll descriptor, non-blocking
	rc syscall.RawConn
}

// New creates a Set.
func New() (*Set, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	f := os.NewFile(uintptr(fd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	return &Set{f: f, rc: rc}, nil
}

// Close releases the set; a Wait in progress returns an error.
func (s *Set) Close() error { return s.f.Close() }

// Wait fills events with ready entries and returns how many, parking the
// goroutine until there is at least one. It fails once the set is closed.
func (s *Set) Wait(events []syscall.EpollEvent) (int, error) {
	var n int
	var werr error
	err := s.rc.Read(func(fd uintptr) bool {
		n, werr = syscall.EpollWait(int(fd), events, 0)
		return n > 0 || werr != nil && !errors.Is(werr, syscall.EINTR)
	})
	if err != nil {
		return 0, fmt.Errorf("epoll: %w", err)
	}
	if werr != nil {
		return 0, fmt.Errorf("epoll_wait: %w", werr)
	}
	return n, nil
}

// Ctl adds, modifies or deletes fd (syscall.EPOLL_CTL_*) with events and
// data. It holds the set's descriptor while it runs, so that a closed
// set's number, reused by another file, is never touched.
func (s *Set) Ctl(op, fd int, events uint32, data uint64) error {
	ev := syscall.EpollEvent{Events: events}
	ev.Fd, ev.Pad = int32(uint32(data)), int32(uint32(data>>32))
	var err error
	if cerr := s.rc.Control(func(epfd uintptr) { err = syscall.EpollCtl(int(epfd), op, fd, &ev) }); cerr != nil {
		return fmt.Errorf("epoll: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	return nil
}

// Data returns the data given to Ctl with the event.
func Data(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
