package server

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/adapter"
	"github.com/rollcall/rollcall/transport"
)

// endpoint is a WebSocket route: the adapter that serves its connections,
// their transport options, and whether its handshakes are authenticated
// (Options.Auth).
type endpoint struct {
	adapter      adapter.Handler
	topts        transport.Options
	authenticate bool
}

func (s *Server) newEndpoint(a adapter.Handler, authenticate bool) *endpoint {
	return &endpoint{adapter: a, topts: a.Transport(s.topts), authenticate: authenticate}
}

// openConn is what the server keeps of an open connection.
type openConn struct {
	id      string          // the engine's session id, once known
	adapter adapter.Handler // who closes it on Shutdown
}

// serveEndpoint upgrades the WebSocket requests of a route that serves
// nothing else, and answers others with 426.
func (s *Server) serveEndpoint(e *endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !isUpgrade(r) {
			upgradeRequired(w, e)
			return
		}
		s.upgrade(w, r, e)
	}
}

// upgradeRequired answers a plain HTTP request to a WebSocket endpoint.
func upgradeRequired(w http.ResponseWriter, e *endpoint) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Upgrade", "websocket")
	w.Header().Set("Sec-WebSocket-Version", "13")
	http.Error(w, "rollcall: "+e.adapter.UpgradeRequired(), http.StatusUpgradeRequired)
}

func isUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

// offeredSubprotocols lists the subprotocols of a handshake's
// Sec-WebSocket-Protocol headers.
func offeredSubprotocols(r *http.Request) []string {
	var out []string
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// upgrade is the one way a WebSocket handshake becomes a connection, for
// every protocol: refused while shutting down (503), from an origin not
// allowed (403), offering only subprotocols the adapter does not speak
// (400), on an authenticated endpoint without valid credentials
// (401/403, 429 when the address failed too often), or past the
// connection caps (503, 429 for one address); then upgraded with the subprotocol the adapter
// accepts, registered, and handed to the adapter with what the server
// knows of the peer.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request, e *endpoint) {
	if s.shuttingDown() {
		http.Error(w, "rollcall: server is shutting down", http.StatusServiceUnavailable)
		return
	}
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return
	}
	if offered := offeredSubprotocols(r); len(offered) > 0 && !slices.ContainsFunc(offered, e.adapter.Subprotocol) {
		// Upgraded without a subprotocol, a client that asked for its
		// own would be sent frames it does not speak.
		s.log.Debug("websocket subprotocol refused", "remote", r.RemoteAddr, "offered", offered)
		http.Error(w, "rollcall: none of the offered subprotocols ("+strings.Join(offered, ", ")+") is spoken here; "+
			e.adapter.UpgradeRequired()+" (or offer no subprotocol)", http.StatusBadRequest)
		return
	}
	peer := adapter.Peer{Request: r}
	if e.authenticate && s.opts.Auth.enabled() {
		id, err := s.authenticate(r)
		if err != nil {
			s.refuseAuth(w, r, err)
			return
		}
		peer.Identity, peer.Data, peer.Groups = identityMember(&id), id.Data, id.Groups
	}
	if !s.admit(w, r) { // 503 or 429 past the connection caps
		return
	}
	u := ws.HTTPUpgrader{Protocol: e.adapter.Subprotocol, Timeout: handshakeTimeout}
	nc, rw, hs, err := u.Upgrade(r, w)
	if err != nil {
		// The upgrader has already answered with a 4xx and the reason.
		s.log.Debug("websocket upgrade refused", "remote", r.RemoteAddr, "err", err)
		s.release(r.RemoteAddr)
		return
	}
	tc := transport.New(nc, rw.Reader, e.topts)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.release(r.RemoteAddr)
		e.adapter.Goodbye(tc)
		tc.ReadLoop(func([]byte) error { return nil })
		return
	}
	s.conns[tc] = openConn{adapter: e.adapter}
	s.wg.Add(1)
	s.mu.Unlock()
	s.counters.accepted.Add(1)
	s.counters.open.Add(1)
	peer.Subprotocol = hs.Protocol
	e.adapter.Serve(tc, peer)
}

// refuseOrigin answers a handshake from a browser origin that is not
// allowed with 403, and logs it (at info, at most once per IP a minute).
func (s *Server) refuseOrigin(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	reason := "origin " + origin + " is not allowed (see --allowed-origins)"
	if strings.EqualFold(origin, "null") {
		reason = "origin null (a page opened from a file or a sandboxed frame) is not allowed unless --allowed-origins names null"
	}
	s.log.Debug("websocket origin refused", "remote", r.RemoteAddr, "origin", origin)
	s.refusals.refused(r, http.StatusForbidden, reason, slog.String("origin", origin))
	http.Error(w, "rollcall: "+reason, http.StatusForbidden)
}
