package client

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// Member is a presence member: one connection joined to the server.
type Member struct {
	ID   string
	Name string
	Info string
}

func memberFrom(m sgcwire.Member) Member { return Member{ID: m.ID, Name: m.Name, Info: m.Info} }

func (m Member) wire() sgcwire.Member { return sgcwire.Member{ID: m.ID, Name: m.Name, Info: m.Info} }

// Error is an error reported by the server in an error frame, or the reason
// of a refused invitation. Methods that wait for a reply return it as *Error;
// test for it with errors.As.
type Error struct {
	Code int
	Text string
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("presence error %d: %s", e.Code, e.Text)
}

// Error codes sent by the server, from the protocol's table (package
// protocol/sgcwire, which the server reads too; sgcwire.Text gives each code's
// standard text). Codes below 40 come from sgc; 40 and up are rollcall's
// own. CodeInvitationDeclined is what this client sends when it refuses an
// invitation without a more specific reason.
const (
	CodeMemberExists          = sgcwire.CodeMemberExists
	CodeMemberDenied          = sgcwire.CodeMemberDenied
	CodeMemberNotExists       = sgcwire.CodeMemberNotExists
	CodeChannelNotExists      = sgcwire.CodeChannelNotExists
	CodeChannelDenied         = sgcwire.CodeChannelDenied
	CodeSubscriptionDenied    = sgcwire.CodeSubscriptionDenied
	CodeSubscriptionExists    = sgcwire.CodeSubscriptionExists
	CodeSubscriptionNotExists = sgcwire.CodeSubscriptionNotExists
	CodePublishDenied         = sgcwire.CodePublishDenied
	CodeSendMembersDenied     = sgcwire.CodeSendMembersDenied
	CodeInvalidMessage        = sgcwire.CodeInvalidMessage
	CodeUnknownMethod         = sgcwire.CodeUnknownMethod
	CodeMemberNotOwned        = sgcwire.CodeNotOwnMember
	CodeTooManyChannels       = sgcwire.CodeTooManyChannels
	CodeChannelFull           = sgcwire.CodeChannelFull
	CodeRateLimited           = sgcwire.CodeRateLimited
	CodeInvalidChannel        = sgcwire.CodeInvalidChannel
	CodeNoSuchInvitation      = sgcwire.CodeNoInvitation
	CodeIdentityMismatch      = sgcwire.CodeIdentityMismatch
	CodeUpdateDenied          = sgcwire.CodeUpdateDenied
	CodeExtensionTooLate      = sgcwire.CodeExtensionTooLate
	CodeResumeRefused         = sgcwire.CodeResumeRefused
	CodeInvitationDeclined    = sgcwire.CodeInvitationDeclined
)

// TextInvitationDeclined is the refusal text sent with CodeInvitationDeclined.
var TextInvitationDeclined = sgcwire.Text(sgcwire.CodeInvitationDeclined)

// Sentinel errors; test with errors.Is.
var (
	// ErrClosed is returned by methods called after Close, or after the
	// connection was lost with Options.NoReconnect set.
	ErrClosed = errors.New("client: closed")
	// ErrConnectionLost is returned when the connection dropped before the
	// reply to a request arrived.
	ErrConnectionLost = errors.New("client: connection lost")
	// ErrSubprotocol is returned by Dial when the server did not accept the
	// presence.esegece.com subprotocol.
	ErrSubprotocol = errors.New("client: server did not accept subprotocol " + sgcwire.Subprotocol)
	// ErrBadFrame is passed to OnError for a frame from the server that is
	// not a valid Presence message.
	ErrBadFrame = errors.New("client: bad frame from server")
	// ErrNotAcknowledged is passed to OnError when a frame was re-sent
	// Acknowledgment.MaxRetries times without being acknowledged.
	ErrNotAcknowledged = errors.New("client: frame not acknowledged")
	// ErrHandlerPanic is wrapped by the error passed to OnException.
	ErrHandlerPanic = errors.New("client: event handler panicked")
	// ErrAnswered is returned when an invitation is answered a second time.
	ErrAnswered = errors.New("client: invitation already answered")
)

// Defaults for zero Options fields.
const (
	DefaultReconnectMin = 100 * time.Millisecond
	DefaultReconnectMax = 5 * time.Second
	DefaultAckInterval  = time.Second
	DefaultAckTimeout   = 5 * time.Second
	DefaultReadLimit    = 1 << 20
	DefaultJoinTimeout  = 10 * time.Second
)

// AckOptions configures acknowledged delivery of the frames this client
// sends (spec §3.10). Received frames that carry an id are always
// acknowledged, whatever these options say.
type AckOptions struct {
	// Enabled gives every outgoing frame (except acknowledgments) a fresh id
	// and keeps it until the server acknowledges it.
	Enabled bool
	// Interval is how often unacknowledged frames are checked
	// (default DefaultAckInterval).
	Interval time.Duration
	// Timeout is how long a frame may stay unacknowledged before it is re-sent,
	// byte-identical with the same id (default DefaultAckTimeout).
	Timeout time.Duration
	// MaxRetries bounds the re-sends of one frame; after that it is dropped
	// and OnError receives ErrNotAcknowledged. Zero or less means no bound,
	// as in sgcwire.
	MaxRetries int
}

