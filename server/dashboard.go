package server

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/rollcall/rollcall/presence"
)

// The dashboard's snapshots are bounded: the largest channels first, and
// the first members of each list.
const (
	dashboardChannels = 50
	dashboardMembers  = 100
	dashboardInterval = time.Second
)

// dashboardSnapshot is what /dashboard/data answers and /dashboard/events
// sends every second.
type dashboardSnapshot struct {
	Stats Stats `json:"stats"`
	// Channels are the largest channels, most members first; MoreChannels
	// says how many were left out.
	Channels     []dashboardChannel `json:"channels"`
	MoreChannels int                `json:"more_channels"`
	// HiddenChannels counts the channels left out because only Pusher's
	// authorization opens them (see hidden).
	HiddenChannels int `json:"hidden_channels,omitempty"`
	// Online are the first members of the server in join order;
	// MoreOnline says how many were left out.
	Online     []apiMember `json:"online"`
	MoreOnline int         `json:"more_online"`
}

type dashboardChannel struct {
	Name        string      `json:"name"`
	Members     int         `json:"members"`
	List        []apiMember `json:"list"` // the first members, in subscription order
	MoreMembers int         `json:"more_members"`
}

// routeDashboard adds the routes under /dashboard to mux: the data
// endpoints, and the page itself from Options.Web.
func (s *Server) routeDashboard(mux *http.ServeMux) {
	if !s.opts.Dashboard {
		off := func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "rollcall: the dashboard is off", http.StatusNotFound)
		}
		mux.Handle("/dashboard/", s.orUpgrade(off))
		mux.Handle("/dashboard", s.orUpgrade(off))
		return
	}
	mux.Handle("GET /dashboard/data", s.dashboardAccess(http.HandlerFunc(s.dashboardData)))
	mux.Handle("GET /dashboard/events", s.dashboardAccess(http.HandlerFunc(s.dashboardEvents)))
	mux.Handle("/dashboard/", s.orUpgrade(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, apiError{fmt.Sprintf("no such dashboard route: %s %s", r.Method, r.URL.Path)})
	}))
	mux.Handle("/dashboard", s.orUpgrade(func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Web == nil {
			http.Error(w, "rollcall: no dashboard page (Options.Web is not set)", http.StatusNotFound)
			return
		}
		s.opts.Web.ServeHTTP(w, r)
	}))
}

// orUpgrade upgrades a WebSocket request on a path of the web pages, as on
// any path no protocol claims, and serves the page otherwise.
func (s *Server) orUpgrade(page http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isUpgrade(r) {
			s.upgrade(w, r, s.sgcEndpoint)
			return
		}
		page(w, r)
	})
}

// dashboardAccess lets a request through when the server has no API key,
// or when it carries the key. An authenticating server without an API key
// keeps its member list to itself: it answers 403.
func (s *Server) dashboardAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case s.opts.APIKey != "":
			if !s.hasKey(r) {
				refuseKey(w)
				return
			}
		case s.opts.Auth.enabled():
			writeJSON(w, http.StatusForbidden, apiError{"this server authenticates its clients: set an API key (--api-key) to open the dashboard"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) dashboardData(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, s.dashboardSnapshot())
}

// dashboardEvents streams a snapshot every second as Server-Sent Events
// (event "snapshot", the JSON in data) until the client goes away or the
// server shuts down.
func (s *Server) dashboardEvents(w http.ResponseWriter, r *http.Request) {
	if !s.openDashboardStream(w) {
		return
	}
	defer s.closeDashboardStream()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // let proxies pass each event at once
	w.WriteHeader(http.StatusOK)
	t := time.NewTicker(dashboardInterval)
	defer t.Stop()
	for {
		data, err := json.Marshal(s.dashboardSnapshot())
		if err != nil {
			s.log.Error("dashboard snapshot", "err", err)
			return
		}
		if _, err := fmt.Fprintf(w, "event: snapshot\ndata: %s\n\n", data); err != nil {
			return // the client went away
		}
		if err := rc.Flush(); err != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

func (s *Server) dashboardSnapshot() dashboardSnapshot {
	snap := dashboardSnapshot{Stats: s.Stats(), Channels: []dashboardChannel{}}
	chans := s.engine.Channels()
	shown := chans[:0]
	for _, c := range chans {
		if s.hidden(c.Name) {
			snap.HiddenChannels++
			continue
		}
		shown = append(shown, c)
	}
	chans = shown
	slices.SortStableFunc(chans, func(a, b presence.ChannelInfo) int { return cmp.Compare(b.Members, a.Members) })
	if len(chans) > dashboardChannels {
		snap.MoreChannels = len(chans) - dashboardChannels
		chans = chans[:dashboardChannels]
	}
	for _, c := range chans {
		p, err := s.engine.MembersPage(c.Name, 0, dashboardMembers)
		if err != nil {
			continue // freed since it was listed
		}
		snap.Channels = append(snap.Channels, dashboardChannel{Name: c.Name, Members: p.Total, List: apiMembers(p.Members), MoreMembers: p.Total - len(p.Members)})
	}
	online, _ := s.engine.MembersPage("", 0, dashboardMembers)
	snap.Online, snap.MoreOnline = apiMembers(online.Members), online.Total-len(online.Members)
	return snap
}

// hidden reports whether the dashboard leaves a channel out: without an
// API key it shows nothing an anonymous client could not read, so neither
// the names nor the members of the channels that only Pusher's
// authorization opens (private and presence channels of the default app,
// user channels, the other apps' channels). With an API key, the operator
// sees everything.
func (s *Server) hidden(channel string) bool {
	return s.opts.APIKey == "" && s.pusher != nil && s.pusher.ReservedReason(channel) != ""
}
