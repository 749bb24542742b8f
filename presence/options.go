package presence

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxChannelsPerConn = 100
	DefaultMaxChannelName     = 200
	DefaultMaxInvitations     = 64
)

// Hooks may veto a step. A hook returns nil to allow it; a *Error to refuse
// with its text (and, for protocols with numeric codes, its Code); any other
// error refuses with the step's reason and the protocol's standard text (the
// error itself is logged, not sent). Either way the refusal matches the
// step's reason under errors.Is. Hooks run on the calling connection's
// goroutine with no engine lock held, so they may block (honouring ctx) and
// may read the engine.
type Hooks struct {
	// BeforeChannelAccess runs first when a connection asks to subscribe
	// to a named channel, to list its members or to publish to it: before
	// the engine looks at the channel, so that a refusal tells nothing of
	// its state (whether it exists, who is in it). Its refusal's reason is
	// the step's: ErrSubscriptionDenied, ErrSendMembersDenied or
	// ErrPublishDenied. The server uses it to keep sgc clients out of the
	// channels Pusher reserves (docs/security.md).
	BeforeChannelAccess func(ctx context.Context, c *Conn, channel string, a Access) error
	// BeforeNewMember runs when a connection asks to join (ErrMemberDenied).
	BeforeNewMember func(ctx context.Context, c *Conn, m Member) error
	// BeforeNewChannel runs when a subscription would create a channel
	// (ErrChannelDenied).
	BeforeNewChannel func(ctx context.Context, c *Conn, channel string, m Member) error
	// BeforeNewChannelMember runs before a member is added to a channel
	// (ErrSubscriptionDenied).
	BeforeNewChannelMember func(ctx context.Context, c *Conn, channel string, m Member) error
	// BeforePublish runs before a message is delivered; channel "" means
	// everyone (ErrPublishDenied).
	BeforePublish func(ctx context.Context, c *Conn, channel string, m Member, text string) error
	// BeforeSendMembers runs before a member list is sent; channel "" means
	// every member (ErrSendMembersDenied).
	BeforeSendMembers func(ctx context.Context, c *Conn, channel string, m Member) error
	// BeforeMemberUpdate runs before a member's name and info change
	// (Engine.Update), with the member as it is and as it would be
	// (ErrUpdateDenied).
	BeforeMemberUpdate func(ctx context.Context, c *Conn, old, m Member) error
}

// Events are called after each change made on this node, on the goroutine
// that made it, with no engine lock held. They must not block for long. c
// is nil for changes the server made itself (Broadcast). An event (or hook)
// may read any connection (Member, Channels, Data), read the engine, and use
// Groups and Broadcast; it must not call the per-connection methods (Join,
// Subscribe, Publish, ...): a connection's operations run one at a time, and
// the one that raised the event has not returned yet. Changes that other
// nodes made raise no event here: they raise theirs where they happened.
type Events struct {
	OnNewMember           func(c *Conn, m Member)
	OnRemoveMember        func(c *Conn, m Member)
	OnNewChannel          func(channel string)
	OnRemoveChannel       func(channel string)
	OnNewChannelMember    func(c *Conn, channel string, m Member)
	OnRemoveChannelMember func(c *Conn, channel string, m Member)
	OnPublish             func(c *Conn, channel string, m Member, text string)
	// OnMemberUpdate reports a member's new name and info (Engine.Update).
	OnMemberUpdate func(c *Conn, m Member)
	// OnClientAdded and OnClientRemoved report a connection filed into or
	// taken out of a group (see Groups), including the removal from every
	// group when the connection disconnects. They are called with no lock
	// of the engine or of the groups held; on a disconnect, as for the other
	// events, the connection's own lock is, so the handler must not act for
	// c (Publish, Subscribe…) but may broadcast and read.
	OnClientAdded   func(group string, c *Conn)
	OnClientRemoved func(group string, c *Conn)
}

// Options configure an Engine. The zero value is usable: a single node.
type Options struct {
	Hooks  Hooks
	Events Events
	// KeepEmptyChannels keeps a channel after its last member leaves
	// (the sgc behaviour); by default empty channels are freed.
	KeepEmptyChannels bool
	// MemberEvents says who hears server-wide joins and leaves: everyone
	// (the default, as sgc) or only the joiner.
	MemberEvents MemberEvents
	// MaxChannelsPerConn limits subscriptions per connection
	// (ErrTooManyChannels).
	MaxChannelsPerConn int
	// MaxMembersPerChannel limits a channel's distinct members, counted over
	// every node (ErrChannelFull); 0 = no limit.
	MaxMembersPerChannel int
	// MaxChannelName is the longest channel name in bytes
	// (ErrInvalidChannel).
	MaxChannelName int
	// MaxInvitations is how many unanswered invitations a connection keeps;
	// the oldest is forgotten first.
	MaxInvitations int
	// RefuseNameMismatch refuses (ErrIdentityMismatch) a join whose
	// non-empty name differs from the connection's authenticated identity;
	// by default the name is corrected to the identity's.
	RefuseNameMismatch bool
	// AppMemberIDs lets a connection with an identity join under an id of
	// the application's choosing, as on an open connection: any id no
	// member holds (first come, first served), with the name and info it
	// sends. The identity stays the connection's (Conn.Identity), for
	// hooks and logs. By default such a connection joins only as its
	// identity's id (ErrNotOwnMember otherwise).
	AppMemberIDs bool
	// ForeignIDs reports the channels whose member ids are not the
	// server's but another namespace's (a non-default Pusher app's, whose
	// user ids are its own): their entries hold no id against Join, and
	// take ids that joined members hold. Nil: every channel shares the
	// server's ids.
	ForeignIDs func(channel string) bool
	// DiffWindow is how long the member changes that follow a diff are
	// merged before the next diff goes out to ModeDiffs subscribers (the
	// first change of a quiet channel goes out at once). Zero is
	// DefaultDiffWindow; negative sends every change at once.
	DiffWindow time.Duration
	// CountInterval is the least time between two counts sent to a
	// channel's ModeCounts subscribers. Zero is DefaultCountInterval.
	CountInterval time.Duration
	// CountRate is the most count frames per second one channel's counts
	// make on this node: a channel with more ModeCounts subscribers than
	// CountRate × CountInterval hears its count less often, every
	// subscribers / CountRate seconds (30,000 subscribers at 10,000: every
	// 3 s). Zero is DefaultCountRate; negative: no limit.
	CountRate int
	// Grace keeps the presence of a connection lost without a leave
	// (Engine.Lost) for this long, for the same member to take it over on
	// any node (Engine.Resume, or a join of the same identity) without
	// anyone seeing it leave and join. Zero: a lost connection leaves at
	// once, as in sgc.
	Grace time.Duration
	// MaxGhosts caps the lost connections that keep their presence under
	// Grace at once: past it a lost connection leaves at once, so that
	// clients that connect, join and drop cannot make the server hold
	// more than this many. Zero is DefaultMaxGhosts.
	MaxGhosts int
	// Node is this node's name in a cluster; Broker connects it to the
	// others. Without a Broker the engine is a single node.
	Node   string
	Broker Broker
	Logger *slog.Logger
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
