package pusherwire

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// HTTP API event bodies (§5.2): POST /apps/{id}/events and
// POST /apps/{id}/batch_events. Decoding checks the shape; [Limits] holds the
// limits an adapter applies with [Trigger.Check].

// Trigger is one event to publish, from /events or one item of /batch_events.
type Trigger struct {
	// Name is the event name.
	Name string
	// Data is the event data as a string, sent to clients unchanged with
	// [AppendChannelEvent]. The SDK always sends a string; an object or other
	// JSON value is accepted too and kept as its JSON text.
	Data string
	// Channels are the target channels ("channels", or the single
	// "channel"), in order, as given.
	Channels []string
	// SocketID, when not empty, is the socket that must not receive the
	// event. Not validated; see [ValidSocketID].
	SocketID string
	// Info is the comma-separated list of attributes asked for in the
	// response ("user_count,subscription_count"), "" for none.
	Info string
}

// Limits are the HTTP API limits of §5.3. A zero field means its default.
type Limits struct {
	// MaxDataBytes limits len(Data); default 10 KiB (Pusher; soketi allows
	// 100 KiB).
	MaxDataBytes int
	// MaxChannels limits the channels of one event; default 100.
	MaxChannels int
	// MaxBatch limits the events of one batch; default 10.
	MaxBatch int
	// MaxEventNameLength limits the event name; default 200.
	MaxEventNameLength int
	// MaxChannelNameLength limits each channel name; default 200.
	MaxChannelNameLength int
}

// Default limits of §5.3.
const (
	DefaultMaxDataBytes = 10 * 1024
	DefaultMaxChannels  = 100
	DefaultMaxBatch     = 10
)

func orDefault(v, d int) int {
	if v <= 0 {
		return d
	}
	return v
}

// Sentinel errors of HTTP API bodies; a [*BodyError] matches one of them with
// errors.Is.
var (
	// ErrBodyInvalid: the body is not the expected JSON object, or a field
	// is missing or has the wrong type.
	ErrBodyInvalid = errors.New("pusher: invalid request body")
	// ErrBodyLimit: a count or length limit is exceeded (status 400).
	ErrBodyLimit = errors.New("pusher: request over a limit")
	// ErrDataTooLarge: the event data is over MaxDataBytes (status 413).
	ErrDataTooLarge = errors.New("pusher: event data too large")
)

// BodyError says what is wrong with an HTTP API body.
type BodyError struct {
	// Err is ErrBodyInvalid, ErrBodyLimit or ErrDataTooLarge.
	Err error
	// Msg is a message fit for the response body.
	Msg string
}

// Error returns the message.
func (e *BodyError) Error() string { return e.Msg }

// Unwrap returns the sentinel.
func (e *BodyError) Unwrap() error { return e.Err }

// Status returns the HTTP status: 413 for ErrDataTooLarge, 400 otherwise.
func (e *BodyError) Status() int {
	if e.Err == ErrDataTooLarge {
		return 413
	}
	return 400
}

func invalidBody(msg string) error { return &BodyError{Err: ErrBodyInvalid, Msg: msg} }

// DecodeTrigger decodes the body of POST /apps/{id}/events. It requires name (a
// non-empty string), data (present, not null) and channels (an array of
// strings) or channel (a string); socket_id and info are optional strings.
// It returns nil or a [*BodyError].
func DecodeTrigger(body []byte) (Trigger, error) {
	m, err := decodeObject(body, "", "")
	if err != nil {
		return Trigger{}, invalidBody("Request body must be a JSON object")
	}
	return triggerFrom(m, "")
}

// DecodeBatch decodes the body of POST /apps/{id}/batch_events:
// {"batch":[…]}, each item as in [DecodeTrigger]. It returns nil or a
// [*BodyError].
func DecodeBatch(body []byte) ([]Trigger, error) {
	m, err := decodeObject(body, "", "")
	if err != nil {
		return nil, invalidBody("Request body must be a JSON object")
	}
	raw, ok := m["batch"]
	if !ok || isNull(raw) {
		return nil, invalidBody("Missing batch")
	}
	var items []json.RawMessage
	if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
		return nil, invalidBody("batch must be an array")
	}
	out := make([]Trigger, 0, len(items))
	for i, it := range items {
		where := "batch[" + strconv.Itoa(i) + "]."
		im, err := decodeObject(it, "", "")
		if err != nil {
			return nil, invalidBody("batch[" + strconv.Itoa(i) + "] must be an object")
		}
		tr, err := triggerFrom(im, where)
		if err != nil {
			return nil, err
		}
		out = append(out, tr)
	}
	return out, nil
}

