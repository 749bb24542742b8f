package server

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/transport"
)

// maxAPIBody bounds a request body of the HTTP API.
const maxAPIBody = 1 << 20

// DefaultMaxMembersPage is the largest page of members the HTTP API
// answers when Limits.MaxMembersPage is zero.
const DefaultMaxMembersPage = 10_000

// apiError is the body of every error answer of the HTTP API.
type apiError struct {
	Error string `json:"error"`
}

type apiMember struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Info string `json:"info"`
}

type apiChannel struct {
	Name    string `json:"name"`
	Members int    `json:"members"`
}

// apiChannelState is one channel's member count and version.
type apiChannelState struct {
	Name    string `json:"name"`
	Members int    `json:"members"`
	Version uint64 `json:"version"`
}

// apiPage is one page of a member list; Next is the cursor of the next
// page, empty on the last.
type apiPage struct {
	Members []apiMember `json:"members"`
	Total   int         `json:"total"`
	Version uint64      `json:"version"`
	Next    string      `json:"next,omitempty"`
}

// routeAPI adds the routes of the HTTP API under /api/ (docs/http-api.md)
// to mux, each behind the API key.
func (s *Server) routeAPI(mux *http.ServeMux) {
	route := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.requireKey(h)) }
	route("POST /api/publish", s.apiPublish)
	route("GET /api/channels", s.apiChannels)
	route("GET /api/channels/{name}", s.apiChannel)
	route("GET /api/channels/{name}/members", s.apiChannelMembers)
	route("GET /api/members", s.apiMembers)
	route("POST /api/members/{id}", s.apiUpdateMember)
	route("POST /api/connections/{session}/disconnect", s.apiDisconnect)
	route("POST /api/broadcast", s.apiBroadcast)
	route("GET /api/groups", s.apiGroups)
	route("GET /api/groups/{name}", s.apiGroup)
	route("GET /api/stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Stats())
	})
	notFound := func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r, "/api/", "/api"); allow != "" {
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, apiError{fmt.Sprintf("%s %s is not allowed: use %s", r.Method, r.URL.Path, allow)})
			return
		}
		writeJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("no such API route: %s %s", r.Method, r.URL.Path)})
	}
	route("/api/", notFound)
	route("/api", notFound)
}

// allowedMethods lists, comma-separated, the methods for which mux has a
// route to r's path other than the catch-all patterns: a catch-all
// without a method matches every method, so ServeMux's own 405 never
// comes, and the catch-all answers it instead.
func allowedMethods(mux *http.ServeMux, r *http.Request, catchAll ...string) string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if m == r.Method {
			continue
		}
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(probe); pattern != "" && !slices.Contains(catchAll, pattern) {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	return strings.Join(allow, ", ")
}

// requireKey lets through requests that carry the API key as a bearer
// token. Without a configured key the API is off.
func (s *Server) requireKey(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.APIKey == "" {
			writeJSON(w, http.StatusNotFound, apiError{"the HTTP API is off: start the server with an API key (--api-key)"})
			return
		}
		if !s.hasKey(r) {
			refuseKey(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hasKey reports whether r carries the configured API key as a bearer
// token.
func (s *Server) hasKey(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && s.opts.APIKey != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.opts.APIKey)) == 1
}

// refuseKey answers 401 to a request without the right API key.
func refuseKey(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="rollcall API"`)
	writeJSON(w, http.StatusUnauthorized, apiError{"missing or wrong API key: send Authorization: Bearer <key>"})
}

func (s *Server) apiPublish(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Channel *string `json:"channel"`
		Text    *string `json:"text"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Text == nil || *req.Text == "" {
		writeJSON(w, http.StatusBadRequest, apiError{`"text" is required`})
		return
	}
	channel := ""
	if req.Channel != nil {
		channel = *req.Channel
	}
	if err := s.Broadcast(r.Context(), channel, *req.Text); err != nil {
		writeEngineError(w, err, channel)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "channel": channel})
}

func (s *Server) apiChannels(w http.ResponseWriter, _ *http.Request) {
	chans := s.engine.Channels()
	out := make([]apiChannel, len(chans))
	for i, c := range chans {
		out[i] = apiChannel{c.Name, c.Members}
	}
	writeJSON(w, http.StatusOK, out)
}

// apiChannel answers a channel's member count and version, without
// listing its members.
func (s *Server) apiChannel(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" {
		writeEngineError(w, presence.ErrChannelNotExists, name)
		return
	}
	// The page past the last member holds none: it costs a search, not a
	// copy of the list, and carries the count and the version.
	p, err := s.engine.MembersPage(name, math.MaxUint64, 1)
	if err != nil {
		writeEngineError(w, err, name)
		return
	}
	writeJSON(w, http.StatusOK, apiChannelState{Name: name, Members: p.Total, Version: p.Version})
}

func (s *Server) apiChannelMembers(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if name == "" {
		writeEngineError(w, presence.ErrChannelNotExists, name)
		return
	}
	s.writeMembers(w, r, name)
}

func (s *Server) apiMembers(w http.ResponseWriter, r *http.Request) {
	s.writeMembers(w, r, "")
}

