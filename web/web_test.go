package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestRoutes(t *testing.T) {
	hs := httptest.NewServer(Handler())
	defer hs.Close()
	for _, tc := range []struct {
		method, path string
		status       int
		ctype, has   string
	}{
		{"GET", "/", 200, typeHTML, "<!doctype html>"},
		{"GET", "/rollcall.js", 200, typeJS, "export class Presence"},
		{"GET", "/presence.esegece.com.js", 200, typeJS, "globalThis.sgcws_presence = sgcws_presence"},
		{"GET", "/js/Presence.ESEGECE.com.JS", 200, typeJS, "globalThis.sgcws_presence = sgcws_presence"},
		{"GET", "/js/sgcWebSockets.js", 200, typeJS, "globalThis.sgcWebSocket = sgcWebSocket"},
		{"GET", "/js/sgcWebSockets.js", 200, typeJS, "sgc's browser base library"},
		{"GET", "/sgcWebSockets.js,presence.esegece.com.js", 200, typeJS, "globalThis.sgcws_presence = sgcws_presence"},
		{"GET", "/sgcWebSockets.js,other.js", 404, "", ""},
		{"GET", "/rollcall.classic.js", 200, typeJS, "globalThis.Rollcall = Object.freeze({ SUBPROTOCOL,"},
		{"HEAD", "/presence.esegece.com.js", 200, typeJS, ""},
		{"GET", "/sgc-presence.js", 404, "", ""},
		{"HEAD", "/rollcall.js", 200, typeJS, ""},
		{"HEAD", "/", 200, typeHTML, ""},
		{"GET", "/index.html", 404, "", ""},
		{"GET", "/static/rollcall.js", 404, "", ""},
		{"GET", "/rollcall.test.mjs", 404, "", ""},
		{"GET", "/presence.esegece.com.js/", 404, "", ""},
		{"GET", "/x/presence.esegece.com.html", 404, "", ""},
		{"POST", "/", 405, "", ""},
		{"GET", "/dashboard", 200, typeHTML, "<title>rollcall · dashboard</title>"},
		{"HEAD", "/dashboard", 200, typeHTML, ""},
		{"GET", "/dashboard.js", 200, typeJS, "export class SSEParser"},
		{"GET", "/dashboard.html", 404, "", ""},
		{"GET", "/dashboard.test.mjs", 404, "", ""},
	} {
		req, _ := http.NewRequest(tc.method, hs.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s: status %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
			continue
		}
		if tc.status != 200 {
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != tc.ctype {
			t.Errorf("%s %s: Content-Type %q, want %q", tc.method, tc.path, got, tc.ctype)
		}
		if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s: headers %v", tc.method, tc.path, resp.Header)
		}
		if tc.method == "HEAD" {
			if len(body) != 0 || resp.ContentLength <= 0 {
				t.Errorf("HEAD %s: body %d bytes, Content-Length %d", tc.path, len(body), resp.ContentLength)
			}
			continue
		}
		if !strings.Contains(strings.ToLower(string(body)), strings.ToLower(tc.has)) {
			t.Errorf("%s %s: body lacks %q", tc.method, tc.path, tc.has)
		}
	}
}

// TestPageImportsClient: the demo page loads the client from the path the
// handler serves, links to the dashboard, and the dashboard loads its
// script.
func TestPageImportsClient(t *testing.T) {
	page, err := files.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), `from "/rollcall.js"`) {
		t.Fatal(`index.html does not import from "/rollcall.js"`)
	}
	if !strings.Contains(string(page), `href="/dashboard"`) {
		t.Fatal(`index.html does not link to "/dashboard"`)
	}
	dash, err := files.ReadFile("static/dashboard.html")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dash), `from "/dashboard.js"`) {
		t.Fatal(`dashboard.html does not import from "/dashboard.js"`)
	}
}

// TestClassicScripts: the classic scripts are rollcall.js with every export
// made local, in one function (the protocol logic has one source), and
// nothing of module syntax is left.
func TestClassicScripts(t *testing.T) {
	gen, err := classicFiles()
	if err != nil {
		t.Fatal(err)
	}
	src, _ := files.ReadFile("static/rollcall.js")
	body, names, err := classicBody(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Presence", "encodeFrame", "decodeFrame", "Method", "SUBPROTOCOL", "Invitation"} {
		if !slices.Contains(names, want) {
			t.Errorf("export %s not found in %q", want, names)
		}
	}
	for _, name := range []string{ClassicScript, SGCScript} {
		js := string(gen[name].body)
		if !strings.Contains(js, string(body)) {
			t.Errorf("%s does not hold rollcall.js's body", name)
		}
		if moduleSyntax.MatchString(js) {
			t.Errorf("%s has module syntax left", name)
		}
	}
	if _, _, err := classicBody([]byte("import { x } from \"./x.js\";\nexport const y = 1;\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("an import was accepted: %v", err)
	}
	if _, _, err := classicBody([]byte("export { a, b };\n")); err == nil {
		t.Error("an export list was accepted")
	}
}
