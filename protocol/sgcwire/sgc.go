// Package sgc is the wire codec of the sgcWebSockets Presence subprotocol
// (presence.esegece.com): it turns frames into typed messages and back,
// handles the "sgc@b64:" value encoding and the envelope, and names the
// error codes. It makes no decisions about who may do what; the presence
// engine does.
package sgcwire

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
)

// Subprotocol names negotiated in Sec-WebSocket-Protocol.
const (
	// Subprotocol is the Presence subprotocol token.
	Subprotocol = "presence.esegece.com"
	// EnvelopeSubprotocol is negotiated when several sgc protocols share one
	// socket; Presence frames then travel inside the envelope.
	EnvelopeSubprotocol = "broker.esegece.com"
)

// Method strings. The sgc@ methods but MethodInvitationResponse come from
// the sgc sources; the invitation response and the rollcall@ methods (the
// rollcall extension) are rollcall's own (see docs/protocol.md).
const (
	MethodSession                = "sgc@presence@session"
	MethodNewMember              = "sgc@presence@member@new"
	MethodRemoveMember           = "sgc@presence@member@remove"
	MethodAcknowledgment         = "sgc@presence@acknowledgment"
	MethodNewChannelMember       = "sgc@presence@channel@member@new"
	MethodRemoveChannelMember    = "sgc@presence@channel@member@remove"
	MethodPublishMsg             = "sgc@presence@publish@msg"
	MethodErrorMemberChannel     = "sgc@presence@error@member@channel"
	MethodErrorPublishMsg        = "sgc@presence@error@publish@msg"
	MethodGetMembers             = "sgc@presence@get@members"
	MethodSendMembers            = "sgc@presence@send@members"
	MethodChannelInvitation      = "sgc@presence@channel@invitation"
	MethodInvitationResponse     = "sgc@presence@channel@invitation@response"
	MethodHello                  = "rollcall@hello"
	MethodList                   = "rollcall@members"
	MethodDiff                   = "rollcall@diff"
	MethodCount                  = "rollcall@count"
	MethodUpdateMember           = "rollcall@member@update"
	MethodUpdateChannelMember    = "rollcall@channel@member@update"
	MethodResume                 = "rollcall@resume"
	jsonrpcVersion               = "2.0"
	b64Prefix                    = "sgc@b64:"
	envelopePresenceID           = ".presence.esegece.com"
	envelopePresenceIDNoGUIDPart = "presence.esegece.com"
)

// Extension names a client asks for in its rollcall@hello frame.
const (
	// ExtDiffs: member lists in pages (rollcall@members) and the member
	// changes of each short window in one rollcall@diff per channel,
	// instead of one frame per change.
	ExtDiffs = "diffs"
	// ExtUpdates: member updates (rollcall@member@update,
	// rollcall@channel@member@update).
	ExtUpdates = "updates"
	// ExtCounts: counts-only subscriptions ("counts":true on
	// channel@member@new), answered with rollcall@count.
	ExtCounts = "counts"
	// ExtResume: a resume token after each join (rollcall@resume), which
	// a later connection's rollcall@hello may present to take over the
	// presence of this one once it is lost. Accepted only by a server that
	// keeps lost presence for a grace.
	ExtResume = "resume"
)

// Extensions are every extension this codec knows, in the order a client
// asks for them.
var Extensions = []string{ExtDiffs, ExtUpdates, ExtCounts, ExtResume}

// Member is a presence member as it travels on the wire.
type Member struct {
	ID   string
	Name string
	Info string
}

// Error is the error object of an error frame. Code 0 in an invitation
// response means "accepted".
type Error struct {
	Code int
	Text string
}

// Message is one decoded or to-be-encoded Presence frame. Which fields are
// meaningful depends on Method; see docs/protocol.md.
type Message struct {
	Method  string
	ID      string // acknowledgment id; optional
	Member  Member
	Channel string
	Text    string // message.text
	HasText bool   // message object present (set by Decode; used by error frames)
	Error   Error
	Members []Member

	// The rollcall extension's fields (docs/protocol.md).

	// Extensions: asked for (client) or accepted (server), rollcall@hello.
	Extensions []string
	// Counts asks a channel@member@new for a counts-only subscription.
	Counts bool
	// Version is the channel version a rollcall@members page or a
	// rollcall@diff reflects; From is the version a diff applies to.
	Version uint64
	From    uint64
	// More is set on every rollcall@members page but the last.
	More bool
	// Joined, Left (member ids) and Updated are a rollcall@diff's changes.
	Joined  []Member
	Left    []string
	Updated []Member
	// Count is a rollcall@count's member count.
	Count int
	// Token is a resume token: the server's (rollcall@resume), or the one
	// a client presents in its rollcall@hello.
	Token string
	// Resumed is set on the rollcall@hello answer that took over the
	// presence of the token's connection.
	Resumed bool
}

// NewID returns 32 uppercase hex characters from a cryptographic source, the
// format sgc uses for session ids and acknowledgment ids.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	var out [32]byte
	hex.Encode(out[:], b[:])
	return strings.ToUpper(string(out[:]))
}