func triggerFrom(m map[string]json.RawMessage, where string) (Trigger, error) {
	var t Trigger
	str := func(name string, required bool) (string, error) {
		s, present, err := stringField(m, name, "", name)
		if err != nil {
			return "", invalidBody(where + name + " must be a string")
		}
		if required && (!present || s == "") {
			return "", invalidBody("Missing " + where + name)
		}
		return s, nil
	}
	var err error
	if t.Name, err = str("name", true); err != nil {
		return Trigger{}, err
	}
	d, ok := m["data"]
	switch {
	case !ok || isNull(d):
		return Trigger{}, invalidBody("Missing " + where + "data")
	case d[0] == '"':
		if json.Unmarshal(d, &t.Data) != nil {
			return Trigger{}, invalidBody(where + "data must be a string")
		}
	default:
		t.Data = string(d)
	}
	if raw, ok := m["channels"]; ok && !isNull(raw) {
		if raw[0] != '[' || json.Unmarshal(raw, &t.Channels) != nil {
			return Trigger{}, invalidBody(where + "channels must be an array of strings")
		}
	} else {
		ch, err := str("channel", false)
		if err != nil {
			return Trigger{}, err
		}
		if ch != "" {
			t.Channels = []string{ch}
		}
	}
	if len(t.Channels) == 0 {
		return Trigger{}, invalidBody("Missing " + where + "channels")
	}
	if t.SocketID, err = str("socket_id", false); err != nil {
		return Trigger{}, err
	}
	if t.Info, err = str("info", false); err != nil {
		return Trigger{}, err
	}
	return t, nil
}

// Check applies the limits to one event: the name (at most
// MaxEventNameLength, and not a protocol event), the channel count and every
// channel name ([ValidateChannelName]; the user channel "#server-to-user-…"
// is allowed, as sendToUser needs it), the data size, and the socket id
// format. It returns nil or a [*BodyError].
func (t *Trigger) Check(l Limits) error {
	if n := orDefault(l.MaxEventNameLength, DefaultMaxEventNameLength); len(t.Name) > n {
		return &BodyError{Err: ErrBodyLimit, Msg: "Event name is longer than " + strconv.Itoa(n) + " characters"}
	}
	if IsProtocolEvent(t.Name) {
		return invalidBody("Event name " + strconv.Quote(t.Name) + " is reserved")
	}
	if n := orDefault(l.MaxChannels, DefaultMaxChannels); len(t.Channels) > n {
		return &BodyError{Err: ErrBodyLimit, Msg: "More than " + strconv.Itoa(n) + " channels"}
	}
	for _, c := range t.Channels {
		if err := ValidateChannelName(c, orDefault(l.MaxChannelNameLength, DefaultMaxChannelNameLength)); err != nil {
			if errors.Is(err, ErrChannelNameTooLong) {
				return &BodyError{Err: ErrBodyLimit, Msg: err.Error()}
			}
			return invalidBody(err.Error())
		}
	}
	if n := orDefault(l.MaxDataBytes, DefaultMaxDataBytes); len(t.Data) > n {
		return &BodyError{Err: ErrDataTooLarge, Msg: "Event data is larger than " + strconv.Itoa(n) + " bytes"}
	}
	if t.SocketID != "" && !ValidSocketID(t.SocketID) {
		return invalidBody("Invalid socket_id " + strconv.Quote(t.SocketID))
	}
	return nil
}

// CheckBatch applies the batch size limit and then [Trigger.Check] to every
// item.
func CheckBatch(batch []Trigger, l Limits) error {
	if n := orDefault(l.MaxBatch, DefaultMaxBatch); len(batch) > n {
		return &BodyError{Err: ErrBodyLimit, Msg: "Batch has more than " + strconv.Itoa(n) + " events"}
	}
	for i := range batch {
		if err := batch[i].Check(l); err != nil {
			be := err.(*BodyError)
			return &BodyError{Err: be.Err, Msg: "batch[" + strconv.Itoa(i) + "]: " + be.Msg}
		}
	}
	return nil
}

// InfoAttributes splits an info parameter ("user_count,subscription_count")
// into its attribute names, dropping empty ones.
func InfoAttributes(info string) []string {
	var out []string
	for a := range strings.SplitSeq(info, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
