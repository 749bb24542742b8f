package presence

import (
	"sync"
	"sync/atomic"
)

// Kind says what an Event reports.
type Kind uint8

// Event kinds.
const (
	// KindNewMember: Member joined the server (entered Everyone).
	KindNewMember Kind = iota + 1
	// KindRemoveMember: Member left the server.
	KindRemoveMember
	// KindNewChannelMember: Member entered Channel: its first presence
	// entry there.
	KindNewChannelMember
	// KindRemoveChannelMember: Member left Channel: its last entry there
	// is gone.
	KindRemoveChannelMember
	// KindPublish: Member published Data (named Name, for protocols that
	// name events) to Channel; Everyone means to every member. A server
	// broadcast has an empty Member.
	KindPublish
	// KindMembers: the reply to a members request: Members of Channel
	// (Everyone: every member); Member is the requester.
	KindMembers
	// KindInvitation: Member (the inviter) invites the recipient to Channel.
	KindInvitation
	// KindInvitationResponse: Member (the invitee) answered the recipient's
	// invitation to Channel; Members[0] is the inviter; Err is nil when the
	// invitation was accepted.
	KindInvitationResponse
	// KindTerminate: the server ends the connections subscribed to
	// Channel, on every node (Engine.Terminate); the protocol closes the
	// recipient's connection.
	KindTerminate
	// KindUpdateMember: Member, a member of the server, changed its name
	// or info (Engine.Update); told as KindNewMember is.
	KindUpdateMember
	// KindUpdateChannelMember: Member, present in Channel, changed its
	// name or info; told to the channel's ModeEvents subscribers.
	KindUpdateChannelMember
	// KindList: Members of Channel ("": the server) as of Version, the
	// list a ModeDiffs subscriber starts from, given when it subscribes
	// (joins); the KindDiffs that follow apply to it. Member is the
	// recipient's member; List is shared as on KindMembers.
	KindList
	// KindDiff: the member changes of Channel ("": the server) from
	// Diff.From to Version, for ModeDiffs subscribers.
	KindDiff
	// KindCount: Channel has Count members, for ModeCounts subscribers.
	KindCount
	// KindClaim and KindClaimAnswer travel between nodes only (Broker.SendTo),
	// never to a Sink: a node asks another to give up a lost connection
	// (Engine.Resume), and hears the answer.
	KindClaim
	KindClaimAnswer
)

// Event is one notification for one or more connections. The engine builds
// it once per change and hands the same *Event to every recipient's Sink,
// so that a protocol encodes it once (see Frame). Events are read-only once
// delivered, Data included.
type Event struct {
	Kind Kind
	// Count is a KindCount's member count (next to Kind, where it costs
	// no room).
	Count   int32
	Channel string
	// Name is the event's name for protocols that name events (Pusher's
	// "client-typing"); empty for sgc's messages.
	Name    string
	Data    []byte
	Member  Member
	Members []Member
	// Except is the session id of a connection that must not receive the
	// event (a Pusher client event's sender, or the HTTP API's socket_id).
	Except string
	Err    *Error
	// List, on a KindMembers event, is the channel's member list (Channel
	// and Members as here, no requester), one Event shared by every list
	// of the channel until its members change: a protocol encodes the
	// list once with List.Frame and adds each requester's part. Members
	// is List.Members.
	List *Event
	// Version is the channel's version a KindList, KindDiff, KindCount or
	// KindMembers reflects (see Diff).
	Version uint64
	Diff    *Diff // KindDiff's changes

	mu     sync.Mutex // serializes encoders
	frames atomic.Pointer[frame]
}

// frame is one encoding of an event, in a list that only grows.
type frame struct {
	key   any
	bytes []byte
	next  *frame
}

// Frame returns the wire form of ev for the encoding named by key, calling
// encode only the first time a key is asked for. Protocols use it to encode
// a fan-out once and queue the same bytes to every recipient; a variant of
// the frame (sgc's envelope) is a key of its own. After the first
// call for a key, Frame takes no lock.
func (ev *Event) Frame(key any, encode func(*Event) []byte) []byte {
	if b, ok := ev.lookup(key); ok {
		return b
	}
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if b, ok := ev.lookup(key); ok {
		return b
	}
	b := encode(ev)
	ev.frames.Store(&frame{key: key, bytes: b, next: ev.frames.Load()})
	return b
}

func (ev *Event) lookup(key any) ([]byte, bool) {
	for f := ev.frames.Load(); f != nil; f = f.next {
		if f.key == key {
			return f.bytes, true
		}
	}
	return nil, false
}

// Sink receives the events addressed to one connection. Deliver must not
// block and must not call back into the engine: a transport queues the
// frame and returns. The events of one channel reach a sink in the order
// the changes happened; Deliver may be called from several goroutines at
// once (for different channels).
type Sink interface {
	Deliver(*Event)
}
