package web

import (
	"io"
	"net/http"
	"net/http/httptest"
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
		{"GET", "/presence.esegece.com.js", 200, typeJS, "export class Presence"},
		{"GET", "/js/Presence.ESEGECE.com.JS", 200, typeJS, "export class Presence"},
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
