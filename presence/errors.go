package presence

import (
	"errors"
	"fmt"
)

// Error codes. Codes below 40 and their texts are those of the sgc Presence
// protocol; 40 and up are rollcall's own (docs/protocol.md lists them all).
const (
	CodeMemberExists         = 1
	CodeMemberDenied         = 2
	CodeMemberNotExists      = 3
	CodeChannelNotExists     = 5
	CodeChannelDenied        = 6
	CodeSubscriptionDenied   = 10
	CodeSubscriptionExists   = 11
	CodeSubscriptionNotExist = 12
	CodePublishDenied        = 20
	CodeSendMembersDenied    = 30
	CodeInvalidMessage       = 40
	CodeUnknownMethod        = 41
	CodeNotOwnMember         = 42
	CodeTooManyChannels      = 43
	CodeChannelFull          = 44
	CodeRateLimited          = 45
	CodeInvalidChannel       = 46
	CodeNoInvitation         = 47
	CodeIdentityMismatch     = 48
	CodeInvitationDeclined   = 100
)

// Error is a refusal with a protocol error code. Two Errors match under
// errors.Is when their codes are equal, so a hook may return its own text:
//
//	return &presence.Error{Code: presence.CodePublishDenied, Text: "muted for 5 minutes"}
type Error struct {
	Code int
	Text string
}

func (e *Error) Error() string {
	return fmt.Sprintf("presence error %d: %s", e.Code, e.Text)
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// The engine's refusals, one per code, with the texts of the sgc protocol.
var (
	ErrMemberExists         = &Error{CodeMemberExists, "Member already exists."}
	ErrMemberDenied         = &Error{CodeMemberDenied, "Create New Member request has been denied."}
	ErrMemberNotExists      = &Error{CodeMemberNotExists, "Member not exists."}
	ErrChannelNotExists     = &Error{CodeChannelNotExists, "Channel not exists"}
	ErrChannelDenied        = &Error{CodeChannelDenied, "Create New Channel request has been denied."}
	ErrSubscriptionDenied   = &Error{CodeSubscriptionDenied, "Create Subscription request has been denied."}
	ErrSubscriptionExists   = &Error{CodeSubscriptionExists, "Subscription already exists."}
	ErrSubscriptionNotExist = &Error{CodeSubscriptionNotExist, "Subscription not exists."}
	ErrPublishDenied        = &Error{CodePublishDenied, "Publish Message request has been denied."}
	ErrSendMembersDenied    = &Error{CodeSendMembersDenied, "Send Members request has been denied."}
	ErrNotOwnMember         = &Error{CodeNotOwnMember, "Member id does not belong to this connection."}
	ErrTooManyChannels      = &Error{CodeTooManyChannels, "Too many channels for this connection."}
	ErrChannelFull          = &Error{CodeChannelFull, "Channel is full."}
	ErrRateLimited          = &Error{CodeRateLimited, "Rate limit exceeded."}
	ErrInvalidChannel       = &Error{CodeInvalidChannel, "Invalid channel name."}
	ErrNoInvitation         = &Error{CodeNoInvitation, "No such invitation."}
	ErrIdentityMismatch     = &Error{CodeIdentityMismatch, "Member does not match the authenticated identity."}
)

// ErrClosed is returned for calls on a connection that has disconnected.
var ErrClosed = errors.New("presence: connection closed")

// veto turns a hook's error into the refusal sent to the client: an *Error
// from the hook is used as it is, any other error becomes def.
func veto(err, def error) error {
	if err == nil {
		return nil
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return def
}
