package sgcwire

import (
	"errors"
	"fmt"
	"strings"
)

// ErrEnvelope reports a text frame that does not start with the
// envelope's three-digit id length and id.
var ErrEnvelope = errors.New("sgcwire: malformed envelope")

// UnwrapEnvelope splits a broker.esegece.com text frame ("NNN" + id + payload).
// forPresence tells whether the id addresses the Presence protocol: either
// "presence.esegece.com" or "<guid>.presence.esegece.com", case-insensitive.
// An empty id addresses the broker itself, not Presence.
func UnwrapEnvelope(frame []byte) (payload []byte, forPresence bool, err error) {
	if len(frame) < 3 {
		return nil, false, fmt.Errorf("%w: frame shorter than its length prefix", ErrEnvelope)
	}
	n := 0
	for _, c := range frame[:3] {
		if c < '0' || c > '9' {
			return nil, false, fmt.Errorf("%w: length prefix %q is not three digits", ErrEnvelope, frame[:3])
		}
		n = n*10 + int(c-'0')
	}
	if len(frame) < 3+n {
		return nil, false, fmt.Errorf("%w: id length %d exceeds the frame", ErrEnvelope, n)
	}
	id := strings.ToLower(string(frame[3 : 3+n]))
	forPresence = id == envelopePresenceIDNoGUIDPart || strings.HasSuffix(id, envelopePresenceID)
	return frame[3+n:], forPresence, nil
}

// AppendEnvelope appends payload wrapped in the envelope addressed to
// the Presence protocol with an empty Guid (".presence.esegece.com").
func AppendEnvelope(dst, payload []byte) []byte {
	dst = append(dst, "021"+envelopePresenceID...)
	return append(dst, payload...)
}
