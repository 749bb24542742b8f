package transport

import (
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Defaults for Options fields left zero.
const (
	DefaultMaxMessageSize = 64 << 10
	DefaultQueueLength    = 4096
	DefaultMaxQueueBytes  = 8 << 20
	DefaultWriteTimeout   = 10 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	DefaultCloseTimeout   = 2 * time.Second
)

// Options are the limits of one connection. Zero fields take the defaults.
type Options struct {
	// MaxMessageSize is the largest text message accepted, in bytes, after
	// reassembling fragments; larger ones close the connection with 1009.
	MaxMessageSize int64
	// QueueLength is how many outbound frames may wait; a connection whose
	// queue overflows is closed with 1008 ("slow consumer").
	QueueLength int
	// MaxQueueBytes is how many payload bytes may wait for the peer (a
	// frame shared by many connections counts for each); past it the
	// connection is closed with 1008 ("slow consumer: outbound queue over
	// N bytes").
	MaxQueueBytes int64
	// WriteTimeout bounds one write to the socket.
	WriteTimeout time.Duration
	// IdleTimeout closes a connection from which nothing (not even a pong)
	// was read for this long.
	IdleTimeout time.Duration
	// PingInterval, when set, has Serve ping a peer that has been silent
	// for about this long: each connection after 3/4 to all of it, drawn
	// once, and at most once per that time.
	PingInterval time.Duration
	// Counters, when set, count this connection's traffic together with
	// every other connection sharing them.
	Counters *Counters
	// IdleCode and IdleReason are the close code and reason of the idle
	// timeout; zero means 1001 "idle timeout" (Pusher uses 4201).
	IdleCode   ws.StatusCode
	IdleReason string
}

// Counters count the traffic of many connections. Each field is updated
// with one atomic add per message read or per batch written, so that
// counting costs no lock and no allocation.
type Counters struct {
	// MessagesRead counts complete text messages read from peers.
	MessagesRead atomic.Uint64
	// MessagesWritten counts text messages written to sockets.
	MessagesWritten atomic.Uint64
	// BytesRead counts the payload bytes of the text messages read;
	// BytesWritten every byte written to sockets (frames with headers).
	BytesRead, BytesWritten atomic.Uint64
}

func (o *Options) withDefaults() {
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.QueueLength <= 0 {
		o.QueueLength = DefaultQueueLength
	}
	if o.MaxQueueBytes <= 0 {
		o.MaxQueueBytes = DefaultMaxQueueBytes
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.IdleCode == 0 {
		o.IdleCode, o.IdleReason = CloseGoingAway, "idle timeout"
	}
}
