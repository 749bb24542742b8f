package server

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// originAllowed reports whether a WebSocket handshake may proceed, by
// Options.PublicOrigins, AllowedOrigins and TrustForwardedHost.
func (s *Server) originAllowed(r *http.Request) bool {
	return originAllowed(r, s.opts.TrustForwardedHost, s.opts.PublicOrigins, s.opts.AllowedOrigins)
}

// originAllowed reports whether a WebSocket handshake may proceed. Requests
// without an Origin header come from programs, not browsers, and pass.
// Otherwise the origin must be one of public (the server's own origins:
// scheme, host and port compared), or, when public is empty, name the
// host the request was sent to (its Host header, which a proxy or a DNS
// rebinding page controls; with trustForwarded, the proxy's
// X-Forwarded-Host and X-Forwarded-Proto: see sameHost), or match one of
// allowed: "*" (any origin), a full origin ("https://app.example.com"),
// or a host pattern with path.Match syntax
// ("*.example.com", "localhost:*"). The opaque origin "null" (a page
// opened from a file, a sandboxed frame, some redirects) is allowed only
// when allowed names "null" itself: "*" does not cover it, since any page
// can make its origin null.
func originAllowed(r *http.Request, trustForwarded bool, public, allowed []string) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if strings.EqualFold(origin, "null") {
		for _, a := range allowed {
			if strings.EqualFold(a, "null") {
				return true
			}
		}
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if len(public) == 0 && sameHost(r, trustForwarded, u) {
		return true
	}
	for _, p := range public {
		if sameOrigin(p, u) {
			return true
		}
	}
	for _, a := range allowed {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
		if ok, _ := path.Match(strings.ToLower(a), strings.ToLower(u.Host)); ok {
			return true
		}
	}
	return false
}

// sameHost reports whether the origin u names the host r was sent to. That
// is r's Host header; with trustForwarded and an X-Forwarded-Host header,
// the host the proxy in front was sent to (its first value), and, when
// X-Forwarded-Proto names http or https, u must have that scheme too
// (default ports made explicit).
func sameHost(r *http.Request, trustForwarded bool, u *url.URL) bool {
	if !trustForwarded {
		return strings.EqualFold(u.Host, r.Host)
	}
	host, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ",")
	if host = strings.TrimSpace(host); host == "" {
		return strings.EqualFold(u.Host, r.Host) // reached directly
	}
	proto, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Proto"), ",")
	switch proto = strings.ToLower(strings.TrimSpace(proto)); proto {
	case "http", "https":
		f := &url.URL{Scheme: proto, Host: host}
		return strings.EqualFold(proto, u.Scheme) && strings.EqualFold(hostPort(f), hostPort(u))
	}
	return strings.EqualFold(u.Host, host)
}

// sameOrigin reports whether the configured origin p ("https://host[:port]",
// a trailing slash allowed) is the origin u, with default ports made
// explicit.
func sameOrigin(p string, u *url.URL) bool {
	pu, err := url.Parse(strings.TrimSuffix(p, "/"))
	if err != nil {
		return false
	}
	return strings.EqualFold(pu.Scheme, u.Scheme) && strings.EqualFold(hostPort(pu), hostPort(u))
}

// hostPort is u's host with its port, the scheme's default when absent.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "wss":
		return u.Host + ":443"
	case "http", "ws":
		return u.Host + ":80"
	}
	return u.Host
}

// checkPublicOrigins refuses a configured public origin that is not
// scheme://host[:port] (http or https, no path, query or user).
func checkPublicOrigins(origins []string) error {
	for _, p := range origins {
		u, err := url.Parse(strings.TrimSuffix(p, "/"))
		if err != nil {
			return fmt.Errorf("server: public origin %q: %w", p, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return fmt.Errorf("server: public origin %q: want scheme://host[:port], e.g. https://presence.example.com", p)
		}
	}
	return nil
}
