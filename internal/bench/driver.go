// Package bench is the load generator behind `rollcall bench`: scenarios
// that drive a presence server over many WebSocket connections, spread over
// worker processes and source addresses, and measure what it delivers and
// what it costs.
//
// A Driver speaks one server's wire protocol (rollcall's sgc Presence
// protocol, or the comparator's Centrifuge JSON protocol); the scenarios
// only see the Client interface.
package bench

import (
	"context"
	"net"
	"sync/atomic"
)

// Handler receives what a Client's server sends. Handlers run on the
// client's read goroutine and must not block; any of them may be nil.
type Handler struct {
	// Message is a publication on channel. payload is only valid during
	// the call.
	Message func(channel string, payload []byte)
	// Join is member joining channel (also the client's own join, with its
	// own member id).
	Join func(channel, member string)
	// Leave is member leaving channel.
	Leave func(channel, member string)
	// Members answers Client.Members with channel's member ids.
	Members func(channel string, members []string)
	// List is channel's member list as of version, all its pages gathered:
	// what a client that asked for diffs (SGC.Diffs) gets when it joins a
	// channel. Diff is the changes of channel from version from to
	// version: the ids that joined and those that left.
	List func(channel string, version uint64, members []string)
	Diff func(channel string, from, version uint64, joined, left []string)
	// ListKeys and DiffKeys, if set, take the lists and diffs instead of
	// List and Diff, with the members' keys (key) in place of their ids:
	// what a view needs, read without decoding the members.
	ListKeys func(channel string, version uint64, members []uint64)
	DiffKeys func(channel string, from, version uint64, joined, left []uint64)
	// Counter and ByteCounter, if set, count the frames and bytes received.
	Counter, ByteCounter *atomic.Int64
	// Error is a protocol error frame or a failed read; the scenario counts
	// it. After a read error the client is dead.
	Error func(err error)
}

// Client is one connection, joined as a member of the server.
type Client interface {
	// ID is the member id the server gave this client.
	ID() string
	// Join subscribes to channel as a member; the server's confirmation
	// arrives as Handler.Join with the client's own ID.
	Join(channel string) error
	// Publish sends payload to channel's members.
	Publish(channel string, payload []byte) error
	// Members asks for channel's member list; it arrives as Handler.Members.
	Members(channel string) error
	// Close closes the connection and waits for its read goroutine.
	Close() error
}

// Driver opens clients of one protocol.
type Driver interface {
	// Name is the server's short name in reports ("rollcall", "centrifuge").
	Name() string
	// Dial connects to target (a ws:// URL of the server's base, e.g.
	// ws://127.0.0.1:8080/) from the local address laddr, joins as a
	// member named name, and returns once the server has confirmed the
	// member. h must be fully set before Dial.
	Dial(ctx context.Context, target string, laddr *net.TCPAddr, name string, h *Handler) (Client, error)
}

// count adds one received frame of n bytes to the counters.
func (h *Handler) count(n int) {
	if h.Counter != nil {
		h.Counter.Add(1)
	}
	if h.ByteCounter != nil {
		h.ByteCounter.Add(int64(n))
	}
}
