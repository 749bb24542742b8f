package natsbroker

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
)

// Subjects. Every subject starts with Options.Prefix; a name (channel or
// node) becomes one subject token as "_" + base64url(name), so that any
// string, also "", ".", "*", ">", spaces or unicode, is one safe token.
//
//	<prefix>.p.<channel>     Publish to a channel's subscribers
//	<prefix>.i.<node>        SendTo: one node's inbox
//	<prefix>.g.<node>        group broadcast from a node; every node
//	                         subscribes to <prefix>.g.*
//	<prefix>.c.<kind>.<node> control stream of a node: heartbeat (h),
//	                         change (r), leave (l), hello (w); every node
//	                         subscribes to <prefix>.c.> so that a node's
//	                         control messages reach each other node in order
//	<prefix>.q.<node>        snapshot request to a node
//	<prefix>.s.<node>        snapshot replies to a node
//	<prefix>.a.<node>        "is this name alive?" request
const (
	kindHeartbeat = 'h'
	kindChange    = 'r'
	kindLeave     = 'l'
	kindHello     = 'w'
)

// token encodes name as one subject token.
func token(name string) string {
	return "_" + base64.RawURLEncoding.EncodeToString([]byte(name))
}

// untoken decodes a token made by token.
func untoken(tok string) (string, bool) {
	if len(tok) == 0 || tok[0] != '_' {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok[1:])
	if err != nil {
		return "", false
	}
	return string(b), true
}

// ctlSubject is the subject of this node's control messages of a kind.
func (n *Node) ctlSubject(kind byte) string {
	return n.pfx + "c." + string(rune(kind)) + "." + n.selfTok
}

var errShort = errors.New("natsbroker: short message")

// reader reads the fields of a message; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) u64() uint64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.err = errShort
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 1 {
		r.err = errShort
		return 0
	}
	v := r.b[0]
	r.b = r.b[1:]
	return v
}

// bytes returns a length-prefixed field, aliasing the message.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)) < n {
		r.err = errShort
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) string() string { return string(r.bytes()) }

// rest returns what is left, aliasing the message.
func (r *reader) rest() []byte {
	if r.err != nil {
		return nil
	}
	v := r.b
	r.b = nil
	return v
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, v string) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// Control message bodies (after the subject's kind and node):
//
//	heartbeat: inc u64, last seq uvarint, entry count uvarint
//	change:    inc u64, seq uvarint, change bytes (rest)
//	leave:     inc u64
//	hello:     inc u64
//
// Snapshot request: requester name (rest); the reply subject is the
// requester's <prefix>.s.<node>.
//
// Snapshot reply: owner name, inc u64, seq uvarint (the snapshot holds every
// change up to seq), id uvarint, chunk index uvarint, chunk count uvarint,
// entry count uvarint, entries (length-prefixed each).
//
// Inbox: conn (length-prefixed), event bytes (rest).
//
// Group broadcast: pattern (length-prefixed), text (rest).
//
// Alive reply: inc u64.
