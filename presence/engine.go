// Package presence is rollcall's engine: members, channels, subscriptions,
// publish, member lists and invitations, with veto hooks and events. It is
// protocol-neutral: it knows no wire format, no sockets and no error codes.
// Protocol adapters call it for their clients and hear back through each
// connection's Sink; other nodes of a cluster reach it through a Broker.
//
// The model: a Conn is one client connection on this node. A Member
// ({ID, Name, Info}) is present in a channel through presence entries, one
// per connection; a channel's members are its entries deduplicated by member
// id, so a member enters a channel with its first entry and leaves it with
// its last, whichever node the entries are on. Server-wide membership is
// presence in the reserved channel Everyone.
package presence

import (
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Engine holds the presence state of one node and the replicas of the
// others'. It is safe for concurrent use.
type Engine struct {
	opts   Options
	log    *slog.Logger
	broker Broker

	everyone *channel
	shards   [shardCount]shard

	connMu sync.RWMutex
	conns  map[string]*Conn // this node's connections by session id

	nodeMu sync.Mutex
	nodes  map[string]map[replicaKey]Member // other nodes' entries

	groups *Groups

	held heldIDs // member ids present in channels (Everyone aside)

	grace graceState // lost connections that keep their presence

	occupancy  atomic.Pointer[OccupancyFunc]     // OnOccupancy's
	memberLeft atomic.Pointer[MemberLeftFunc]    // OnMemberLeft's
	subCount   atomic.Pointer[SubscriptionsFunc] // OnSubscriptions'
}

// New returns an engine.
func New(opts Options) *Engine {
	if opts.MaxChannelsPerConn <= 0 {
		opts.MaxChannelsPerConn = DefaultMaxChannelsPerConn
	}
	if opts.MaxChannelName <= 0 {
		opts.MaxChannelName = DefaultMaxChannelName
	}
	if opts.MaxInvitations <= 0 {
		opts.MaxInvitations = DefaultMaxInvitations
	}
	if opts.MaxGhosts <= 0 {
		opts.MaxGhosts = DefaultMaxGhosts
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{
		opts:     opts,
		log:      log,
		broker:   opts.Broker,
		everyone: newChannel(Everyone),
		conns:    make(map[string]*Conn),
		nodes:    make(map[string]map[replicaKey]Member),
	}
	if e.broker == nil {
		e.broker = localBroker{}
	} else {
		// Server-wide publishes and member events reach every node.
		e.broker.Subscribe(Everyone)
	}
	e.groups = newGroups(e)
	for i := range e.shards {
		e.shards[i].channels = make(map[string]*channel)
	}
	return e
}

// Connect registers a connection with session id id; events for it go to
// sink. The connection is not a member until it joins.
func (e *Engine) Connect(id string, sink Sink) *Conn {
	return e.ConnectAs(id, sink, nil)
}

// ConnectAs is Connect for a connection the server authenticated as ident
// (nil: none). The identity is the server's, not the client's: Join makes
// the member's id ident.ID and takes its name and info from ident where
// they are set. One identity holds one member at a time (a second join
// with the same identity gets ErrMemberExists).
func (e *Engine) ConnectAs(id string, sink Sink, ident *Member) *Conn {
	c := &Conn{id: id, sink: sink}
	if ident != nil {
		cp := *ident
		if cp.ID == "" {
			cp.ID = id
		}
		c.ident = &cp
	}
	e.connMu.Lock()
	e.conns[id] = c
	e.connMu.Unlock()
	e.groups.connect(c)
	return c
}

// Groups returns the engine's server-side groups of connections.
func (e *Engine) Groups() *Groups { return e.groups }

// Disconnect takes c out of every group (OnClientRemoved sees its member
// still joined), then removes c from every channel and its member from the
// server, telling the others (which also forgets its invitations). It is
// idempotent; later calls on c return ErrClosed.
func (e *Engine) Disconnect(c *Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	e.groups.disconnect(c)
	e.dropAll(c)
	e.connMu.Lock()
	if e.conns[c.id] == c {
		delete(e.conns, c.id)
	}
	e.connMu.Unlock()
}

// Conn returns this node's connection with session id id, or nil once it
// has disconnected.
func (e *Engine) Conn(id string) *Conn { return e.conn(id) }

func (e *Engine) conn(id string) *Conn {
	e.connMu.RLock()
	defer e.connMu.RUnlock()
	return e.conns[id]
}

// ChannelInfo describes a channel.
type ChannelInfo struct {
	Name    string
	Members int
}

// Channels lists every channel and its member count (over every node),
// sorted by name. A channel is listed while it has a member or a
// subscriber on any node.
func (e *Engine) Channels() []ChannelInfo {
	var out []ChannelInfo
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.RLock()
		chans := make([]*channel, 0, len(sh.channels))
		for _, ch := range sh.channels {
			chans = append(chans, ch)
		}
		sh.mu.RUnlock()
		for _, ch := range chans {
			ch.mu.RLock()
			if !ch.dead {
				out = append(out, ChannelInfo{Name: ch.name, Members: len(ch.members)})
			}
			ch.mu.RUnlock()
		}
	}
	slices.SortFunc(out, func(a, b ChannelInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Members returns the members of a channel in order of arrival, or every
// member in join order when channel is "" (or Everyone). No hook runs.
func (e *Engine) Members(channel string) ([]Member, error) {
	ch := e.rlock(scope(channel))
	if ch == nil {
		return nil, ErrChannelNotExists
	}
	defer ch.mu.RUnlock()
	return ch.snapshot(), nil
}

// ChannelCount returns how many channels exist.
func (e *Engine) ChannelCount() int {
	n := 0
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.RLock()
		n += len(sh.channels)
		sh.mu.RUnlock()
	}
	return n
}

// MemberCount returns how many members have joined the server.
func (e *Engine) MemberCount() int {
	e.everyone.mu.RLock()
	defer e.everyone.mu.RUnlock()
	return len(e.everyone.members)
}

func (e *Engine) checkMember(c *Conn) error {
	if c.closed {
		return ErrClosed
	}
	if c.member == nil {
		return ErrMemberNotExists
	}
	return nil
}

// scope names the channel a call about channel is about: "" means
// Everyone.
func scope(channel string) string {
	if channel == "" {
		return Everyone
	}
	return channel
}

// checkChannelName refuses an empty name, one longer than the limit, one
// that is not UTF-8, and reserved names (a leading NUL byte).
func (e *Engine) checkChannelName(name string) error {
	if name == "" || len(name) > e.opts.MaxChannelName || !utf8.ValidString(name) || name[0] == 0 {
		return ErrInvalidChannel
	}
	return nil
}
