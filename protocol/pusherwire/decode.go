package pusherwire

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// Frame is the envelope every message shares (§1.2).
type Frame struct {
	// Event is the event name; never empty in a decoded frame.
	Event string
	// Channel is the channel name, "" when absent.
	Channel string
	// Data is the raw JSON value of "data" exactly as received (an object, a
	// string, …), nil when absent or null.
	Data json.RawMessage
	// UserID is the top-level "user_id", "" when absent. Servers set it on
	// relayed client events; a value a client sends proves nothing.
	UserID string
}

// DataJSON returns the data as a JSON document: when Data is a JSON string
// that holds JSON (the double-encoded form servers send, and a form clients
// may use), the inner document; otherwise Data itself.
func (f *Frame) DataJSON() json.RawMessage {
	if len(f.Data) == 0 || f.Data[0] != '"' {
		return f.Data
	}
	var s string
	if json.Unmarshal(f.Data, &s) != nil {
		return f.Data
	}
	inner := bytes.TrimSpace([]byte(s))
	if len(inner) == 0 || !json.Valid(inner) {
		return f.Data
	}
	return inner
}

// FrameType tells which client message a frame is.
type FrameType uint8

const (
	// TypeOther is an event that is neither a protocol event nor a client
	// event ("foo"); a server refuses it like a client event without the
	// "client-" prefix.
	TypeOther FrameType = iota
	// TypeSubscribe is pusher:subscribe; see ClientFrame.Subscribe.
	TypeSubscribe
	// TypeUnsubscribe is pusher:unsubscribe; the channel is in
	// ClientFrame.Channel.
	TypeUnsubscribe
	// TypeSignin is pusher:signin; see ClientFrame.Signin.
	TypeSignin
	// TypePing is pusher:ping; answer with [AppendPong].
	TypePing
	// TypePong is pusher:pong, the answer to a server's ping.
	TypePong
	// TypeClientEvent is a "client-…" event with a channel.
	TypeClientEvent
)

// Subscribe is the data of pusher:subscribe (§2.2).
type Subscribe struct {
	// Channel is the channel name, not validated (see [ValidateChannelName]).
	Channel string
	// Auth is "key:signature", "" when absent (public channels).
	Auth string
	// ChannelData is the exact channel_data string the client sent: the
	// presence signature covers it (§2.3). See [ParseChannelData].
	ChannelData string
	// HasChannelData tells an absent channel_data from an empty one.
	HasChannelData bool
}

// Signin is the data of pusher:signin (§4).
type Signin struct {
	// Auth is "key:signature".
	Auth string
	// UserData is the exact user_data string that was signed; see
	// [ParseUserData].
	UserData string
}

// ClientFrame is a decoded client-to-server frame.
type ClientFrame struct {
	Frame
	// Type says which message this is.
	Type FrameType
	// Subscribe is set when Type is TypeSubscribe. Its Channel is also
	// copied to Frame.Channel.
	Subscribe Subscribe
	// Signin is set when Type is TypeSignin.
	Signin Signin
}

// Sentinel errors of frame decoding; a [*FrameError] matches one of them with
// errors.Is.
var (
	// ErrInvalidJSON: the frame is not valid JSON.
	ErrInvalidJSON = errors.New("pusher: frame is not valid JSON")
	// ErrNotObject: the frame, or an object it must hold, is another JSON
	// value.
	ErrNotObject = errors.New("pusher: not a JSON object")
	// ErrMissingField: a required field is absent or null.
	ErrMissingField = errors.New("pusher: missing field")
	// ErrWrongType: a field has the wrong JSON type.
	ErrWrongType = errors.New("pusher: field has the wrong type")
	// ErrEmptyField: a required string field is empty.
	ErrEmptyField = errors.New("pusher: field is empty")
	// ErrUnknownEvent: a protocol event ("pusher:…", "pusher_internal:…")
	// that clients may not send.
	ErrUnknownEvent = errors.New("pusher: unknown protocol event")
)

