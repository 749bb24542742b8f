package presence_test

import (
	"context"
	"slices"
	"sync"

	"github.com/rollcall/rollcall/presence"
)

// fakeNet connects engines in one process the way a network would:
// asynchronously, one FIFO queue per receiving node, each drained by its own
// goroutine. It copies every event it carries (a receiving node builds its
// own), and settle waits until every queue is empty.
type fakeNet struct {
	mu       sync.Mutex
	idle     *sync.Cond
	inFlight int
	nodes    map[string]*fakeNode
	dropNext bool // drop the next Replicate (to test repair by Sync)
	wg       sync.WaitGroup
}

type fakeNode struct {
	name  string
	net   *fakeNet
	recv  presence.Receiver
	subs  map[string]bool // channels this node subscribed to
	queue []func()
	wake  chan struct{}
	stop  chan struct{}
}

func newFakeNet() *fakeNet {
	n := &fakeNet{nodes: make(map[string]*fakeNode)}
	n.idle = sync.NewCond(&n.mu)
	return n
}

// broker returns the broker of node name, for presence.Options.
func (n *fakeNet) broker(name string) *fakeNode {
	nd := &fakeNode{name: name, net: n, subs: make(map[string]bool), wake: make(chan struct{}, 1), stop: make(chan struct{})}
	n.mu.Lock()
	n.nodes[name] = nd
	n.mu.Unlock()
	return nd
}

// start attaches the engine's receiver and starts the node's pump.
func (nd *fakeNode) start(r presence.Receiver) {
	nd.recv = r
	nd.net.wg.Go(nd.pump)
}

func (nd *fakeNode) pump() {
	for {
		select {
		case <-nd.stop:
			return
		case <-nd.wake:
		}
		for {
			nd.net.mu.Lock()
			if len(nd.queue) == 0 {
				nd.net.mu.Unlock()
				break
			}
			f := nd.queue[0]
			nd.queue = nd.queue[1:]
			nd.net.mu.Unlock()
			f()
			nd.net.mu.Lock()
			nd.net.inFlight--
			if nd.net.inFlight == 0 {
				nd.net.idle.Broadcast()
			}
			nd.net.mu.Unlock()
		}
	}
}

// send queues f to node to; n.mu must be held.
func (n *fakeNet) sendLocked(to *fakeNode, f func()) {
	to.queue = append(to.queue, f)
	n.inFlight++
	select {
	case to.wake <- struct{}{}:
	default:
	}
}

// settle waits until every message sent so far was handled.
func (n *fakeNet) settle() {
	n.mu.Lock()
	for n.inFlight > 0 {
		n.idle.Wait()
	}
	n.mu.Unlock()
}

// close stops every pump.
func (n *fakeNet) close() {
	n.mu.Lock()
	for _, nd := range n.nodes {
		close(nd.stop)
	}
	n.mu.Unlock()
	n.wg.Wait()
}

// others calls f for every other node, with n.mu held.
func (nd *fakeNode) others(f func(*fakeNode)) {
	for _, o := range nd.net.nodes {
		if o != nd && o.recv != nil {
			f(o)
		}
	}
}

func copyEvent(ev *presence.Event) *presence.Event {
	return &presence.Event{Kind: ev.Kind, Channel: ev.Channel, Name: ev.Name, Data: slices.Clone(ev.Data),
		Member: ev.Member, Members: slices.Clone(ev.Members), Except: ev.Except, Err: ev.Err}
}

func (nd *fakeNode) Subscribe(channel string) {
	nd.net.mu.Lock()
	nd.subs[channel] = true
	nd.net.mu.Unlock()
}

func (nd *fakeNode) Unsubscribe(channel string) {
	nd.net.mu.Lock()
	delete(nd.subs, channel)
	nd.net.mu.Unlock()
}

func (nd *fakeNode) Publish(channel string, ev *presence.Event) {
	cp := copyEvent(ev)
	nd.net.mu.Lock()
	defer nd.net.mu.Unlock()
	nd.others(func(o *fakeNode) {
		if o.subs[channel] {
			nd.net.sendLocked(o, func() { o.recv.Deliver(channel, cp) })
		}
	})
}

func (nd *fakeNode) SendTo(node, conn string, ev *presence.Event) {
	cp := copyEvent(ev)
	nd.net.mu.Lock()
	defer nd.net.mu.Unlock()
	if o := nd.net.nodes[node]; o != nil && o.recv != nil {
		nd.net.sendLocked(o, func() { o.recv.DeliverTo(conn, cp) })
	}
}

