package bench

import (
	"fmt"
	"slices"
	"strings"
)

// The ways a bench's clients can hear a channel's member changes
// (--presence).
const (
	// PerEvent: one frame per join or leave, as sgc clients hear them
	// (client.Options.PerEvent; the raw sgc driver without rollcall@hello).
	PerEvent = "per-event"
	// Diffs: the rollcall extension's member list when subscribing, then
	// one folded diff per channel per window (docs/protocol.md). What the
	// Go client asks for by default.
	Diffs = "diffs"
)

// ParsePresence reads a comma-separated list of presence modes (PerEvent,
// Diffs), each at most once, in the order given.
func ParsePresence(s string) ([]string, error) {
	var modes []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f != PerEvent && f != Diffs {
			return nil, fmt.Errorf("bad presence mode %q: want %s, %s or both (%s,%s)", f, PerEvent, Diffs, PerEvent, Diffs)
		}
		if !slices.Contains(modes, f) {
			modes = append(modes, f)
		}
	}
	return modes, nil
}
