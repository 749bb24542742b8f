package pusher

import (
	"strconv"
	"strings"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/adapter"
	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/transport"
)

// What the server's upgrade path asks of the Pusher adapter
// (adapter.Handler).
var _ adapter.Handler = (*Handler)(nil)

// idleReason is the close reason of a connection that stopped answering
// pings (4201).
const idleReason = "Pong reply not received"

// Subprotocol accepts none: Pusher negotiates no subprotocol.
func (h *Handler) Subprotocol(string) bool { return false }

// Transport returns the server's transport options with Pusher's idle
// close: 4201, which pusher-js answers by reconnecting at once.
func (h *Handler) Transport(base transport.Options) transport.Options {
	base.IdleCode, base.IdleReason = ws.StatusCode(pusherwire.CodePongNotReceived), idleReason
	return base
}

// Serve runs the protocol on tc until the connection ends. The app key is
// the request's path value "key" (the server routes GET /app/{key...}),
// the protocol version its query's "protocol". A path with more after the
// key, an unknown key, a disabled app, a bad protocol version or a full
// server or app are answered with pusher:error and the close code.
func (h *Handler) Serve(tc *transport.Conn, p adapter.Peer) {
	key := p.Request.PathValue("key")
	if strings.Contains(key, "/") || key == "" {
		h.refuse(tc, pusherwire.CodePathNotFound, "Path not found: use /app/{key}", "Path not found")
		return
	}
	app := h.byKey[key]
	switch {
	case app == nil:
		// Pusher's own text for 4001, and the key: not the hosted service's
		// guess that the client forgot its cluster, which means nothing here.
		text := pusherwire.CodeText(pusherwire.CodeAppNotFound)
		h.refuse(tc, pusherwire.CodeAppNotFound, text+": no app has the key "+strconv.Quote(key), text)
		return
	case app.Disabled:
		h.refuse(tc, pusherwire.CodeAppDisabled, "Application disabled", "")
		return
	}
	if code := pusherwire.CheckProtocol(p.Request.URL.Query().Get("protocol")); code != 0 {
		h.refuse(tc, code, pusherwire.CodeText(code)+": this server speaks protocol 7", "")
		return
	}
	if n := h.conns.Add(1); h.cfg.MaxConnections > 0 && n > int64(h.cfg.MaxConnections) {
		h.conns.Add(-1)
		h.refuse(tc, pusherwire.CodeOverCapacity, "Over capacity", "")
		return
	}
	if n := h.appConns[app].Add(1); app.MaxConnections > 0 && n > int64(app.MaxConnections) {
		h.appConns[app].Add(-1)
		h.conns.Add(-1)
		h.refuse(tc, pusherwire.CodeOverQuota, "Application is over connection quota", "")
		return
	}
	s := newSession(h, app, tc)
	h.mu.Lock()
	h.sessions[s.id] = s
	h.mu.Unlock()
	s.run()
}

// refuse answers a connection the adapter will not serve with pusher:error
// and closes it with the same code and reason (msg when reason is "").
func (h *Handler) refuse(tc *transport.Conn, code int, msg, reason string) {
	if reason == "" {
		reason = msg
	}
	h.log.Debug("pusher connection refused", "remote", tc.RemoteAddr().String(), "code", code, "reason", msg)
	_ = tc.Send(pusherwire.AppendError(nil, code, msg))
	tc.Close(ws.StatusCode(code), reason)
	tc.Serve(nil, func([]byte) error { return nil }, func(code ws.StatusCode, _ string) {
		if host := h.cfg.Host; host != nil {
			host.End(tc, nil, code)
		}
	})
}

// Goodbye sends pusher:error 4200 and closes tc with 4200: pusher-js
// reconnects at once (to another node).
func (h *Handler) Goodbye(tc *transport.Conn) {
	_ = tc.Send(pusherwire.AppendError(nil, pusherwire.CodeReconnect, "Server shutting down"))
	tc.Close(ws.StatusCode(pusherwire.CodeReconnect), "server shutting down")
}

// UpgradeRequired points a plain HTTP request to pusher-js.
func (h *Handler) UpgradeRequired() string {
	return "/app/{key} is the Pusher Channels WebSocket endpoint; connect with pusher-js"
}