// writeMembers answers the members of channel ("": of the server): the
// whole list as an array without limit and cursor (the original form),
// else one page as an apiPage.
func (s *Server) writeMembers(w http.ResponseWriter, r *http.Request, channel string) {
	q := r.URL.Query()
	if !q.Has("limit") && !q.Has("cursor") {
		members, err := s.engine.Members(channel)
		if err != nil {
			writeEngineError(w, err, channel)
			return
		}
		writeJSON(w, http.StatusOK, apiMembers(members))
		return
	}
	cursor, limit, err := s.pageParams(q)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	p, err := s.engine.MembersPage(channel, cursor, limit)
	if err != nil {
		writeEngineError(w, err, channel)
		return
	}
	out := apiPage{Members: apiMembers(p.Members), Total: p.Total, Version: p.Version}
	if p.Next != 0 {
		out.Next = strconv.FormatUint(p.Next, 10)
	}
	writeJSON(w, http.StatusOK, out)
}

// pageParams reads the cursor and limit of a members page from q: no
// cursor is the first page, no limit the largest page (0: all).
func (s *Server) pageParams(q url.Values) (cursor uint64, limit int, err error) {
	limit = orDefault(s.opts.Limits.MaxMembersPage, DefaultMaxMembersPage) // 0: no cap
	if q.Has("limit") {
		text := q.Get("limit")
		n, err := strconv.Atoi(text)
		switch {
		case limit > 0 && (err != nil || n < 1 || n > limit):
			return 0, 0, fmt.Errorf(`"limit" must be a whole number from 1 to %d, not %q`, limit, text)
		case err != nil || n < 1:
			return 0, 0, fmt.Errorf(`"limit" must be a whole number from 1 up, not %q`, text)
		}
		limit = n
	}
	if q.Has("cursor") {
		text := q.Get("cursor")
		if cursor, err = strconv.ParseUint(text, 10, 64); err != nil {
			return 0, 0, fmt.Errorf(`"cursor" must be the "next" of the page before (the last page has none), not %q`, text)
		}
	}
	return cursor, limit, nil
}

// apiUpdateMember sets the name and info of a member on every connection
// of this node present as it.
func (s *Server) apiUpdateMember(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var req struct {
		Name *string `json:"name"`
		Info *string `json:"info"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Name == nil || req.Info == nil {
		writeJSON(w, http.StatusBadRequest, apiError{`"name" and "info" are required: the update replaces both ("" clears one)`})
		return
	}
	err := s.engine.UpdateMember(r.Context(), id, presence.Member{Name: *req.Name, Info: []byte(*req.Info)})
	switch {
	case errors.Is(err, presence.ErrMemberNotExists):
		writeJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("no member %q on this node", id)})
	case err != nil:
		writeEngineError(w, err, "")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "id": id})
	}
}

func (s *Server) apiDisconnect(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("session")
	tc := s.conn(id)
	if tc == nil {
		writeJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("no connection with session %q", id)})
		return
	}
	tc.Close(transport.ClosePolicyViolation, "disconnected by the server")
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "session": id})
}

func (s *Server) apiBroadcast(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Pattern string `json:"pattern"`
		Text    string `json:"text"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if req.Pattern == "" || req.Text == "" {
		writeJSON(w, http.StatusBadRequest, apiError{`"pattern" and "text" are required`})
		return
	}
	n, err := s.engine.Groups().Broadcast(req.Pattern, req.Text)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "pattern": req.Pattern, "delivered": n})
}

type apiGroupInfo struct {
	Name        string `json:"name"`
	Connections int    `json:"connections"`
}

type apiConnection struct {
	Session string     `json:"session"`
	Member  *apiMember `json:"member"` // null when the connection has not joined
}

func (s *Server) apiGroups(w http.ResponseWriter, _ *http.Request) {
	list := s.engine.Groups().List()
	out := make([]apiGroupInfo, len(list))
	for i, g := range list {
		out[i] = apiGroupInfo{g.Name, g.Conns}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) apiGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	conns := s.engine.Groups().Conns(name)
	if conns == nil {
		writeJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("no group %q", name)})
		return
	}
	out := struct {
		Name        string          `json:"name"`
		Connections []apiConnection `json:"connections"`
	}{Name: name, Connections: make([]apiConnection, len(conns))}
	for i, c := range conns {
		out.Connections[i].Session = c.ID()
		if m, ok := c.Member(); ok {
			am := toAPIMember(m)
			out.Connections[i].Member = &am
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func apiMembers(ms []presence.Member) []apiMember {
	out := make([]apiMember, len(ms))
	for i, m := range ms {
		out[i] = toAPIMember(m)
	}
	return out
}

func toAPIMember(m presence.Member) apiMember {
	return apiMember{ID: m.ID, Name: m.Name, Info: string(m.Info)}
}

// readJSON decodes a request body strictly; on failure it answers 400 (or
// 413) with the reason and returns false.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxAPIBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		writeJSON(w, status, apiError{"invalid JSON body: " + err.Error()})
		return false
	}
	if dec.More() {
		writeJSON(w, http.StatusBadRequest, apiError{"invalid JSON body: more than one JSON value"})
		return false
	}
	return true
}

func writeEngineError(w http.ResponseWriter, err error, channel string) {
	var reason presence.Reason
	switch {
	case errors.Is(err, presence.ErrChannelNotExists):
		writeJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("no channel %q", channel)})
	case errors.As(err, &reason):
		writeJSON(w, http.StatusBadRequest, apiError{err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // people read these: "<" stays "<", not \u003c
	_ = enc.Encode(v)
}
