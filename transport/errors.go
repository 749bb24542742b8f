package transport

import (
	"errors"
	"fmt"

	"github.com/gobwas/ws"
)

// ErrClosed is returned by Send on a connection that is closing.
var ErrClosed = errors.New("transport: connection closed")

// ErrSlowConsumer is returned by Send when the outbound queue overflowed;
// the connection is being closed with 1008.
var ErrSlowConsumer = errors.New("transport: slow consumer: outbound queue full")

// CloseError is returned by a message handler to close the connection with
// a code and reason.
type CloseError struct {
	Code   ws.StatusCode
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("websocket close %d: %s", e.Code, e.Reason)
}
