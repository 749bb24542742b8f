package sgcwire

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"
)

// decodeCanonical reads the frames that carry many members, the member
// events of a join storm and member counts without encoding/json, when they are exactly as
// Encoder writes them (keys in its order, no whitespace, no escapes, no
// Base64 value): a client that asked for diffs gets every member of a big
// channel in such frames, and reading them is most of its work. ok false
// means Decode reads the frame the general way; for any frame it accepts,
// the result is the one the general way gives (TestCanonicalDecode).
func decodeCanonical(frame []byte) (m *Message, ok bool) {
	method, rest, ok := canonicalHead(frame)
	if !ok || !plainFrame(rest) {
		return nil, false
	}
	s := scanner{b: rest, ok: true}
	m = &Message{Method: method}
	switch method {
	case MethodNewMember, MethodRemoveMember:
		s.lit(`,"member":`)
		m.Member = s.member()
	case MethodNewChannelMember, MethodRemoveChannelMember:
		s.lit(`,"member":`)
		m.Member = s.member()
		s.lit(`,"channel":{"name":`)
		m.Channel = s.str()
		s.lit(`}`)
		if s.ok && bytes.HasPrefix(s.b[s.i:], []byte(`,"counts":true`)) {
			m.Counts = true
			s.i += len(`,"counts":true`)
		}
	case MethodList:
		s.lit(`,"channel":{"name":`)
		m.Channel = s.str()
		s.lit(`},"version":`)
		m.Version = s.uint()
		s.lit(`,"members":`)
		m.Members = s.members()
		s.lit(`,"more":`)
		switch {
		case s.ok && bytes.HasPrefix(s.b[s.i:], []byte("true")):
			m.More, s.i = true, s.i+4
		default:
			s.lit("false")
		}
	case MethodDiff:
		s.lit(`,"channel":{"name":`)
		m.Channel = s.str()
		s.lit(`},"from":`)
		m.From = s.uint()
		s.lit(`,"version":`)
		m.Version = s.uint()
		s.lit(`,"joined":`)
		m.Joined = s.members()
		s.lit(`,"left":`)
		s.list(func() { m.Left = append(m.Left, s.str()) })
		s.lit(`,"updated":`)
		m.Updated = s.members()
	case MethodCount: // many of them go to the audience of a big channel
		s.lit(`,"channel":{"name":`)
		m.Channel = s.str()
		s.lit(`},"count":`)
		m.Count = int(min(s.uint(), math.MaxInt32))
	default:
		return nil, false
	}
	if s.ok && bytes.HasPrefix(s.b[s.i:], []byte(`,"id":`)) {
		s.i += len(`,"id":`)
		m.ID = s.str()
	}
	s.lit("}")
	if !s.ok || s.i != len(s.b) {
		return nil, false
	}
	return m, true
}

var canonicalPrefix = []byte(`{"jsonrpc":"2.0","method":"`)

// canonicalHead splits a frame after its method.
func canonicalHead(frame []byte) (method string, rest []byte, ok bool) {
	if !bytes.HasPrefix(frame, canonicalPrefix) {
		return "", nil, false
	}
	rest = frame[len(canonicalPrefix):]
	end := bytes.IndexByte(rest, '"')
	if end <= 0 {
		return "", nil, false
	}
	return string(rest[:end]), rest[end+1:], true
}

// plainFrame reports whether b's strings can be read without decoding:
// no escape, no control character, no Base64 value, valid UTF-8.
func plainFrame(b []byte) bool {
	for _, c := range b {
		if c == '\\' || c < 0x20 {
			return false
		}
	}
	return !bytes.Contains(b, []byte(b64Prefix)) && utf8.Valid(b)
}

// scanner reads canonical JSON forward; ok turns false at the first thing
// it does not expect.
type scanner struct {
	b  []byte
	i  int
	ok bool
}

// lit moves past want, which must come next.
func (s *scanner) lit(want string) {
	if s.ok && bytes.HasPrefix(s.b[s.i:], []byte(want)) {
		s.i += len(want)
		return
	}
	s.ok = false
}

// str reads a string (plainFrame checked that it has no escapes).
func (s *scanner) str() string {
	if !s.ok || s.i >= len(s.b) || s.b[s.i] != '"' {
		s.ok = false
		return ""
	}
	j := bytes.IndexByte(s.b[s.i+1:], '"')
	if j < 0 {
		s.ok = false
		return ""
	}
	v := string(s.b[s.i+1 : s.i+1+j])
	s.i += j + 2
	return v
}

func (s *scanner) uint() uint64 {
	j := s.i
	for j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9' {
		j++
	}
	if !s.ok || j == s.i || j-s.i > 1 && s.b[s.i] == '0' {
		s.ok = false
		return 0
	}
	v, err := strconv.ParseUint(string(s.b[s.i:j]), 10, 64)
	s.ok, s.i = err == nil, j
	return v
}

// list reads an array whose elements elem reads.
func (s *scanner) list(elem func()) {
	s.lit("[")
	if s.ok && s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return
	}
	for s.ok {
		elem()
		if s.ok && s.i < len(s.b) && s.b[s.i] == ',' {
			s.i++
			continue
		}
		s.lit("]")
		return
	}
}

func (s *scanner) member() Member {
	var m Member
	s.lit(`{"id":`)
	m.ID = s.str()
	s.lit(`,"name":`)
	m.Name = s.str()
	s.lit(`,"info":`)
	m.Info = s.str()
	s.lit("}")
	return m
}

func (s *scanner) members() []Member {
	var out []Member
	s.list(func() { out = append(out, s.member()) })
	return out
}
