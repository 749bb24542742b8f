package transport

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
)

// Poller waits for many connections to become readable with one epoll
// instance, so that a connection whose peer is silent holds no goroutine:
// a reader runs only while there is something to read. One Poller serves
// any number of connections; Close it after they have ended.
type Poller struct {
	epfd   int
	wakeR  int // read end of a pipe that wakes the wait loop to stop
	wakeW  int
	shards [pollShards]pollShard
	next   uint64 // last token handed out; under shards[0].mu
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

// wakeToken is the epoll data of the wake pipe; connection tokens start
// at 1.
const wakeToken = 0

// NewPoller starts a Poller and its wait loop.
func NewPoller() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("transport: epoll_create1: %w", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		_ = syscall.Close(epfd)
		return nil, fmt.Errorf("transport: pipe2: %w", err)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setToken(&ev, wakeToken)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, pipe[0], &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(pipe[0])
		_ = syscall.Close(pipe[1])
		return nil, fmt.Errorf("transport: epoll_ctl: %w", err)
	}
	p := &Poller{epfd: epfd, wakeR: pipe[0], wakeW: pipe[1], done: make(chan struct{})}
	for i := range p.shards {
		p.shards[i].conns = make(map[uint64]*Conn)
	}
	go p.wait()
	return p, nil
}

// Close stops the wait loop and releases the epoll instance. Connections
// still registered are not closed, but no longer woken: end them first.
func (p *Poller) Close() error {
	p.closeOnce.Do(func() {
		_, _ = syscall.Write(p.wakeW, []byte{1})
		<-p.done
		_ = syscall.Close(p.epfd)
		_ = syscall.Close(p.wakeR)
		_ = syscall.Close(p.wakeW)
	})
	return nil
}

// wait is the loop that turns readiness into readers.
func (p *Poller) wait() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			// Nothing else is expected from a valid epoll descriptor; stop
			// rather than spin.
			fmt.Fprintf(os.Stderr, "transport: epoll_wait: %v\n", err)
			return
		}
		for i := range events[:n] {
			tok := token(&events[i])
			if tok == wakeToken {
				return
			}
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
	p.shards[0].mu.Lock()
	p.next++
	tok := p.next
	p.shards[0].mu.Unlock()
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
	if err := syscall.EpollCtl(p.epfd, op, fd, &ev); err != nil {
		return fmt.Errorf("transport: epoll_ctl: %w", err)
	}
	return nil
}

// disarm removes fd from the epoll set.
func (p *Poller) disarm(fd int) {
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
}

// The 64-bit epoll data is split over the Fd and Pad fields of
// syscall.EpollEvent.
func setToken(ev *syscall.EpollEvent, tok uint64) {
	ev.Fd, ev.Pad = int32(uint32(tok)), int32(uint32(tok>>32))
}

func token(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}