// FrameError says precisely why a frame could not be decoded. An adapter
// answers it with [AppendError](dst, e.Code(), e.Message()) and keeps the
// socket open (§8.2 behaviour 4).
type FrameError struct {
	// Err is one of the sentinels ErrInvalidJSON, ErrNotObject,
	// ErrMissingField, ErrWrongType, ErrEmptyField, ErrUnknownEvent.
	Err error
	// Event is the frame's event name, when it got that far.
	Event string
	// Field is the offending field: "event", "channel", "data",
	// "data.channel", "data.auth", "data.channel_data", "data.user_data", …;
	// "" for the frame itself.
	Field string
	// Got is the JSON type found for ErrWrongType and ErrNotObject
	// ("number", "array", …).
	Got string
	// Want is the JSON type expected for ErrWrongType ("string", "object").
	Want string
}

// Error returns the message with the "pusher: " prefix.
func (e *FrameError) Error() string { return "pusher: " + e.Message() }

// Unwrap returns the sentinel.
func (e *FrameError) Unwrap() error { return e.Err }

// Code returns the code of the pusher:error reply: 4200 ([CodeReconnect]),
// which is what Reverb sends, without closing, for a frame it cannot parse or
// an unknown protocol event (§1.5). pusher-js does not act on the code of a
// pusher:error once connected.
func (e *FrameError) Code() int { return CodeReconnect }

