package pusher

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// maxAPIBody bounds an HTTP API request body (413 above it).
const maxAPIBody = 1 << 20

type apiError struct {
	Error string `json:"error"`
	Code  int    `json:"code"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false) // people read these: "<" stays "<", not \u003c
	_ = enc.Encode(v)
}

func fail(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{Error: msg, Code: status})
}

// Routes adds the Pusher HTTP API (under /apps/{id}/) to mux.
func (h *Handler) Routes(mux *http.ServeMux) {
	mux.HandleFunc("POST /apps/{app}/events", h.api(h.apiEvents))
	mux.HandleFunc("POST /apps/{app}/batch_events", h.api(h.apiBatch))
	mux.HandleFunc("GET /apps/{app}/channels", h.api(h.apiChannels))
	mux.HandleFunc("GET /apps/{app}/channels/{channel}", h.api(h.apiChannel))
	mux.HandleFunc("GET /apps/{app}/channels/{channel}/users", h.api(h.apiUsers))
	mux.HandleFunc("POST /apps/{app}/users/{user}/terminate_connections", h.api(h.apiTerminate))
	mux.HandleFunc("/apps/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); allow != "" {
			w.Header().Set("Allow", allow)
			fail(w, http.StatusMethodNotAllowed, r.Method+" "+r.URL.Path+" is not allowed: use "+allow)
			return
		}
		fail(w, http.StatusNotFound, "No such Pusher API route: "+r.Method+" "+r.URL.Path)
	})
}

// allowedMethods lists, comma-separated, the methods for which mux has a
// route to r's path besides the catch-all "/apps/" (which matches every
// method, so ServeMux's own 405 never comes).
func allowedMethods(mux *http.ServeMux, r *http.Request) string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if m == r.Method {
			continue
		}
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host, Header: http.Header{}}
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/apps/" {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

// api checks a request's app and signature and reads its body.
func (h *Handler) api(next func(http.ResponseWriter, *http.Request, *App, []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		app := h.byID[r.PathValue("app")]
		if app == nil {
			fail(w, http.StatusNotFound, "Unknown app id "+r.PathValue("app"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				fail(w, http.StatusRequestEntityTooLarge, "Request body is larger than 1 MiB")
			} else {
				fail(w, http.StatusBadRequest, "Cannot read the request body")
			}
			return
		}
		v := pusherwire.RequestVerifier{Key: app.Key, Secret: app.Secret}
		if err := v.Verify(r.Method, r.URL.Path, r.URL.Query(), body); err != nil {
			var re *pusherwire.RequestAuthError
			status := http.StatusUnauthorized
			if errors.As(err, &re) {
				status = re.Status()
			}
			h.log.Debug("pusher API request refused", "app", app.ID, "path", r.URL.Path, "err", err)
			fail(w, status, err.Error())
			return
		}
		if app.Disabled {
			fail(w, http.StatusForbidden, "Application disabled")
			return
		}
		next(w, r, app, body)
	}
}

func bodyFail(w http.ResponseWriter, err error) {
	var be *pusherwire.BodyError
	if errors.As(err, &be) {
		fail(w, be.Status(), be.Error())
		return
	}
	fail(w, http.StatusBadRequest, err.Error())
}

func (h *Handler) apiEvents(w http.ResponseWriter, r *http.Request, app *App, body []byte) {
	t, err := pusherwire.DecodeTrigger(body)
	if err == nil {
		err = t.Check(app.limits())
	}
	if err != nil {
		bodyFail(w, err)
		return
	}
	h.trigger(r, app, &t)
	if t.Info == "" {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": h.channelsInfo(app, t.Channels, t.Info)})
}

func (h *Handler) apiBatch(w http.ResponseWriter, r *http.Request, app *App, body []byte) {
	batch, err := pusherwire.DecodeBatch(body)
	if err == nil {
		err = pusherwire.CheckBatch(batch, app.limits())
	}
	if err != nil {
		bodyFail(w, err)
		return
	}
	anyInfo := false
	for i := range batch {
		h.trigger(r, app, &batch[i])
		anyInfo = anyInfo || batch[i].Info != ""
	}
	if !anyInfo {
		writeJSON(w, http.StatusOK, struct{}{})
		return
	}
	out := make([]map[string]any, len(batch))
	for i, t := range batch {
		out[i] = map[string]any{}
		if t.Info != "" {
			// One channel per batch item (channel, not channels).
			out[i] = h.channelInfo(app, t.Channels[0], pusherwire.InfoAttributes(t.Info))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"batch": out})
}

// trigger publishes one event to its channels. A channel nobody is in
// gets nothing (and a cache channel still keeps the event).
func (h *Handler) trigger(r *http.Request, app *App, t *pusherwire.Trigger) {
	for _, name := range t.Channels {
		engineName := app.EngineChannel(name)
		if pusherwire.ClassifyChannel(name).Cache {
			h.setCached(engineName, t.Name, t.Data)
		}
		err := h.engine.BroadcastMessage(r.Context(), engineName, presence.Message{Name: t.Name, Data: []byte(t.Data), Except: t.SocketID})
		if err != nil && !errors.Is(err, presence.ErrChannelNotExists) {
			h.log.Debug("pusher trigger", "app", app.ID, "channel", name, "err", err)
			continue
		}
		h.counters.Publishes.Add(1)
	}
}

// channelInfo is the attributes of one channel asked for with info=.
func (h *Handler) channelInfo(app *App, name string, attrs []string) map[string]any {
	out := map[string]any{}
	engineName := app.EngineChannel(name)
	for _, a := range attrs {
		switch a {
		case "user_count":
			if pusherwire.ClassifyChannel(name).Kind == pusherwire.Presence {
				ms, _ := h.engine.Members(engineName)
				out["user_count"] = len(ms)
			}
		case "subscription_count":
			out["subscription_count"] = h.engine.Subscriptions(engineName)
		}
	}
	return out
}

func (h *Handler) channelsInfo(app *App, channels []string, info string) map[string]map[string]any {
	attrs := pusherwire.InfoAttributes(info)
	out := make(map[string]map[string]any, len(channels))
	for _, c := range channels {
		out[c] = h.channelInfo(app, c, attrs)
	}
	return out
}

func (h *Handler) apiChannels(w http.ResponseWriter, r *http.Request, app *App, _ []byte) {
	prefix := r.URL.Query().Get("filter_by_prefix")
	attrs := pusherwire.InfoAttributes(r.URL.Query().Get("info"))
	for _, a := range attrs {
		switch a {
		case "user_count":
			if !strings.HasPrefix(prefix, pusherwire.PresencePrefix) {
				fail(w, http.StatusBadRequest, "info=user_count needs filter_by_prefix=presence-")
				return
			}
		case "subscription_count":
		default:
			fail(w, http.StatusBadRequest, "Unknown info attribute "+a+" (user_count, subscription_count)")
			return
		}
	}
	out := map[string]any{}
	for _, ci := range h.engine.Channels() {
		name, ok := app.PusherChannel(ci.Name)
		if !ok || !strings.HasPrefix(name, prefix) || Reserved(name) || pusherwire.ValidateChannelName(name, app.MaxChannelName) != nil {
			continue
		}
		out[name] = h.channelInfo(app, name, attrs)
	}
	writeJSON(w, http.StatusOK, map[string]any{"channels": out})
}

func (h *Handler) apiChannel(w http.ResponseWriter, r *http.Request, app *App, _ []byte) {
	name := r.PathValue("channel")
	if err := pusherwire.ValidateChannelName(name, app.MaxChannelName); err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	typ := pusherwire.ClassifyChannel(name)
	attrs := pusherwire.InfoAttributes(r.URL.Query().Get("info"))
	for _, a := range attrs {
		switch {
		case a == "user_count" && typ.Kind != pusherwire.Presence:
			fail(w, http.StatusBadRequest, "info=user_count is only for presence channels")
			return
		case a == "cache" && !typ.Cache:
			fail(w, http.StatusBadRequest, "info=cache is only for cache channels")
			return
		case a != "user_count" && a != "subscription_count" && a != "cache":
			fail(w, http.StatusBadRequest, "Unknown info attribute "+a)
			return
		}
	}
	engineName := app.EngineChannel(name)
	out := h.channelInfo(app, name, attrs)
	out["occupied"] = h.engine.Subscriptions(engineName) > 0
	if slices.Contains(attrs, "cache") {
		if c, ok := h.cached(engineName); ok {
			out["cache"] = map[string]any{"event": c.name, "data": c.data, "ttl": int((h.cfg.CacheTTL - timeSince(c.at)).Seconds())}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiUsers(w http.ResponseWriter, r *http.Request, app *App, _ []byte) {
	name := r.PathValue("channel")
	if pusherwire.ClassifyChannel(name).Kind != pusherwire.Presence {
		fail(w, http.StatusBadRequest, "Users are listed for presence channels only")
		return
	}
	ms, _ := h.engine.Members(app.EngineChannel(name))
	users := make([]map[string]string, len(ms))
	for i, m := range ms {
		users[i] = map[string]string{"id": m.ID}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": users})
}

// apiTerminate closes every socket signed in as the user, on every node:
// each is subscribed to the user's channel.
func (h *Handler) apiTerminate(w http.ResponseWriter, r *http.Request, app *App, _ []byte) {
	err := h.engine.Terminate(app.EngineChannel(pusherwire.ServerToUserChannel(r.PathValue("user"))))
	if err != nil && !errors.Is(err, presence.ErrChannelNotExists) {
		h.log.Debug("pusher terminate_connections", "app", app.ID, "user", r.PathValue("user"), "err", err)
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
