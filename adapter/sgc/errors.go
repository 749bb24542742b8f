package sgc

import (
	"errors"

	"github.com/rollcall/rollcall/presence"
	wire "github.com/rollcall/rollcall/protocol/sgc"
)

// codes maps the engine's reasons to sgc's error codes.
var codes = map[presence.Reason]int{
	presence.ErrMemberExists:         wire.CodeMemberExists,
	presence.ErrMemberDenied:         wire.CodeMemberDenied,
	presence.ErrMemberNotExists:      wire.CodeMemberNotExists,
	presence.ErrChannelNotExists:     wire.CodeChannelNotExists,
	presence.ErrChannelDenied:        wire.CodeChannelDenied,
	presence.ErrSubscriptionDenied:   wire.CodeSubscriptionDenied,
	presence.ErrSubscriptionExists:   wire.CodeSubscriptionExists,
	presence.ErrSubscriptionNotExist: wire.CodeSubscriptionNotExists,
	presence.ErrPublishDenied:        wire.CodePublishDenied,
	presence.ErrSendMembersDenied:    wire.CodeSendMembersDenied,
	presence.ErrNotOwnMember:         wire.CodeNotOwnMember,
	presence.ErrTooManyChannels:      wire.CodeTooManyChannels,
	presence.ErrChannelFull:          wire.CodeChannelFull,
	presence.ErrInvalidChannel:       wire.CodeInvalidChannel,
	presence.ErrNoInvitation:         wire.CodeNoInvitation,
	presence.ErrIdentityMismatch:     wire.CodeIdentityMismatch,
	presence.ErrInvitationDeclined:   wire.CodeInvitationDeclined,
}

// refusal is an error that is answered with an error frame: the engine's
// refusals, and the adapter's own (invalid message, unknown method).
type refusal struct{ e wire.Error }

func (r *refusal) Error() string { return r.e.Text }

func invalid(why string) error {
	return &refusal{wire.Error{Code: wire.CodeInvalidMessage, Text: wire.Text(wire.CodeInvalidMessage) + why + "."}}
}

// errorFrame returns the error object for err and whether err is one that
// is answered with an error frame.
func errorFrame(err error) (wire.Error, bool) {
	var r *refusal
	if errors.As(err, &r) {
		return r.e, true
	}
	var pe *presence.Error
	if errors.As(err, &pe) {
		return wireError(pe), true
	}
	var reason presence.Reason
	if errors.As(err, &reason) {
		code, ok := codes[reason]
		return wire.NewError(code), ok
	}
	return wire.Error{}, false
}

// wireError maps a refusal with words: its own code and text where it has
// them, the reason's otherwise.
func wireError(pe *presence.Error) wire.Error {
	out := wire.NewError(codes[pe.Reason])
	if pe.Code != 0 {
		out.Code = pe.Code
	}
	if pe.Text != "" {
		out.Text = pe.Text
	}
	return out
}

// refusalOf reads an invitee's refusal from the wire.
func refusalOf(e wire.Error) *presence.Error {
	if e.Code == 0 {
		return nil
	}
	return &presence.Error{Reason: presence.ErrInvitationDeclined, Code: e.Code, Text: e.Text}
}