// Message returns the text of the pusher:error reply: "Invalid message
// format" (Reverb's text) followed by what was wrong, e.g.
// "Invalid message format: pusher:subscribe: data.channel is a number, want a string".
func (e *FrameError) Message() string {
	var b strings.Builder
	b.WriteString("Invalid message format: ")
	if e.Event != "" {
		b.WriteString(e.Event)
		b.WriteString(": ")
	}
	what := e.Field
	if what == "" {
		what = "frame"
	}
	switch e.Err {
	case ErrInvalidJSON:
		b.WriteString("frame is not valid JSON")
	case ErrNotObject:
		b.WriteString(what + " is " + article(e.Got) + ", want an object")
	case ErrMissingField:
		b.WriteString(what + " is missing")
	case ErrWrongType:
		b.WriteString(what + " is " + article(e.Got) + ", want " + article(e.Want))
	case ErrEmptyField:
		b.WriteString(what + " is empty")
	case ErrUnknownEvent:
		b.WriteString("clients may not send this event")
	default:
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func article(t string) string {
	switch t {
	case "":
		return "something else"
	case "null":
		return "null"
	case "array", "object":
		return "an " + t
	}
	return "a " + t
}

// jsonType names the JSON type of a raw value by its first byte.
func jsonType(v json.RawMessage) string {
	if len(v) == 0 {
		return ""
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func isNull(v json.RawMessage) bool {
	return len(v) == 0 || (v[0] == 'n')
}

// decodeObject decodes an object into its members. The values are raw JSON
// (validated by the decoder); keys match exactly, and of repeated keys the
// last one counts.
func decodeObject(b []byte, event, field string) (map[string]json.RawMessage, error) {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		if !json.Valid(b) {
			return nil, &FrameError{Err: ErrInvalidJSON, Event: event, Field: field}
		}
		return nil, &FrameError{Err: ErrNotObject, Event: event, Field: field, Got: jsonType(b)}
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, &FrameError{Err: ErrInvalidJSON, Event: event, Field: field}
	}
	return m, nil
}

// stringField returns the string member name of m. present is false when it is
// absent or null.
func stringField(m map[string]json.RawMessage, name, event, field string) (s string, present bool, err error) {
	v, ok := m[name]
	if !ok || isNull(v) {
		return "", false, nil
	}
	if v[0] != '"' {
		return "", true, &FrameError{Err: ErrWrongType, Event: event, Field: field, Got: jsonType(v), Want: "string"}
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", true, &FrameError{Err: ErrInvalidJSON, Event: event, Field: field}
	}
	return s, true, nil
}

func requiredString(m map[string]json.RawMessage, name, event, field string) (string, error) {
	s, present, err := stringField(m, name, event, field)
	if err != nil {
		return "", err
	}
	if !present {
		return "", &FrameError{Err: ErrMissingField, Event: event, Field: field}
	}
	if s == "" {
		return "", &FrameError{Err: ErrEmptyField, Event: event, Field: field}
	}
	return s, nil
}

// DecodeFrame decodes the envelope of any frame, from a client or a server:
// a JSON object with a non-empty string "event", and optional string
// "channel" and "user_id" and any "data". It does not look inside data. The
// error, if any, is a [*FrameError].
func DecodeFrame(b []byte) (Frame, error) {
	m, err := decodeObject(b, "", "")
	if err != nil {
		return Frame{}, err
	}
	var f Frame
	if f.Event, err = requiredString(m, "event", "", "event"); err != nil {
		return Frame{}, err
	}
	if f.Channel, _, err = stringField(m, "channel", f.Event, "channel"); err != nil {
		return Frame{}, err
	}
	if f.UserID, _, err = stringField(m, "user_id", f.Event, "user_id"); err != nil {
		return Frame{}, err
	}
	if d := m["data"]; !isNull(d) {
		f.Data = d
	}
	return f, nil
}

// dataObject returns the members of the frame's data, which must be an object
// or a string holding one (§1.2).
func (f *Frame) dataObject() (map[string]json.RawMessage, error) {
	if f.Data == nil {
		return nil, &FrameError{Err: ErrMissingField, Event: f.Event, Field: "data"}
	}
	d := f.Data
	if d[0] == '"' {
		inner := f.DataJSON()
		if len(inner) == 0 || inner[0] == '"' {
			return nil, &FrameError{Err: ErrWrongType, Event: f.Event, Field: "data", Got: "string", Want: "object"}
		}
		d = inner
	}
	if d[0] != '{' {
		return nil, &FrameError{Err: ErrWrongType, Event: f.Event, Field: "data", Got: jsonType(d), Want: "object"}
	}
	return decodeObject(d, f.Event, "data")
}

// DecodeClientFrame decodes a frame a client sent and, for the protocol
// events, checks their data (as an object, or a string holding one):
//
//   - pusher:subscribe needs data.channel (a non-empty string); data.auth and
//     data.channel_data are optional strings.
//   - pusher:unsubscribe needs data.channel; it is put in Frame.Channel.
//   - pusher:signin needs data.auth and data.user_data, strings.
//   - pusher:ping and pusher:pong take any data.
//   - a "client-…" event needs a channel.
//   - any other "pusher:…" or "pusher_internal:…" event is ErrUnknownEvent.
//
// The error, if any, is a [*FrameError]. Nothing is authorized here: channel
// names, signatures and channel_data are checked by the functions made for
// them.
func DecodeClientFrame(b []byte) (ClientFrame, error) {
	f, err := DecodeFrame(b)
	if err != nil {
		return ClientFrame{}, err
	}
	cf := ClientFrame{Frame: f}
	switch {
	case f.Event == EventSubscribe:
		cf.Type = TypeSubscribe
		m, err := f.dataObject()
		if err != nil {
			return ClientFrame{}, err
		}
		var s Subscribe
		if s.Channel, err = requiredString(m, "channel", f.Event, "data.channel"); err != nil {
			return ClientFrame{}, err
		}
		if s.Auth, _, err = stringField(m, "auth", f.Event, "data.auth"); err != nil {
			return ClientFrame{}, err
		}
		if s.ChannelData, s.HasChannelData, err = stringField(m, "channel_data", f.Event, "data.channel_data"); err != nil {
			return ClientFrame{}, err
		}
		cf.Subscribe = s
		cf.Channel = s.Channel
	case f.Event == EventUnsubscribe:
		cf.Type = TypeUnsubscribe
		m, err := f.dataObject()
		if err != nil {
			return ClientFrame{}, err
		}
		if cf.Channel, err = requiredString(m, "channel", f.Event, "data.channel"); err != nil {
			return ClientFrame{}, err
		}
	case f.Event == EventSignin:
		cf.Type = TypeSignin
		m, err := f.dataObject()
		if err != nil {
			return ClientFrame{}, err
		}
		if cf.Signin.Auth, err = requiredString(m, "auth", f.Event, "data.auth"); err != nil {
			return ClientFrame{}, err
		}
		if cf.Signin.UserData, err = requiredString(m, "user_data", f.Event, "data.user_data"); err != nil {
			return ClientFrame{}, err
		}
	case f.Event == EventPing:
		cf.Type = TypePing
	case f.Event == EventPong:
		cf.Type = TypePong
	case IsProtocolEvent(f.Event):
		return ClientFrame{}, &FrameError{Err: ErrUnknownEvent, Event: f.Event}
	case IsClientEvent(f.Event):
		cf.Type = TypeClientEvent
		if f.Channel == "" {
			return ClientFrame{}, &FrameError{Err: ErrMissingField, Event: f.Event, Field: "channel"}
		}
	default:
		cf.Type = TypeOther
	}
	return cf, nil
}
