package server

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// originAllowed reports whether a WebSocket handshake may proceed. Requests
// without an Origin header come from programs, not browsers, and pass.
// Otherwise the origin must name the host the request was sent to, or
// match one of allowed: "*" (any origin), a full origin
// ("https://app.example.com"), or a host pattern with path.Match syntax
// ("*.example.com", "localhost:*"). The opaque origin "null" (a page
// opened from a file, a sandboxed frame, some redirects) is allowed only
// when allowed names "null" itself: "*" does not cover it, since any page
// can make its origin null.
func originAllowed(r *http.Request, allowed []string) bool {
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
	if strings.EqualFold(u.Host, r.Host) {
		return true
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