// Options configures a Client. The zero value is usable. Event handlers are
// all optional; they are called from one goroutine per client, one at a time,
// in the order the events happened, so a handler may call the client's
// methods (Subscribe, GetMembers, ...) without deadlock. A handler that
// blocks delays the events after it.
type Options struct {
	// Name and Info describe this member to the others.
	Name string
	Info string

	// EncodeBase64 writes every non-empty value as "sgc@b64:"+base64.
	// Received values are decoded either way.
	EncodeBase64 bool

	// Acknowledgment configures acknowledged delivery of sent frames.
	Acknowledgment AckOptions

	// PerEvent keeps the sgc way of hearing member changes: one frame per
	// change. By default the client asks a rollcall server for diffs (the
	// rollcall extension, docs/protocol.md): the changes of each short
	// window in one frame per channel, from which it keeps a member map
	// per channel (ChannelMembers) and fires the same OnNewChannelMember,
	// OnRemoveChannelMember, OnNewMember and OnRemoveMember events, for
	// each real change (a member that joined and left within one window
	// fires nothing). Either way it asks for member updates and counts;
	// an sgc server ignores the asking, and the client works per event.
	PerEvent bool

	// NoReconnect turns off reconnection. By default a connection lost
	// without Close is re-dialled with exponential backoff and jitter between
	// ReconnectMin and ReconnectMax; the member joins again under its new
	// session id and re-subscribes to its channels.
	NoReconnect bool
	// URLs are more addresses of the same service (other nodes of a
	// cluster): each reconnection attempt dials the next of the Dial URL
	// and these, in turn. Dial itself tries only its URL.
	URLs         []string
	ReconnectMin time.Duration // default DefaultReconnectMin
	ReconnectMax time.Duration // default DefaultReconnectMax

	// JoinTimeout bounds one reconnection attempt: dial, join and
	// re-subscribe (default DefaultJoinTimeout). Dial is bounded by its ctx.
	JoinTimeout time.Duration

	// ReadLimit is the largest frame accepted from the server, in bytes
	// (default DefaultReadLimit). A larger frame closes the connection.
	ReadLimit int64

	// HTTPHeader is sent with the WebSocket handshake (e.g. Authorization).
	HTTPHeader http.Header

	// Logger receives debug logs (unknown methods, ignored frames) and
	// warnings (reconnect failures). Default: discard.
	Logger *slog.Logger

	// OnConnect is called when the member has joined, after Dial and after
	// every successful reconnection (once the subscriptions are restored).
	OnConnect func(session string)
	// OnDisconnect is called when a connection ends, with its close code
	// (1006 when it ended without a close frame; 1000 after Close).
	OnDisconnect func(code int)
	// OnReconnectFailed is called after every failed reconnection attempt
	// (counted from 1 since the connection was lost) with the URL it
	// dialed and why it failed; the next attempt follows after a backoff.
	// When set, these failures do not also go to OnError.
	OnReconnectFailed func(url string, attempt int, err error)
	// OnError receives transport errors, frames the client could not read
	// (wrapping ErrBadFrame) and unacknowledged frames (ErrNotAcknowledged).
	OnError func(err error)
	// OnSession is called when the server announces the session id, right
	// after the client sent its member@new.
	OnSession func(session string)
	// OnNewMember is called for every member that joins, this client included.
	OnNewMember func(m Member)
	// OnRemoveMember is called for every member that leaves.
	OnRemoveMember func(m Member)
	// OnNewChannelMember is called when a member subscribes to a channel
	// this client is in (including its own subscriptions).
	OnNewChannelMember func(channel string, m Member)
	// OnRemoveChannelMember is called when a member unsubscribes.
	OnRemoveChannelMember func(channel string, m Member)
	// OnMemberUpdate is called when a member of the server changed its
	// name or info (Update), this client included.
	OnMemberUpdate func(m Member)
	// OnChannelMemberUpdate is called when a member of a channel this
	// client is in changed its name or info.
	OnChannelMemberUpdate func(channel string, m Member)
	// OnCount is called with the member count of a channel this client
	// subscribed to with SubscribeCounts, at once and then (at most about
	// four times a second) while it changes.
	OnCount func(channel string, count int)
	// OnPublishMsg is called for every message received. channel is empty
	// for a message to everyone; from is empty for a server broadcast.
	OnPublishMsg func(text, channel string, from Member)
	// OnChannelInvitation is called when another member invites this client
	// to a channel. The handler answers with inv.Accept or inv.Refuse, now or
	// later from any goroutine. Without a handler every invitation is refused
	// with CodeInvitationDeclined.
	OnChannelInvitation func(inv *Invitation)
	// OnChannelInvitationResponse is called when a member this client
	// invited answers.
	OnChannelInvitationResponse func(resp InvitationResponse)
	// OnGetMembers is called for every member list received (the replies to
	// GetMembers included).
	OnGetMembers func(channel string, members []Member)
	// OnErrorMemberChannel is called for every error frame that is not about
	// a publish, including errors that a method also returns.
	OnErrorMemberChannel func(err Error, channel string, m Member)
	// OnErrorPublishMsg is called for an error about a published message.
	OnErrorPublishMsg func(err Error, text, channel string, m Member)
	// OnException receives a panic recovered from an event handler, wrapped
	// in an error that matches ErrHandlerPanic.
	OnException func(err error)
	// OnRawMessage is called first for every text frame received. Returning
	// true suppresses the events for that frame (OnChannelInvitation
	// included, so the invitation is not answered). Acknowledgments and the
	// matching of replies to pending calls happen regardless, so a handled
	// frame cannot leave Subscribe or GetMembers waiting.
	OnRawMessage func(text string) (handled bool)
}

func (o *Options) setDefaults() {
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = DefaultReconnectMin
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = DefaultReconnectMax
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.JoinTimeout <= 0 {
		o.JoinTimeout = DefaultJoinTimeout
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = DefaultReadLimit
	}
	if o.Acknowledgment.Interval <= 0 {
		o.Acknowledgment.Interval = DefaultAckInterval
	}
	if o.Acknowledgment.Timeout <= 0 {
		o.Acknowledgment.Timeout = DefaultAckTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}
