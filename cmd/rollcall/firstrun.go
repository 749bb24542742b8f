package main

import (
	"log/slog"
	"net"
	"net/url"

	"github.com/rollcall/rollcall/adapter/pusher"
)

// logEndpoints logs, at start, the URLs to open on a server listening at
// addr (demo page and dashboard unless --no-web, the sgc WebSocket, one
// Pusher WebSocket per app), and warns when a listener beyond loopback
// serves member lists or the dashboard to anyone who can reach it.
func logEndpoints(log *slog.Logger, c *config, addr net.Addr, tls bool, apps []pusher.App) {
	host, port := displayHost(addr)
	hostPort := net.JoinHostPort(host, port)
	web, ws := "http", "ws"
	if tls {
		web, ws = "https", "wss"
	}
	at := func(scheme, path string) string {
		return (&url.URL{Scheme: scheme, Host: hostPort, Path: path}).String()
	}
	if !c.NoWeb {
		log.Info("demo page", "url", at(web, "/"))
		log.Info("dashboard", "url", at(web, "/dashboard"))
	}
	log.Info("sgc Presence WebSocket", "url", at(ws, "/"))
	for _, a := range apps {
		log.Info("Pusher Channels WebSocket", "url", at(ws, "/app/"+a.Key), "app", a.ID, "http_api", at(web, "/apps/"+a.ID+"/"), "disabled", a.Disabled)
	}
	if loopbackOnly(addr) {
		return
	}
	where := addr.String()
	if host == "localhost" {
		where = "any interface of this machine"
	}
	open := c.Auth.Mode == "" || c.Auth.Mode == "none"
	if open {
		log.Warn("open server: anyone who can reach "+where+" may connect, join and read every member list; set --auth, or listen on loopback only (--addr 127.0.0.1:"+port+")", "addr", addr.String())
	}
	if open && !c.NoWeb && c.APIKey == "" {
		log.Warn("dashboard open to anyone who can reach "+where+", with the members of every channel an anonymous client may read; set --api-key (or --no-web)", "url", at(web, "/dashboard"))
	}
}

// displayHost is the host and port to print for a listener at addr:
// localhost for one on every interface, its IP otherwise.
func displayHost(addr net.Addr) (host, port string) {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String(), ""
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return host, port
}

// loopbackOnly reports whether addr listens on a loopback address only.
func loopbackOnly(addr net.Addr) bool {
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
