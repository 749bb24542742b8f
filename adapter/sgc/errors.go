package sgc

import (
	"errors"
	"strconv"
	"strings"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// codes maps the engine's reasons to sgc's error codes.
var codes = map[presence.Reason]int{
	presence.ErrMemberExists:         sgcwire.CodeMemberExists,
	presence.ErrMemberDenied:         sgcwire.CodeMemberDenied,
	presence.ErrMemberNotExists:      sgcwire.CodeMemberNotExists,
	presence.ErrChannelNotExists:     sgcwire.CodeChannelNotExists,
	presence.ErrChannelDenied:        sgcwire.CodeChannelDenied,
	presence.ErrSubscriptionDenied:   sgcwire.CodeSubscriptionDenied,
	presence.ErrSubscriptionExists:   sgcwire.CodeSubscriptionExists,
	presence.ErrSubscriptionNotExist: sgcwire.CodeSubscriptionNotExists,
	presence.ErrPublishDenied:        sgcwire.CodePublishDenied,
	presence.ErrSendMembersDenied:    sgcwire.CodeSendMembersDenied,
	presence.ErrNotOwnMember:         sgcwire.CodeNotOwnMember,
	presence.ErrTooManyChannels:      sgcwire.CodeTooManyChannels,
	presence.ErrChannelFull:          sgcwire.CodeChannelFull,
	presence.ErrInvalidChannel:       sgcwire.CodeInvalidChannel,
	presence.ErrNoInvitation:         sgcwire.CodeNoInvitation,
	presence.ErrIdentityMismatch:     sgcwire.CodeIdentityMismatch,
	presence.ErrInvitationDeclined:   sgcwire.CodeInvitationDeclined,
	presence.ErrUpdateDenied:         sgcwire.CodeUpdateDenied,
	presence.ErrDiffsTooLate:         sgcwire.CodeExtensionTooLate,
	presence.ErrResumeRefused:        sgcwire.CodeResumeRefused,
}

// protocolName names sgc in the error metrics.
const protocolName = "sgc"

// reasons names each error code for the metrics: the engine's reason it
// answers, or sgc's own name for the codes that answer none.
var reasons = func() map[int]string {
	m := map[int]string{
		sgcwire.CodeInvalidMessage: "invalid_message",
		sgcwire.CodeUnknownMethod:  "unknown_method",
		sgcwire.CodeRateLimited:    "rate_limited",
	}
	for _, r := range presence.Reasons() {
		m[codes[r]] = string(r)
	}
	return m
}()

// reasonOf names an error code for the metrics; a code of a hook's own
// (presence.Error.Code) is "code_" and its number.
func reasonOf(code int) string {
	if r, ok := reasons[code]; ok {
		return r
	}
	return "code_" + strconv.Itoa(code)
}

// refusal is an error that is answered with an error frame: the engine's
// refusals, and the adapter's own (invalid message, unknown method).
type refusal struct{ e sgcwire.Error }

func (r *refusal) Error() string { return r.e.Text }

func invalid(why string) error {
	return &refusal{sgcwire.Error{Code: sgcwire.CodeInvalidMessage, Text: sgcwire.Text(sgcwire.CodeInvalidMessage) + why + "."}}
}

// rateLimited is error 45 for a request over one of the rates.
func rateLimited(why string) error {
	return &refusal{sgcwire.Error{Code: sgcwire.CodeRateLimited, Text: sgcwire.Text(sgcwire.CodeRateLimited) + " " + why + "."}}
}

// errorFrame returns the error object for err and whether err is one that
// is answered with an error frame.
func errorFrame(err error) (sgcwire.Error, bool) {
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
		return sgcwire.NewError(code), ok
	}
	return sgcwire.Error{}, false
}

// wireError maps a refusal with words: its own code and text where it has
// them, the reason's otherwise.
func wireError(pe *presence.Error) sgcwire.Error {
	out := sgcwire.NewError(codes[pe.Reason])
	if pe.Code != 0 {
		out.Code = pe.Code
	}
	if pe.Text != "" {
		out.Text = pe.Text
	}
	return out
}

// refusalOf reads an invitee's refusal from the sgcwire.
func refusalOf(e sgcwire.Error) *presence.Error {
	if e.Code == 0 {
		return nil
	}
	return &presence.Error{Reason: presence.ErrInvitationDeclined, Code: e.Code, Text: e.Text}
}

// wireText is a decoding error's text for the peer: the codec's package
// prefix names Go code, not anything the client sent.
func wireText(err error) string {
	return strings.TrimPrefix(err.Error(), "sgcwire: ")
}
