package sgc

import (
	"strings"

	"github.com/rollcall/rollcall/adapter"
	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/transport"
)

// What the server's upgrade path asks of the sgc adapter (adapter.Handler).
var _ adapter.Handler = (*Handler)(nil)

// Subprotocol accepts presence.esegece.com (with an optional prefix, as
// sgc's browser client may send) and broker.esegece.com, whose frames
// travel in the envelope.
func (h *Handler) Subprotocol(p string) bool {
	p = strings.ToLower(p)
	return strings.HasSuffix(p, sgcwire.Subprotocol) || p == sgcwire.EnvelopeSubprotocol
}

// Transport returns the server's transport options unchanged: sgc closes
// an idle connection with the transport's own code.
func (h *Handler) Transport(base transport.Options) transport.Options { return base }

// Serve runs the protocol on tc until the connection ends; with a Poller it
// returns at once and the connection goes on without a goroutine while
// idle. The connection takes the peer's identity, data and groups.
func (h *Handler) Serve(tc *transport.Conn, p adapter.Peer) {
	sess := newSession(h, tc, p)
	if h.cfg.Acknowledgment.Enabled {
		// Only the re-sending of unacknowledged frames needs the list.
		h.mu.Lock()
		h.sessions[sess] = struct{}{}
		h.mu.Unlock()
	}
	sess.run(p.Groups)
}

// Goodbye closes tc with 1001, "server shutting down".
func (h *Handler) Goodbye(tc *transport.Conn) {
	tc.Close(transport.CloseGoingAway, "server shutting down")
}

// UpgradeRequired names the subprotocol for a plain HTTP request.
func (h *Handler) UpgradeRequired() string {
	return "this endpoint speaks WebSocket (subprotocol " + sgcwire.Subprotocol + "); connect with a WebSocket client"
}
