package bench

import (
	"bytes"
	"hash/maphash"
	"strconv"

	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// The lists and diffs of a join storm are most of what its generator
// reads: every one of N clients learns every one of N members. A view
// needs only the members' ids, and only to tell them apart, so the
// generator reads them as 64-bit keys (hashes of the ids) straight from
// the frames the server writes: no member is decoded, no id string kept.
// Anything unusual (an escape, a Base64 value) is read the general way.

// keySeed makes every key of one generator process comparable.
var keySeed = maphash.MakeSeed()

// key is a member id's key in a view.
func key(id string) uint64 { return maphash.String(keySeed, id) }

// idKeys returns the keys of ids.
func idKeys(ids []string) []uint64 {
	keys := make([]uint64, len(ids))
	for i, id := range ids {
		keys[i] = key(id)
	}
	return keys
}

// quickList is a rollcall@members page or a rollcall@diff read for its
// members' keys alone: joined holds a page's members or a diff's joins,
// left a diff's leaves (its updates are not read).
type quickList struct {
	diff          bool
	channel       string
	from, version uint64
	more          bool
	joined, left  []uint64
	ack           string // the frame's acknowledgment id, if any
}

var (
	quickHead    = []byte(`{"jsonrpc":"2.0","method":"`)
	quickMembers = []byte(sgcwire.MethodList + `","channel":{"name":"`)
	quickDiff    = []byte(sgcwire.MethodDiff + `","channel":{"name":"`)
	memberIDKey  = []byte(`{"id":"`)
	ackKey       = []byte(`,"id":"`)
)

// readQuickList reads frame if it is a members page or a diff as the
// server writes them; ok is false for any other frame, and for one with
// an escape or a Base64 value. In a frame without escapes a quote only
// ever delimits a string, so the keys and brackets the reader looks for
// cannot hide in a name.
func readQuickList(frame []byte) (q quickList, ok bool) {
	rest, ok := bytes.CutPrefix(frame, quickHead)
	if !ok || bytes.IndexByte(frame, '\\') >= 0 || bytes.Contains(frame, []byte("sgc@b64:")) {
		return q, false
	}
	switch {
	case bytes.HasPrefix(rest, quickMembers):
		rest = rest[len(quickMembers):]
	case bytes.HasPrefix(rest, quickDiff):
		rest, q.diff = rest[len(quickDiff):], true
	default:
		return q, false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return q, false
	}
	q.channel, rest = string(rest[:end]), rest[end:]
	lit := func(s string) {
		if ok && bytes.HasPrefix(rest, []byte(s)) {
			rest = rest[len(s):]
		} else {
			ok = false
		}
	}
	num := func() uint64 {
		n := 0
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			n++
		}
		v, err := strconv.ParseUint(string(rest[:n]), 10, 64)
		ok, rest = ok && err == nil, rest[n:]
		return v
	}
	upTo := func(sep string) []byte {
		i := bytes.Index(rest, []byte(sep))
		if !ok || i < 0 {
			ok = false
			return nil
		}
		a := rest[:i]
		rest = rest[i+len(sep):]
		return a
	}
	// The frame's closing brace, and before it its acknowledgment id if
	// any, come off the end; a member holds no ,"id":" (its id comes
	// first, after its brace).
	rest, ok = bytes.CutSuffix(rest, []byte("}"))
	if !ok {
		return q, false
	}
	if i := ackAt(rest); i >= 0 && i > bytes.LastIndexByte(rest, ']') {
		a := rest[i+len(ackKey):]
		end := bytes.IndexByte(a, '"')
		if end != len(a)-1 {
			return q, false
		}
		q.ack, rest = string(a[:end]), rest[:i]
	}
	if q.diff {
		lit(`"},"from":`)
		q.from = num()
		lit(`,"version":`)
		q.version = num()
		lit(`,"joined":[`)
		q.joined = memberKeys(upTo(`],"left":[`))
		q.left = stringKeys(upTo(`],"updated":[`))
		ok = ok && bytes.HasSuffix(rest, []byte("]")) // the updates, not read
	} else {
		lit(`"},"version":`)
		q.version = num()
		lit(`,"members":[`)
		q.joined = memberKeys(upTo(`],"more":`))
		switch string(rest) {
		case "true":
			q.more = true
		case "false":
		default:
			ok = false
		}
	}
	return q, ok
}

// ackAt is where the acknowledgment key is in rest, or -1: among its
// last bytes (an id is short), not searched for through a page of
// members.
func ackAt(rest []byte) int {
	from := max(len(rest)-128, 0)
	i := bytes.LastIndex(rest[from:], ackKey)
	if i < 0 {
		return -1
	}
	return from + i
}

// memberKeys returns the keys of the members of a member array's inside.
func memberKeys(a []byte) []uint64 {
	var keys []uint64
	for {
		i := bytes.Index(a, memberIDKey)
		if i < 0 {
			return keys
		}
		a = a[i+len(memberIDKey):]
		end := bytes.IndexByte(a, '"')
		if end < 0 {
			return keys
		}
		keys = append(keys, maphash.Bytes(keySeed, a[:end]))
		a = a[end:]
	}
}

// stringKeys returns the keys of the strings of a string array's inside.
func stringKeys(a []byte) []uint64 {
	var keys []uint64
	for {
		i := bytes.IndexByte(a, '"')
		if i < 0 {
			return keys
		}
		a = a[i+1:]
		end := bytes.IndexByte(a, '"')
		if end < 0 {
			return keys
		}
		keys = append(keys, maphash.Bytes(keySeed, a[:end]))
		a = a[end+1:]
	}
}
