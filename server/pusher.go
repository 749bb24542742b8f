package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/transport"
)

// PusherOptions turn on the Pusher Channels protocol (docs/pusher.md):
// WebSocket connections on /app/{key} and the Pusher HTTP API under
// /apps/{id}/, on the same listener and engine as the sgc protocol. No
// apps: Pusher is off. Engine, Poller, Counters and Logger are the
// server's own; the other fields are adapter/pusher's Config.
type PusherOptions = pusher.Config

// pusherIdleReason is the close reason of a Pusher connection that stopped
// answering pings.
const pusherIdleReason = "Pong reply not received"

// setupPusher creates the Pusher handler and its routes, when apps are
// configured.
func (s *Server) setupPusher() error {
	cfg := s.opts.Pusher
	if len(cfg.Apps) == 0 {
		return nil
	}
	cfg.Engine, cfg.Poller, cfg.Counters, cfg.Host, cfg.Logger = s.engine, s.poller, &s.counters.Counters, (*host)(s), s.log
	cfg.MessagesPerSecond, cfg.Burst = s.opts.Limits.MessagesPerSecond, s.opts.Limits.Burst
	h, err := pusher.New(cfg)
	if err != nil {
		return err
	}
	s.pusher = h
	s.ptopts = s.topts
	s.ptopts.IdleCode, s.ptopts.IdleReason = ws.StatusCode(pusherwire.CodePongNotReceived), pusherIdleReason
	s.mux.HandleFunc("GET /app/{key...}", s.upgradePusher)
	h.Routes(s.mux)
	return nil
}

// reservedForPusher is the engine hook that keeps sgc clients out of the
// channels only Pusher apps may use: those of non-default apps
// ("app-<id>:…") and user channels ("#server-to-user-…").
func (s *Server) reservedForPusher(next func(context.Context, *presence.Conn, string, presence.Member) error) func(context.Context, *presence.Conn, string, presence.Member) error {
	return func(ctx context.Context, c *presence.Conn, channel string, m presence.Member) error {
		if h := s.pusher; h != nil && pusher.Reserved(channel) && !h.Owns(c) {
			return &presence.Error{Reason: presence.ErrSubscriptionDenied, Text: "channel " + channel + " belongs to a Pusher app"}
		}
		if next != nil {
			return next(ctx, c, channel, m)
		}
		return nil
	}
}

// upgradePusher upgrades GET /app/{key} to a Pusher connection. An
// unknown key, a bad protocol version or a path with more after the key
// are answered by the adapter with pusher:error and the close code.
func (s *Server) upgradePusher(w http.ResponseWriter, r *http.Request) {
	if !isUpgrade(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		http.Error(w, "rollcall: /app/{key} is the Pusher Channels WebSocket endpoint; connect with pusher-js", http.StatusUpgradeRequired)
		return
	}
	if s.shuttingDown() {
		http.Error(w, "rollcall: server is shutting down", http.StatusServiceUnavailable)
		return
	}
	if !originAllowed(r, s.opts.AllowedOrigins) {
		s.refuseOrigin(w, r)
		return
	}
	u := ws.HTTPUpgrader{Timeout: handshakeTimeout}
	nc, rw, _, err := u.Upgrade(r, w)
	if err != nil {
		s.log.Debug("websocket upgrade refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	tc := transport.New(nc, rw.Reader, s.ptopts)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		tc.Close(ws.StatusCode(pusherwire.CodeReconnect), "server shutting down")
		tc.ReadLoop(func([]byte) error { return nil })
		return
	}
	s.conns[tc] = ""
	s.pusherConns[tc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.counters.accepted.Add(1)
	s.counters.open.Add(1)
	key := r.PathValue("key")
	if strings.Contains(key, "/") || key == "" {
		_ = tc.Send(pusherwire.AppendError(nil, pusherwire.CodePathNotFound, "Path not found: use /app/{key}"))
		tc.Close(ws.StatusCode(pusherwire.CodePathNotFound), "Path not found")
		tc.Serve(nil, func([]byte) error { return nil }, func(code ws.StatusCode, _ string) { s.ended(tc, nil, code) })
		return
	}
	s.pusher.Serve(tc, pusher.Peer{Key: key, Query: r.URL.Query()})
}

// Pusher returns the Pusher handler, nil when no Pusher app is set up.
func (s *Server) Pusher() *pusher.Handler { return s.pusher }
