package transport

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// Poller waits for many connections to become readable with one epoll
// instance, so that a connection whose peer is silent holds no goroutine:
// a reader runs only while there is something to read. One Poller serves
// any number of connections; Close it after they have ended.
//
// The epoll descriptor is itself waited on through Go's network poller
// (an epoll set is readable when one of its sockets is ready), so waiting
// blocks no thread and never holds a P in a system call.
type Poller struct {
	ep     *os.File // the epoll instance, non-blocking
	rc     syscall.RawConn
	shards [pollShards]pollShard
	next   atomic.Uint64 // last token handed out
	done   chan struct{}

	closeOnce sync.Once
}

// pollShards spreads the token table over several locks so that readiness
// events and registrations on different connections rarely meet.
const pollShards = 16

type pollShard struct {
	mu    sync.Mutex
	conns map[uint64]*Conn
}

// NewPoller starts a Poller and its wait loop.
func NewPoller() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("transport: epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		_ = syscall.Close(epfd)
		return nil, fmt.Errorf("transport: epoll descriptor: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		_ = ep.Close()
		return nil, fmt.Errorf("transport: epoll descriptor: %w", err)
	}
	p := &Poller{ep: ep, rc: rc, done: make(chan struct{})}
	for i := range p.shards {
		p.shards[i].conns = make(map[uint64]*Conn)
	}
	go p.wait()
	return p, nil
}

// Close stops the wait loop and releases the epoll instance. Connections
// still registered are not closed, but no longer woken: end them first.
func (p *Poller) Close() error {
	var err error
	p.closeOnce.Do(func() {
		err = p.ep.Close() // wakes the wait loop with an error
		<-p.done
	})
	return err
}

// wait is the loop that turns readiness into readers.
func (p *Poller) wait() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		var n int
		var werr error
		// Read calls the function until it reports done, parking the
		// goroutine in Go's poller while the epoll set has nothing ready.
		err := p.rc.Read(func(fd uintptr) bool {
			n, werr = syscall.EpollWait(int(fd), events, 0)
			return n > 0 || werr != nil && !errors.Is(werr, syscall.EINTR)
		})
		if err != nil {
			return // Close
		}
		if werr != nil {
			// Nothing else is expected from a valid epoll descriptor; stop
			// rather than spin.
			fmt.Fprintf(os.Stderr, "transport: epoll_wait: %v\n", werr)
			return
		}
		for i := range events[:n] {
			tok := token(&events[i])
			sh := p.shard(tok)
			sh.mu.Lock()
			c := sh.conns[tok]
			sh.mu.Unlock()
			if c != nil {
				c.readable()
			}
		}
	}
}

func (p *Poller) shard(tok uint64) *pollShard { return &p.shards[tok%pollShards] }

// register gives c a token; arm adds its socket to the epoll set.
func (p *Poller) register(c *Conn) uint64 {
	tok := p.next.Add(1)
	sh := p.shard(tok)
	sh.mu.Lock()
	sh.conns[tok] = c
	sh.mu.Unlock()
	return tok
}

// unregister forgets tok; a readiness event already on its way for it is
// dropped.
func (p *Poller) unregister(tok uint64) {
	sh := p.shard(tok)
	sh.mu.Lock()
	delete(sh.conns, tok)
	sh.mu.Unlock()
}

// arm asks for one readiness event on fd (level-triggered, one-shot: the
// socket is disabled again once the event is delivered). first adds fd to
// the set; later calls re-enable it.
func (p *Poller) arm(fd int, tok uint64, first bool) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT}
	setToken(&ev, tok)
	op := syscall.EPOLL_CTL_MOD
	if first {
		op = syscall.EPOLL_CTL_ADD
	}
	return p.ctl(op, fd, &ev)
}

// disarm removes fd from the epoll set.
func (p *Poller) disarm(fd int) {
	_ = p.ctl(syscall.EPOLL_CTL_DEL, fd, &syscall.EpollEvent{})
}

// ctl runs epoll_ctl while holding the epoll descriptor, so that a closed
// Poller's number, reused by another file, is never touched.
func (p *Poller) ctl(op, fd int, ev *syscall.EpollEvent) error {
	var err error
	if cerr := p.rc.Control(func(epfd uintptr) { err = syscall.EpollCtl(int(epfd), op, fd, ev) }); cerr != nil {
		return fmt.Errorf("transport: epoll: %w", cerr)
	}
	if err != nil {
		return fmt.Errorf("transport: epoll_ctl: %w", err)
	}
	return nil
}

// The 64-bit epoll data is split over the Fd and Pad fields of
// syscall.EpollEvent.
func setToken(ev *syscall.EpollEvent, tok uint64) {
	ev.Fd, ev.Pad = int32(uint32(tok)), int32(uint32(tok>>32))
}

func token(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
