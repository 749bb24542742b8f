// Package presence is rollcall's engine: members, channels, subscriptions,
// publish, member lists and invitations, with veto hooks and events. It
// knows no wire format and no sockets: protocols adapt to it, and it talks
// back to them through each connection's Sink.
package presence

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"unicode/utf8"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxChannelsPerConn = 100
	DefaultMaxChannelName     = 200
	DefaultMaxInvitations     = 64
)

// Hooks may veto a step. A hook returns nil to allow it; a *Error to refuse
// with that code and text; any other error refuses with the step's standard
// code and text (the error itself is logged, not sent). Hooks run on the
// calling connection's goroutine with no engine lock held, so they may block
// (honouring ctx) and may read the engine.
type Hooks struct {
	// BeforeNewMember runs when a connection asks to join (code 2).
	BeforeNewMember func(ctx context.Context, c *Conn, m Member) error
	// BeforeNewChannel runs when a subscription would create a channel (code 6).
	BeforeNewChannel func(ctx context.Context, c *Conn, channel string, m Member) error
	// BeforeNewChannelMember runs before a member is added to a channel (code 10).
	BeforeNewChannelMember func(ctx context.Context, c *Conn, channel string, m Member) error
	// BeforePublish runs before a message is delivered; channel "" means
	// everyone (code 20).
	BeforePublish func(ctx context.Context, c *Conn, channel string, m Member, text string) error
	// BeforeSendMembers runs before a member list is sent; channel "" means
	// every member (code 30).
	BeforeSendMembers func(ctx context.Context, c *Conn, channel string, m Member) error
}

// Events are called after each change, on the goroutine that made it, with
// no engine lock held. They must not block for long. c is nil for changes
// the server made itself (Broadcast). An event (or hook) may read any
// connection (Member, Channels, Data), read the engine, and use Groups and
// Broadcast; it must not call the per-connection methods (Join, Subscribe,
// Publish, ...): a connection's operations run one at a time, and the one
// that raised the event has not returned yet.
type Events struct {
	OnNewMember           func(c *Conn, m Member)
	OnRemoveMember        func(c *Conn, m Member)
	OnNewChannel          func(channel string)
	OnRemoveChannel       func(channel string)
	OnNewChannelMember    func(c *Conn, channel string, m Member)
	OnRemoveChannelMember func(c *Conn, channel string, m Member)
	OnPublish             func(c *Conn, channel string, m Member, text string)
	// OnClientAdded and OnClientRemoved report a connection filed into or
	// taken out of a group (see Groups), including the removal from every
	// group when the connection disconnects. They are called with no lock
	// of the engine or of the groups held; on a disconnect, as for the other
	// events, the connection's own lock is, so the handler must not act for
	// c (Publish, Subscribe…) but may broadcast and read.
	OnClientAdded   func(group string, c *Conn)
	OnClientRemoved func(group string, c *Conn)
}

// Options configure an Engine. The zero value is usable.
type Options struct {
	Hooks  Hooks
	Events Events
	// KeepEmptyChannels keeps a channel after its last member leaves
	// (the sgc behaviour); by default empty channels are freed.
	KeepEmptyChannels bool
	// MemberEvents says who hears server-wide joins and leaves (member@new,
	// member@remove): everyone (the default, as sgc) or only the joiner.
	MemberEvents MemberEvents
	// MaxChannelsPerConn limits subscriptions per connection (code 43).
	MaxChannelsPerConn int
	// MaxMembersPerChannel limits a channel's size (code 44); 0 = no limit.
	MaxMembersPerChannel int
	// MaxChannelName is the longest channel name in bytes (code 46).
	MaxChannelName int
	// MaxInvitations is how many unanswered invitations a connection keeps;
	// the oldest is forgotten first.
	MaxInvitations int
	// RefuseNameMismatch refuses (code 48) a join whose non-empty name
	// differs from the connection's authenticated identity; by default the
	// name is corrected to the identity's.
	RefuseNameMismatch bool
	Logger             *slog.Logger
}

// MemberEvents is the audience of server-wide member events.
type MemberEvents uint8

