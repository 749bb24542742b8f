//go:build !linux

package transport

import (
	"errors"
	"fmt"
	"runtime"
)

// Poller is only implemented on Linux; elsewhere NewPoller fails and
// Serve runs one reader goroutine per connection.
type Poller struct{}

// NewPoller reports that polling is not supported on this system.
func NewPoller() (*Poller, error) {
	return nil, fmt.Errorf("transport: poller on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

// Close does nothing.
func (p *Poller) Close() error { return nil }

func (p *Poller) register(*Conn) uint64       { return 0 }
func (p *Poller) unregister(uint64)           {}
func (p *Poller) arm(int, uint64, bool) error { return errors.ErrUnsupported }
func (p *Poller) disarm(int)                  {}