func (nd *fakeNode) BroadcastGroups(pattern, text string) {
	nd.net.mu.Lock()
	defer nd.net.mu.Unlock()
	nd.others(func(o *fakeNode) {
		nd.net.sendLocked(o, func() { o.recv.DeliverGroups(pattern, text) })
	})
}

func (nd *fakeNode) Replicate(ch presence.Change) {
	nd.net.mu.Lock()
	defer nd.net.mu.Unlock()
	if nd.net.dropNext {
		nd.net.dropNext = false
		return
	}
	from := nd.name
	nd.others(func(o *fakeNode) {
		nd.net.sendLocked(o, func() { o.recv.Apply(from, ch) })
	})
}

// cluster is the engine of a test: one node, or several over a fakeNet.
// Its methods call the engine that owns the connection and then let the
// network settle, so that a test sees every node's events as soon as the
// call returns, as on one node; reads go to the first node.
type cluster struct {
	nodes []*presence.Engine
	net   *fakeNet // nil for one node
	owner sync.Map // *presence.Conn → *presence.Engine
}

func newCluster(n int, opts presence.Options) *cluster {
	cl := &cluster{}
	if n == 1 {
		cl.nodes = []*presence.Engine{presence.New(opts)}
		return cl
	}
	cl.net = newFakeNet()
	for i := range n {
		o := opts
		o.Node = string(rune('a' + i))
		b := cl.net.broker(o.Node)
		o.Broker = b
		e := presence.New(o)
		b.start(e.Receiver())
		cl.nodes = append(cl.nodes, e)
	}
	return cl
}

func (cl *cluster) close() {
	if cl.net != nil {
		cl.net.close()
	}
}

func (cl *cluster) settle() {
	if cl.net != nil {
		cl.net.settle()
	}
}

func (cl *cluster) of(c *presence.Conn) *presence.Engine {
	if e, ok := cl.owner.Load(c); ok {
		return e.(*presence.Engine)
	}
	return cl.nodes[0]
}

// after settles the network and returns err.
func (cl *cluster) after(err error) error {
	cl.settle()
	return err
}

// ConnectOn connects a connection to node i.
func (cl *cluster) ConnectOn(i int, id string, sink presence.Sink) *presence.Conn {
	e := cl.nodes[i%len(cl.nodes)]
	c := e.Connect(id, sink)
	cl.owner.Store(c, e)
	return c
}

func (cl *cluster) Connect(id string, sink presence.Sink) *presence.Conn {
	return cl.ConnectOn(0, id, sink)
}

func (cl *cluster) Join(ctx context.Context, c *presence.Conn, m presence.Member) error {
	return cl.after(cl.of(c).Join(ctx, c, m))
}

func (cl *cluster) Leave(ctx context.Context, c *presence.Conn, id string) error {
	return cl.after(cl.of(c).Leave(ctx, c, id))
}

func (cl *cluster) Disconnect(c *presence.Conn) {
	cl.of(c).Disconnect(c)
	cl.settle()
}

func (cl *cluster) Subscribe(ctx context.Context, c *presence.Conn, ch string) error {
	return cl.after(cl.of(c).Subscribe(ctx, c, ch))
}

func (cl *cluster) Unsubscribe(ctx context.Context, c *presence.Conn, ch string) error {
	return cl.after(cl.of(c).Unsubscribe(ctx, c, ch))
}

func (cl *cluster) Publish(ctx context.Context, c *presence.Conn, ch, text string) error {
	return cl.after(cl.of(c).Publish(ctx, c, ch, text))
}

func (cl *cluster) Broadcast(ctx context.Context, ch, text string) error {
	return cl.after(cl.nodes[0].Broadcast(ctx, ch, text))
}

func (cl *cluster) SendMembers(ctx context.Context, c *presence.Conn, ch string) error {
	return cl.after(cl.of(c).SendMembers(ctx, c, ch))
}

func (cl *cluster) Invite(ctx context.Context, c *presence.Conn, ch string, ids []string) error {
	return cl.after(cl.of(c).Invite(ctx, c, ch, ids))
}

func (cl *cluster) RespondInvitation(ctx context.Context, c *presence.Conn, ch, inviter string, refusal *presence.Error) error {
	return cl.after(cl.of(c).RespondInvitation(ctx, c, ch, inviter, refusal))
}

func (cl *cluster) Members(ch string) ([]presence.Member, error) { return cl.nodes[0].Members(ch) }
func (cl *cluster) Channels() []presence.ChannelInfo             { return cl.nodes[0].Channels() }
func (cl *cluster) MemberCount() int                             { return cl.nodes[0].MemberCount() }
func (cl *cluster) Groups() *presence.Groups                     { return cl.nodes[0].Groups() }