const (
	// MemberEventsAll tells every member of each join and leave, as sgc
	// does. Each join and leave then costs a frame per member: a server of
	// N members sends N² frames as they all arrive.
	MemberEventsAll MemberEvents = iota
	// MemberEventsSelf tells only the joiner (its own member@new echo);
	// presence is then followed per channel, as in Pusher, Centrifugo and
	// Phoenix, and a join or leave costs one frame plus its channels'. An
	// unsubscribe's channel@member@remove goes to the channel's members and
	// the leaver, not to every member.
	MemberEventsSelf
)

// ParseMemberEvents reads "all" or "self".
func ParseMemberEvents(s string) (MemberEvents, error) {
	switch s {
	case "all":
		return MemberEventsAll, nil
	case "self":
		return MemberEventsSelf, nil
	}
	return 0, fmt.Errorf("member events %q: want all or self", s)
}

// String returns "all" or "self".
func (m MemberEvents) String() string {
	if m == MemberEventsSelf {
		return "self"
	}
	return "all"
}

const shardCount = 64

// Engine holds the presence state of one server. It is safe for concurrent
// use.
type Engine struct {
	opts Options
	log  *slog.Logger

	mu      sync.RWMutex
	members []entry          // global member table, in join order
	byID    map[string]entry // member id → its entry in members

	shards [shardCount]shard

	groups *Groups
}

// entry is one member in a list: the connection to deliver to and the
// member's identity, which never changes once joined.
type entry struct {
	conn   *Conn
	member *Member
}

type shard struct {
	mu       sync.RWMutex
	channels map[string]*channel
}

type channel struct {
	members []entry // in subscription order
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
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{opts: opts, log: log, byID: make(map[string]entry)}
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
	e.groups.connect(c)
	return c
}

// Groups returns the engine's server-side groups of connections.
func (e *Engine) Groups() *Groups { return e.groups }

// Disconnect takes c out of every group (OnClientRemoved sees its member
// still joined), then removes c's member from every channel and from the
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
	if c.member != nil {
		e.removeMember(c)
	}
}

// Join makes c a member. m.ID must be c's session id or empty (which means
// the same). For a connection with an identity (ConnectAs), m.ID may also be
// the identity's id; the member's id becomes the identity's, its info the
// identity's when set, and a name differing from the identity's (when set)
// is corrected, or refused with ErrIdentityMismatch if
// Options.RefuseNameMismatch.
func (e *Engine) Join(ctx context.Context, c *Conn, m Member) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if m.ID == "" {
		m.ID = c.id
	}
	if id := c.ident; id != nil && m.ID == id.ID {
		m.ID = c.id
	}
	if m.ID != c.id {
		return ErrNotOwnMember
	}
	if id := c.ident; id != nil {
		m.ID = id.ID
		if id.Info != "" {
			m.Info = id.Info
		}
		if id.Name != "" && m.Name != id.Name {
			if m.Name != "" && e.opts.RefuseNameMismatch {
				return ErrIdentityMismatch
			}
			m.Name = id.Name
		}
	}
	if c.member != nil {
		return ErrMemberExists
	}
	if h := e.opts.Hooks.BeforeNewMember; h != nil {
		if err := veto(h(ctx, c, m), ErrMemberDenied); err != nil {
			e.log.Debug("new member vetoed", "session", c.id, "err", err)
			return err
		}
	}
	member := &m
	ev := &Event{Kind: KindNewMember, Member: m}
	e.mu.Lock()
	if _, taken := e.byID[m.ID]; taken {
		e.mu.Unlock()
		return ErrMemberExists
	}
	e.byID[m.ID] = entry{c, member}
	e.members = append(e.members, entry{c, member})
	c.setView(member, c.channels)
	if e.opts.MemberEvents == MemberEventsSelf {
		c.sink.Deliver(ev)
	} else {
		deliverAll(e.members, ev)
	}
	e.mu.Unlock()
	if f := e.opts.Events.OnNewMember; f != nil {
		f(c, m)
	}
	return nil
}

// Leave removes c's member from every channel and from the server. memberID
// must be c's own id or empty.
func (e *Engine) Leave(ctx context.Context, c *Conn, memberID string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if memberID != "" && memberID != c.id && (c.member == nil || memberID != c.member.ID) {
		return ErrNotOwnMember
	}
	if c.member == nil {
		return ErrMemberNotExists
	}
	e.removeMember(c)
	return nil
}

