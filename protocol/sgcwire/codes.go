package sgcwire

// Error codes of error frames (error.code). Codes below 40 and their texts
// are sgc's; 40 and up are rollcall's own (docs/protocol.md lists them all).
// The server and the Go client both read this table.
const (
	CodeMemberExists          = 1
	CodeMemberDenied          = 2
	CodeMemberNotExists       = 3
	CodeChannelNotExists      = 5
	CodeChannelDenied         = 6
	CodeSubscriptionDenied    = 10
	CodeSubscriptionExists    = 11
	CodeSubscriptionNotExists = 12
	CodePublishDenied         = 20
	CodeSendMembersDenied     = 30
	CodeInvalidMessage        = 40
	CodeUnknownMethod         = 41
	CodeNotOwnMember          = 42
	CodeTooManyChannels       = 43
	CodeChannelFull           = 44
	CodeRateLimited           = 45
	CodeInvalidChannel        = 46
	CodeNoInvitation          = 47
	CodeIdentityMismatch      = 48
	CodeUpdateDenied          = 49
	CodeExtensionTooLate      = 50
	CodeResumeRefused         = 51
	CodeInvitationDeclined    = 100
)

// texts are the standard texts of the codes. Those of CodeInvalidMessage and
// CodeUnknownMethod are prefixes: the server appends the detail.
var texts = map[int]string{
	CodeMemberExists:          "Member already exists.",
	CodeMemberDenied:          "Create New Member request has been denied.",
	CodeMemberNotExists:       "Member not exists.",
	CodeChannelNotExists:      "Channel not exists",
	CodeChannelDenied:         "Create New Channel request has been denied.",
	CodeSubscriptionDenied:    "Create Subscription request has been denied.",
	CodeSubscriptionExists:    "Subscription already exists.",
	CodeSubscriptionNotExists: "Subscription not exists.",
	CodePublishDenied:         "Publish Message request has been denied.",
	CodeSendMembersDenied:     "Send Members request has been denied.",
	CodeInvalidMessage:        "Invalid message: ",
	CodeUnknownMethod:         "Unknown method: ",
	CodeNotOwnMember:          "Member id does not belong to this connection.",
	CodeTooManyChannels:       "Too many channels for this connection.",
	CodeChannelFull:           "Channel is full.",
	CodeRateLimited:           "Rate limit exceeded.",
	CodeInvalidChannel:        "Invalid channel name.",
	CodeNoInvitation:          "No such invitation.",
	CodeIdentityMismatch:      "Member does not match the authenticated identity.",
	CodeUpdateDenied:          "Update Member request has been denied.",
	CodeExtensionTooLate:      "Extensions must be asked for before the join.",
	CodeResumeRefused:         "Resume refused: the token is unknown, used or too old.",
	CodeInvitationDeclined:    "Invitation declined.",
}

// Text returns the standard text of an error code, or "" for a code the
// table does not have.
func Text(code int) string { return texts[code] }

// NewError returns the error object of code with its standard text.
func NewError(code int) Error { return Error{Code: code, Text: texts[code]} }
