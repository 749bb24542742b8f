package presence

import "sync"

// Kind says what an Event reports.
type Kind uint8

// Event kinds.
const (
	// KindNewMember: Member joined the server.
	KindNewMember Kind = iota + 1
	// KindRemoveMember: Member left the server.
	KindRemoveMember
	// KindNewChannelMember: Member subscribed to Channel.
	KindNewChannelMember
	// KindRemoveChannelMember: Member unsubscribed from Channel.
	KindRemoveChannelMember
	// KindPublish: Member published Text to Channel ("" = to everyone).
	// A server broadcast has an empty Member.
	KindPublish
	// KindMembers: the reply to a members request: Members of Channel
	// ("" = every member), Member is the requester.
	KindMembers
	// KindInvitation: Member (the inviter) invites the recipient to Channel.
	KindInvitation
	// KindInvitationResponse: Member (the invitee) answered the recipient's
	// invitation to Channel; Members[0] is the inviter; Err is nil when the
	// invitation was accepted.
	KindInvitationResponse
)

// Event is one notification for one or more connections. The engine builds
// it once per change and hands the same *Event to every recipient's Sink, so
// that a protocol encodes it once (see Frame). Events are read-only once
// delivered.
type Event struct {
	Kind    Kind
	Member  Member
	Channel string
	Text    string
	Members []Member
	Err     *Error

	mu     sync.Mutex
	frames []frame
}

type frame struct {
	key   any
	bytes []byte
}

// Frame returns the wire form of ev for the encoding named by key, calling
// encode only the first time a key is asked for. Protocols use it to encode a
// fan-out once and queue the same bytes to every recipient.
func (ev *Event) Frame(key any, encode func(*Event) []byte) []byte {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, f := range ev.frames {
		if f.key == key {
			return f.bytes
		}
	}
	b := encode(ev)
	ev.frames = append(ev.frames, frame{key, b})
	return b
}

// Sink receives the events addressed to one connection. Deliver is called
// with engine locks held, in the order the changes happened: it must not
// block and must not call back into the engine. A transport queues the
// frame and returns.
type Sink interface {
	Deliver(*Event)
}
