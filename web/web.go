// Package web serves rollcall's browser files, embedded in the binary: the
// dependency-free browser client rollcall.js (an ES module; also as a classic
// script, and at sgc's paths …/sgcWebSockets.js and
// …/presence.esegece.com.js as sgc's browser base library and Presence API
// over it, so pages written for sgc find a client there), the demo page at
// "/", and the live dashboard's page at "/dashboard" with its script
// "/dashboard.js" (the server serves the dashboard's data).
//
// Handler is what server.Options.Web expects: the server hands it the
// plain (non-upgrade) GET and HEAD requests it does not answer itself.
package web

import (
	"embed"
	"net/http"
	"strconv"
	"strings"
)

//go:embed static/rollcall.js static/sgc-base.js static/sgc-presence.js static/index.html static/dashboard.html static/dashboard.js
var files embed.FS

// SGCScript is the last path segment under which sgc's server serves its
// browser client; any path ending in it (case-insensitive) gets a classic
// script defining sgc's browser API, window.sgcws_presence, over
// rollcall.js (static/sgc-base.js and static/sgc-presence.js after
// rollcall.js, see ClassicScript and SGCBaseScript).
const SGCScript = "presence.esegece.com.js"

const (
	typeJS   = "text/javascript; charset=utf-8"
	typeHTML = "text/html; charset=utf-8"
)

type file struct {
	body        []byte
	contentType string
}

func mustRead(name, contentType string) file {
	b, err := files.ReadFile(name)
	if err != nil {
		panic("web: embedded file missing: " + name) // a build error, not a runtime one
	}
	return file{body: b, contentType: contentType}
}

// Handler serves GET and HEAD for "/" (the demo page), "/rollcall.js" (the
// ES module), "/rollcall.classic.js" (the same as a classic script), any path
// whose last segment is presence.esegece.com.js or sgcWebSockets.js (or
// several of them separated by commas; sgc's browser API), "/dashboard" and
// "/dashboard.js"; everything else is 404, and other methods on those paths
// are 405. The classic scripts are generated from rollcall.js once; Handler
// panics if rollcall.js does not keep to the form they need (a build
// error, which the tests catch).
func Handler() http.Handler {
	gen, err := classicFiles()
	if err != nil {
		panic(err)
	}
	script := mustRead("static/rollcall.js", typeJS)
	page := mustRead("static/index.html", typeHTML)
	dashboard := mustRead("static/dashboard.html", typeHTML)
	dashboardScript := mustRead("static/dashboard.js", typeJS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var f file
		switch p := r.URL.Path; {
		case p == "/":
			f = page
		case p == "/dashboard":
			f = dashboard
		case p == "/dashboard.js":
			f = dashboardScript
		case p == "/rollcall.js":
			f = script
		case p == ClassicScript:
			f = gen[ClassicScript]
		default:
			sgc, ok := sgcFiles(gen, p[strings.LastIndexByte(p, '/')+1:])
			if !ok {
				http.NotFound(w, r)
				return
			}
			f = sgc
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Length", strconv.Itoa(len(f.body)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(f.body)
		}
	})
}
