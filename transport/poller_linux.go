package transport

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rollcall/rollcall/internal/epoll"
)

// Poller waits for many connections to become readable with one epoll
// instance, so that a connection whose peer is silent holds no goroutine:
// a reader runs only while there is something to read. One Poller serves
// any number of connections; Close it after they have ended.
//
// The epoll set is itself waited on through Go's network poller, so
// waiting blocks no thread and never holds a P in a system call.
type Poller struct {
	set    *epoll.Set
	shards [pollShards]pollShard
	next   atomic.Uint64 // last token handed out
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
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
	set, err := epoll.New()
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	p := &Poller{set: set, done: make(chan struct{})}
	for i := range p.shards {
		p.shards[i].conns = make(map[uint64]*Conn)
	}
	go p.wait()
	return p, nil
}

// Close stops the wait loop and releases the epoll instance. Connections
// still registered are not closed, and are woken no more: only their idle
// timeout ends them. End them first.
func (p *Poller) Close() error {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.closeErr = p.set.Close() // wakes the wait loop with an error
		<-p.done
	})
	return p.closeErr
}

// wait is the loop that turns readiness into readers.
func (p *Poller) wait() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := p.set.Wait(events)
		if err != nil {
			if !p.closed.Load() {
				// Nothing else is expected from a valid epoll set; stop
				// rather than spin.
				fmt.Fprintf(os.Stderr, "transport: poller stopped: %v\n", err)
			}
			return
		}
		for i := range events[:n] {
			tok := epoll.Data(&events[i])
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
	op := syscall.EPOLL_CTL_MOD
	if first {
		op = syscall.EPOLL_CTL_ADD
	}
	return p.set.Ctl(op, fd, syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLONESHOT, tok)
}

// disarm removes fd from the epoll set.
func (p *Poller) disarm(fd int) {
	_ = p.set.Ctl(syscall.EPOLL_CTL_DEL, fd, 0, 0)
}