// removeMember runs with c.mu held and c.member set.
func (e *Engine) removeMember(c *Conn) {
	m := *c.member
	for _, name := range c.channels {
		e.leaveChannel(c, name, m)
	}
	c.setView(c.member, nil)
	ev := &Event{Kind: KindRemoveMember, Member: m}
	e.mu.Lock()
	delete(e.byID, m.ID)
	e.members = removeEntry(e.members, c)
	if e.opts.MemberEvents == MemberEventsAll {
		deliverAll(e.members, ev)
	}
	e.mu.Unlock()
	c.setView(nil, nil)
	// Invitations were addressed to the member that just left.
	c.invMu.Lock()
	c.invites = nil
	c.invMu.Unlock()
	if f := e.opts.Events.OnRemoveMember; f != nil {
		f(c, m)
	}
}

// leaveChannel removes c from one channel and tells the channel's remaining
// members. It runs with c.mu held.
func (e *Engine) leaveChannel(c *Conn, name string, m Member) {
	sh := e.shard(name)
	freed := false
	sh.mu.Lock()
	if ch := sh.channels[name]; ch != nil {
		ch.members = removeEntry(ch.members, c)
		deliverAll(ch.members, &Event{Kind: KindRemoveChannelMember, Member: m, Channel: name})
		if len(ch.members) == 0 && !e.opts.KeepEmptyChannels {
			delete(sh.channels, name)
			freed = true
		}
	}
	sh.mu.Unlock()
	if f := e.opts.Events.OnRemoveChannelMember; f != nil {
		f(c, name, m)
	}
	if f := e.opts.Events.OnRemoveChannel; freed && f != nil {
		f(name)
	}
}

// Subscribe adds c's member to a channel, creating the channel if needed,
// and tells the channel's members, c included.
func (e *Engine) Subscribe(ctx context.Context, c *Conn, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := e.checkMember(c); err != nil {
		return err
	}
	if err := e.checkChannelName(name); err != nil {
		return err
	}
	if slices.Contains(c.channels, name) {
		return ErrSubscriptionExists
	}
	if len(c.channels) >= e.opts.MaxChannelsPerConn {
		return ErrTooManyChannels
	}
	m := *c.member
	sh := e.shard(name)
	askNewChannel := func() error {
		err := veto(e.opts.Hooks.BeforeNewChannel(ctx, c, name, m), ErrChannelDenied)
		if err != nil {
			e.log.Debug("new channel vetoed", "session", c.id, "channel", name, "err", err)
		}
		return err
	}
	asked := false
	if e.opts.Hooks.BeforeNewChannel != nil && !e.channelExists(sh, name) {
		if err := askNewChannel(); err != nil {
			return err
		}
		asked = true
	}
	if h := e.opts.Hooks.BeforeNewChannelMember; h != nil {
		if err := veto(h(ctx, c, name, m), ErrSubscriptionDenied); err != nil {
			e.log.Debug("subscription vetoed", "session", c.id, "channel", name, "err", err)
			return err
		}
	}
	created := false
	sh.mu.Lock()
	ch := sh.channels[name]
	if ch == nil && !asked && e.opts.Hooks.BeforeNewChannel != nil {
		// The channel existed when we looked but was freed while the hooks
		// ran: creating it anew needs BeforeNewChannel's consent too.
		sh.mu.Unlock()
		if err := askNewChannel(); err != nil {
			return err
		}
		sh.mu.Lock()
		ch = sh.channels[name]
	}
	if ch == nil {
		ch = &channel{}
		sh.channels[name] = ch
		created = true
	}
	if max := e.opts.MaxMembersPerChannel; max > 0 && len(ch.members) >= max {
		sh.mu.Unlock()
		return ErrChannelFull
	}
	ch.members = append(ch.members, entry{c, c.member})
	deliverAll(ch.members, &Event{Kind: KindNewChannelMember, Member: m, Channel: name})
	sh.mu.Unlock()
	c.setView(c.member, append(c.channels, name))
	if f := e.opts.Events.OnNewChannel; created && f != nil {
		f(name)
	}
	if f := e.opts.Events.OnNewChannelMember; f != nil {
		f(c, name, m)
	}
	return nil
}

