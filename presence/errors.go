package presence

import (
	"errors"
	"strings"
)

// Reason is why the engine refused a request. Every refusal the engine
// returns matches one of the Err reasons below under errors.Is; each
// protocol maps a reason to its own code and text (protocol/sgcwire has sgc's).
// A Reason is a plain string, so it crosses the wire between nodes and
// names a metric as it is.
type Reason string

// Error returns the reason in words, prefixed with "presence: ".
func (r Reason) Error() string { return "presence: " + strings.ReplaceAll(string(r), "_", " ") }

// The engine's refusals.
const (
	ErrMemberExists         Reason = "member_exists"           // the member id is present already
	ErrMemberDenied         Reason = "member_denied"           // BeforeNewMember refused
	ErrMemberNotExists      Reason = "member_not_exists"       // the connection (or the invitee) has no member
	ErrChannelNotExists     Reason = "channel_not_exists"      // no such channel
	ErrChannelDenied        Reason = "channel_denied"          // BeforeNewChannel refused
	ErrSubscriptionDenied   Reason = "subscription_denied"     // BeforeNewChannelMember refused
	ErrSubscriptionExists   Reason = "subscription_exists"     // already subscribed
	ErrSubscriptionNotExist Reason = "subscription_not_exists" // not subscribed
	ErrPublishDenied        Reason = "publish_denied"          // BeforePublish refused
	ErrSendMembersDenied    Reason = "send_members_denied"     // BeforeSendMembers refused
	ErrNotOwnMember         Reason = "not_own_member"          // the member id is not the connection's
	ErrTooManyChannels      Reason = "too_many_channels"       // Options.MaxChannelsPerConn
	ErrChannelFull          Reason = "channel_full"            // Options.MaxMembersPerChannel
	ErrInvalidChannel       Reason = "invalid_channel"         // empty, too long, not UTF-8, or reserved
	ErrNoInvitation         Reason = "no_invitation"           // no such pending invitation
	ErrIdentityMismatch     Reason = "identity_mismatch"       // name differs from the identity's
	ErrInvitationDeclined   Reason = "invitation_declined"     // an invitee's refusal (see KindInvitationResponse)
	ErrUpdateDenied         Reason = "update_denied"           // BeforeMemberUpdate refused
	ErrDiffsTooLate         Reason = "diffs_too_late"          // UseDiffs after a join or subscribe
	ErrResumeRefused        Reason = "resume_refused"          // a resume token malformed, unknown, used or past its grace
)

// Reasons returns every reason the engine refuses with, for tables that
// must cover them all (a protocol's codes, metrics by reason).
func Reasons() []Reason {
	return []Reason{
		ErrMemberExists, ErrMemberDenied, ErrMemberNotExists, ErrChannelNotExists, ErrChannelDenied,
		ErrSubscriptionDenied, ErrSubscriptionExists, ErrSubscriptionNotExist, ErrPublishDenied,
		ErrSendMembersDenied, ErrNotOwnMember, ErrTooManyChannels, ErrChannelFull, ErrInvalidChannel,
		ErrNoInvitation, ErrIdentityMismatch, ErrInvitationDeclined, ErrUpdateDenied, ErrDiffsTooLate,
		ErrResumeRefused,
	}
}

// Error is a refusal with the words for the client: a hook returns one to
// refuse with its own text, and an invitee's refusal travels as one. Text
// empty means the protocol's standard text for Reason. Code, when not zero,
// is a protocol code to send instead of the reason's standard one (sgc's
// error.code); protocols without numeric codes ignore it.
//
//	return &presence.Error{Text: "muted for 5 minutes"}
type Error struct {
	Reason Reason
	Text   string
	Code   int
}

func (e *Error) Error() string {
	if e.Text == "" {
		return e.Reason.Error()
	}
	return e.Reason.Error() + ": " + e.Text
}

// Unwrap returns the reason, so that errors.Is(err, ErrPublishDenied) holds
// for a hook's refusal of a publish.
func (e *Error) Unwrap() error { return e.Reason }

// ErrClosed is returned for calls on a connection that has disconnected.
var ErrClosed = errors.New("presence: connection closed")

// veto turns a hook's error into the refusal returned to the caller: an
// *Error from the hook keeps its text and code and gets the step's reason
// when it has none; any other error becomes the step's reason alone (the
// error itself is logged, not sent).
func veto(err error, step Reason) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		out := *pe
		if out.Reason == "" {
			out.Reason = step
		}
		return &out
	}
	return step
}
