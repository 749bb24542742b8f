package adapter

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
)

// MaxErrorKinds bounds the kinds of error reply (protocol, reason, code)
// counted apart; the replies of further kinds are counted together, per
// protocol, as reason "other" with code 0, so that a hook inventing codes
// cannot grow the metrics without bound.
const MaxErrorKinds = 256

// ErrorCount is how many error replies of one kind a protocol has sent.
type ErrorCount struct {
	// Protocol names the protocol ("sgc", "pusher").
	Protocol string
	// Reason names the error in snake_case: the presence.Reason it
	// answers, or the protocol's own name for an error the engine has no
	// reason for.
	Reason string
	// Code is the protocol's code sent with it.
	Code int
	N    uint64
}

type errorKind struct {
	protocol, reason string
	code             int
}

// errorCounts counts error replies by kind. Counting a kind seen before is
// an atomic load, a map read and an atomic add, with no lock and no
// allocation; the first reply of a kind copies the map (there are few).
type errorCounts struct {
	kinds atomic.Pointer[map[errorKind]*atomic.Uint64] // nil until the first error

	mu sync.Mutex // serializes the copies
}

func (e *errorCounts) add(k errorKind) {
	if m := e.kinds.Load(); m != nil {
		if n := (*m)[k]; n != nil {
			n.Add(1)
			return
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var old map[errorKind]*atomic.Uint64
	if m := e.kinds.Load(); m != nil {
		old = *m
	}
	if n := old[k]; n != nil { // added while we waited
		n.Add(1)
		return
	}
	if len(old) >= MaxErrorKinds {
		k = errorKind{protocol: k.protocol, reason: "other"}
		if n := old[k]; n != nil {
			n.Add(1)
			return
		}
	}
	m := make(map[errorKind]*atomic.Uint64, len(old)+1)
	for kk, n := range old {
		m[kk] = n
	}
	n := new(atomic.Uint64)
	n.Add(1)
	m[k] = n
	e.kinds.Store(&m)
}

func (e *errorCounts) snapshot() []ErrorCount {
	m := e.kinds.Load()
	if m == nil {
		return nil
	}
	out := make([]ErrorCount, 0, len(*m))
	for k, n := range *m {
		out = append(out, ErrorCount{Protocol: k.protocol, Reason: k.reason, Code: k.code, N: n.Load()})
	}
	slices.SortFunc(out, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(a.Protocol, b.Protocol), cmp.Compare(a.Code, b.Code), cmp.Compare(a.Reason, b.Reason))
	})
	return out
}