// Unsubscribe removes c's member from a channel. As in sgc, every member of
// the server hears of it, not only the channel's; with MemberEventsSelf only
// the channel's remaining members and c do.
func (e *Engine) Unsubscribe(ctx context.Context, c *Conn, name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := e.checkMember(c); err != nil {
		return err
	}
	sh := e.shard(name)
	if !e.channelExists(sh, name) {
		return ErrChannelNotExists
	}
	i := slices.Index(c.channels, name)
	if i < 0 {
		return ErrSubscriptionNotExist
	}
	c.setView(c.member, slices.Delete(slices.Clone(c.channels), i, i+1))
	m := *c.member
	freed := false
	// The event is delivered under the shard lock too, so that it cannot be
	// overtaken by a member list of the channel, or by a new subscription to
	// it, that already reflect the removal (lock order: Engine.mu, shard).
	// With MemberEventsSelf only the channel (and the leaver) hear it.
	ev := &Event{Kind: KindRemoveChannelMember, Member: m, Channel: name}
	self := e.opts.MemberEvents == MemberEventsSelf
	e.mu.RLock()
	sh.mu.Lock()
	if ch := sh.channels[name]; ch != nil {
		ch.members = removeEntry(ch.members, c)
		if self {
			deliverAll(ch.members, ev)
		}
		if len(ch.members) == 0 && !e.opts.KeepEmptyChannels {
			delete(sh.channels, name)
			freed = true
		}
	}
	if self {
		c.sink.Deliver(ev)
	} else {
		deliverAll(e.members, ev)
	}
	sh.mu.Unlock()
	e.mu.RUnlock()
	if f := e.opts.Events.OnRemoveChannelMember; f != nil {
		f(c, name, m)
	}
	if f := e.opts.Events.OnRemoveChannel; freed && f != nil {
		f(name)
	}
	return nil
}

// Publish sends text from c's member to a channel's members (c included), or
// to every member when channel is "".
func (e *Engine) Publish(ctx context.Context, c *Conn, channel, text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := e.checkMember(c); err != nil {
		return err
	}
	m := *c.member
	if channel != "" {
		if !e.channelExists(e.shard(channel), channel) {
			return ErrChannelNotExists
		}
		if !slices.Contains(c.channels, channel) {
			return ErrSubscriptionNotExist
		}
	}
	if h := e.opts.Hooks.BeforePublish; h != nil {
		if err := veto(h(ctx, c, channel, m, text), ErrPublishDenied); err != nil {
			e.log.Debug("publish vetoed", "session", c.id, "channel", channel, "err", err)
			return err
		}
	}
	if err := e.publish(channel, &Event{Kind: KindPublish, Member: m, Channel: channel, Text: text}); err != nil {
		return err
	}
	if f := e.opts.Events.OnPublish; f != nil {
		f(c, channel, m, text)
	}
	return nil
}

// Broadcast sends text from the server, with an empty member, to a
// channel's members or, when channel is "", to every member. It fails with
// ErrChannelNotExists for an unknown channel.
func (e *Engine) Broadcast(text, channel string) error {
	if err := e.publish(channel, &Event{Kind: KindPublish, Channel: channel, Text: text}); err != nil {
		return err
	}
	if f := e.opts.Events.OnPublish; f != nil {
		f(nil, channel, Member{}, text)
	}
	return nil
}

