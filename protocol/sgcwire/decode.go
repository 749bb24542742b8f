package sgcwire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Decoding errors. A frame that fails with ErrNotJSON or ErrVersion is not a
// Presence message at all; a *FieldError is a Presence message with a field
// of the wrong type or a bad sgc@b64: value, and Decode still returns what it
// could read (method and id at least) so the receiver can answer it.
var (
	ErrNotJSON = errors.New("sgcwire: frame is not a JSON object")
	ErrVersion = errors.New(`sgcwire: "jsonrpc" must be "2.0"`)
	ErrMethod  = errors.New(`sgcwire: "method" must be a non-empty string`)
)

// FieldError reports a field that could not be read.
type FieldError struct {
	Field  string // dotted path, e.g. "channel.name"
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("field %q %s", e.Field, e.Reason)
}

type wireMember struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Info string `json:"info"`
}

type wireChannel struct {
	Name string `json:"name"`
}

type wireMessage struct {
	Text string `json:"text"`
}

type wireError struct {
	Code int    `json:"code"`
	Text string `json:"text"`
}

type wireFrame struct {
	JSONRPC *string      `json:"jsonrpc"`
	Method  *string      `json:"method"`
	ID      *string      `json:"id"`
	Member  *wireMember  `json:"member"`
	Channel *wireChannel `json:"channel"`
	Message *wireMessage `json:"message"`
	Error   *wireError   `json:"error"`
	Members []wireMember `json:"members"`
	// The rollcall extension.
	Extensions []string     `json:"extensions"`
	Counts     bool         `json:"counts"`
	Version    uint64       `json:"version"`
	From       uint64       `json:"from"`
	More       bool         `json:"more"`
	Joined     []wireMember `json:"joined"`
	Left       []string     `json:"left"`
	Updated    []wireMember `json:"updated"`
	Count      int          `json:"count"`
	Token      *string      `json:"token"`
	Resumed    bool         `json:"resumed"`
}

// Decode reads one Presence frame. String values starting with "sgc@b64:"
// are decoded everywhere, including "method", "id" and members[] entries,
// whatever the sender's encoding setting.
func Decode(data []byte) (*Message, error) {
	data = bytes.TrimSpace(data)
	if m, ok := decodeCanonical(data); ok {
		return m, nil
	}
	return decodeJSON(data)
}

// decodeJSON is Decode with encoding/json, for any frame.
func decodeJSON(data []byte) (*Message, error) {
	if len(data) == 0 || data[0] != '{' {
		return nil, ErrNotJSON
	}
	var w wireFrame
	err := json.Unmarshal(data, &w)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.As(err, &typeErr):
		// json.Unmarshal filled every other field; report the first bad one
		// after checking the envelope below.
	default:
		return nil, ErrNotJSON
	}
	d := decoder{}
	if w.JSONRPC == nil || d.str("jsonrpc", *w.JSONRPC) != jsonrpcVersion {
		return nil, ErrVersion
	}
	m := &Message{}
	if w.Method != nil {
		m.Method = d.str("method", *w.Method)
	}
	if m.Method == "" {
		return nil, ErrMethod
	}
	if w.ID != nil {
		m.ID = d.str("id", *w.ID)
	}
	if typeErr != nil {
		field := typeErr.Field
		if field == "" {
			field = "(top level)"
		}
		return m, &FieldError{Field: field, Reason: "must be " + jsonKind(typeErr.Type.Kind().String())}
	}
	if w.Member != nil {
		m.Member = d.member("member", *w.Member)
	}
	if w.Channel != nil {
		m.Channel = d.str("channel.name", w.Channel.Name)
	}
	if w.Message != nil {
		m.HasText = true
		m.Text = d.str("message.text", w.Message.Text)
	}
	if w.Error != nil {
		m.Error = Error{Code: w.Error.Code, Text: d.str("error.text", w.Error.Text)}
	}
	m.Members = d.members("members", w.Members)
	m.Extensions = d.strs("extensions", w.Extensions)
	m.Counts, m.Version, m.From, m.More, m.Count = w.Counts, w.Version, w.From, w.More, w.Count
	m.Joined = d.members("joined", w.Joined)
	m.Left = d.strs("left", w.Left)
	m.Updated = d.members("updated", w.Updated)
	if w.Token != nil {
		m.Token = d.str("token", *w.Token)
	}
	m.Resumed = w.Resumed
	if d.err != nil {
		return m, d.err
	}
	return m, nil
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64":
		return "a number"
	case "slice":
		return "an array"
	default:
		return "an object"
	}
}

// decoder undoes the sgc@b64: encoding and remembers the first bad value.
type decoder struct {
	err error
}

func (d *decoder) member(path string, w wireMember) Member {
	return Member{
		ID:   d.str(path+".id", w.ID),
		Name: d.str(path+".name", w.Name),
		Info: d.str(path+".info", w.Info),
	}
}

// members decodes a members array (nil when empty).
func (d *decoder) members(path string, ws []wireMember) []Member {
	if len(ws) == 0 {
		return nil
	}
	out := make([]Member, len(ws))
	for i, wm := range ws {
		out[i] = d.member(fmt.Sprintf("%s[%d]", path, i), wm)
	}
	return out
}

// strs decodes an array of strings in place (nil when empty).
func (d *decoder) strs(path string, ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	for i, s := range ss {
		if hasPrefix(s) {
			ss[i] = d.str(fmt.Sprintf("%s[%d]", path, i), s)
		}
	}
	return ss
}

func (d *decoder) str(field, s string) string {
	if !hasPrefix(s) {
		return s
	}
	v, err := DecodeValue(s)
	if err != nil && d.err == nil {
		d.err = &FieldError{Field: field, Reason: "has an invalid sgc@b64: value"}
	}
	return v
}

func hasPrefix(s string) bool { return strings.HasPrefix(s, b64Prefix) }

// DecodeValue undoes the sgc@b64: encoding of one value; a value without the
// prefix is returned as it is. The bytes are read as UTF-8, falling back to
// Latin-1 when they are not valid UTF-8 (what sgc's browser client sends).
func DecodeValue(s string) (string, error) {
	if !hasPrefix(s) {
		return s, nil
	}
	raw := s[len(b64Prefix):]
	b, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(raw)
		if err != nil {
			return "", fmt.Errorf("decode sgc@b64 value: %w", err)
		}
	}
	if utf8.Valid(b) {
		return string(b), nil
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r), nil
}

// EncodeValue returns s in the sgc@b64: form (empty and already-encoded
// values are returned unchanged).
func EncodeValue(s string) string {
	if s == "" || hasPrefix(s) {
		return s
	}
	return b64Prefix + base64.StdEncoding.EncodeToString([]byte(s))
}
