//go:build !linux

package bench

import "errors"

// pollReader exists on Linux only; elsewhere each connection has a read
// goroutine.
type pollReader struct{}

func (c *wsConn) startPoll(func([]byte), func(error)) error { return errors.ErrUnsupported }

func (c *wsConn) stopPoll() {}