func (e *Engine) publish(channel string, ev *Event) error {
	if channel == "" {
		e.mu.RLock()
		deliverAll(e.members, ev)
		e.mu.RUnlock()
		return nil
	}
	sh := e.shard(channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	ch := sh.channels[channel]
	if ch == nil {
		return ErrChannelNotExists
	}
	deliverAll(ch.members, ev)
	return nil
}

// SendMembers delivers to c the members of a channel, or every member when
// channel is "", as a KindMembers event.
func (e *Engine) SendMembers(ctx context.Context, c *Conn, channel string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := e.checkMember(c); err != nil {
		return err
	}
	m := *c.member
	if h := e.opts.Hooks.BeforeSendMembers; h != nil {
		if err := veto(h(ctx, c, channel, m), ErrSendMembersDenied); err != nil {
			e.log.Debug("send members vetoed", "session", c.id, "channel", channel, "err", err)
			return err
		}
	}
	// The list is delivered under the same lock it is read under, so it
	// can never overtake a join or leave event about the same members.
	ev := &Event{Kind: KindMembers, Member: m, Channel: channel}
	if channel == "" {
		e.mu.RLock()
		ev.Members = snapshot(e.members)
		c.sink.Deliver(ev)
		e.mu.RUnlock()
		return nil
	}
	sh := e.shard(channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	ch := sh.channels[channel]
	if ch == nil {
		return ErrChannelNotExists
	}
	ev.Members = snapshot(ch.members)
	c.sink.Deliver(ev)
	return nil
}

// Invite sends an invitation to a channel from c's member to each of the
// invitees (member ids). The invitation carries c's stored identity.
// Unknown invitees are skipped and reported with ErrMemberNotExists after
// the known ones were invited.
func (e *Engine) Invite(ctx context.Context, c *Conn, channel string, invitees []string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := e.checkMember(c); err != nil {
		return err
	}
	if err := e.checkChannelName(channel); err != nil {
		return err
	}
	ev := &Event{Kind: KindInvitation, Member: *c.member, Channel: channel}
	var missing error
	for _, id := range invitees {
		e.mu.RLock()
		to, ok := e.byID[id]
		if ok {
			to.conn.addInvitation(invitation{channel: channel, inviter: c.member.ID}, e.opts.MaxInvitations)
			to.conn.sink.Deliver(ev)
		}
		e.mu.RUnlock()
		if !ok {
			missing = ErrMemberNotExists
		}
	}
	return missing
}

// RespondInvitation answers an invitation c received from inviterID to
// channel; refusal nil means accepted. The inviter receives a
// KindInvitationResponse with c's stored identity. Accepting does not
// subscribe: the invitee subscribes itself.
func (e *Engine) RespondInvitation(ctx context.Context, c *Conn, channel, inviterID string, refusal *Error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := e.checkMember(c); err != nil {
		return err
	}
	if !c.takeInvitation(invitation{channel: channel, inviter: inviterID}) {
		return ErrNoInvitation
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	to, ok := e.byID[inviterID]
	if !ok {
		return ErrMemberNotExists
	}
	to.conn.sink.Deliver(&Event{Kind: KindInvitationResponse, Member: *c.member, Channel: channel,
		Members: []Member{*to.member}, Err: refusal})
	return nil
}

// ChannelInfo describes a channel.
type ChannelInfo struct {
	Name    string
	Members int
}

// Channels lists every channel and its member count, sorted by name.
func (e *Engine) Channels() []ChannelInfo {
	var out []ChannelInfo
	for i := range e.shards {
		sh := &e.shards[i]
		sh.mu.RLock()
		for name, ch := range sh.channels {
			out = append(out, ChannelInfo{Name: name, Members: len(ch.members)})
		}
		sh.mu.RUnlock()
	}
	slices.SortFunc(out, func(a, b ChannelInfo) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// Members returns the members of a channel in subscription order, or every
// member in join order when channel is "". No hook runs.
func (e *Engine) Members(channel string) ([]Member, error) {
	if channel == "" {
		e.mu.RLock()
		defer e.mu.RUnlock()
		return snapshot(e.members), nil
	}
	sh := e.shard(channel)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	ch := sh.channels[channel]
	if ch == nil {
		return nil, ErrChannelNotExists
	}
	return snapshot(ch.members), nil
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
	e.mu.RLock()
	defer e.mu.RUnlock()
	return len(e.members)
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

func (e *Engine) checkChannelName(name string) error {
	if name == "" || len(name) > e.opts.MaxChannelName || !utf8.ValidString(name) {
		return ErrInvalidChannel
	}
	return nil
}

func (e *Engine) channelExists(sh *shard, name string) bool {
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	return sh.channels[name] != nil
}

// shard picks a channel's shard by the FNV-1a hash of its name.
func (e *Engine) shard(name string) *shard {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return &e.shards[h%shardCount]
}

func deliverAll(to []entry, ev *Event) {
	for _, en := range to {
		en.conn.sink.Deliver(ev)
	}
}

func snapshot(list []entry) []Member {
	out := make([]Member, len(list))
	for i, en := range list {
		out[i] = *en.member
	}
	return out
}

func removeEntry(list []entry, c *Conn) []entry {
	i := slices.IndexFunc(list, func(en entry) bool { return en.conn == c })
	if i < 0 {
		return list
	}
	list = slices.Delete(list, i, i+1)
	return list
}
