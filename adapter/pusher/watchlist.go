package pusher

import (
	"strings"
	"sync"

	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// Watchlists: a socket signed in with a watchlist in its user_data hears,
// right after signin_success, which of those users are online, then an
// "online" event when one of them signs in on its first socket and an
// "offline" event after its last socket is gone (once per user, however
// many tabs).
//
// A user is online while a socket of any node of the cluster is signed in
// as it: while its user channel (#server-to-user-<id>, which every
// signed-in socket subscribes to, replicated to every node) has a
// subscription. The engine tells every change of that count
// (Handler.subscriptions), whichever node made it; this node tells its own
// watchers, so every watcher in the cluster hears each transition once.
//
// The online states are kept for the watched users only, under the same
// lock as the watchers, and the events are queued under it: so a new
// watcher's first list and the events after it cannot cross. Sign-ins and
// sign-outs are rare next to messages, and a queue write never blocks.
type watchlists struct {
	mu sync.Mutex
	// online says, for each watched user, whether it was online at the
	// last change the engine told (absent: none told since it was first
	// watched, and not read yet).
	online map[userKey]bool
	// watchers are who watch a user, each true once it had its first
	// list (a watcher hears events only after it).
	watchers map[userKey]map[*session]bool
	bySocket map[*session][]string // what a signed-in socket watches
}

// watchSignin makes a socket's first signin a watcher of ids: it gets the
// ids online now, then their changes.
func (h *Handler) watchSignin(s *session, ids []string) {
	if len(ids) == 0 {
		return
	}
	w := &h.watch
	w.mu.Lock()
	if s.ctx.Err() != nil {
		w.mu.Unlock()
		return // ended: unwatch has run or will find nothing
	}
	if w.online == nil {
		w.online = make(map[userKey]bool)
		w.watchers = make(map[userKey]map[*session]bool)
		w.bySocket = make(map[*session][]string)
	}
	w.bySocket[s] = ids
	var unknown []string
	for _, wid := range ids {
		wk := userKey{s.app, wid}
		if w.watchers[wk] == nil {
			w.watchers[wk] = make(map[*session]bool)
		}
		w.watchers[wk][s] = false
		if _, ok := w.online[wk]; !ok {
			unknown = append(unknown, wid)
		}
	}
	w.mu.Unlock()

	// The engine is asked without w.mu (it tells changes with a channel's
	// lock held, and watchedChanged takes w.mu): s is a watcher already, so
	// a change from now on is told to w, and is at least as new as this.
	now := make([]bool, len(unknown))
	for i, wid := range unknown {
		now[i] = h.engine.Subscriptions(s.app.EngineChannel(pusherwire.ServerToUserChannel(wid))) > 0
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.bySocket[s]; !ok {
		return // ended meanwhile
	}
	for i, wid := range unknown {
		wk := userKey{s.app, wid}
		if _, ok := w.online[wk]; !ok {
			w.online[wk] = now[i]
		}
	}
	var on []string
	for _, wid := range ids {
		wk := userKey{s.app, wid}
		w.watchers[wk][s] = true
		if w.online[wk] {
			on = append(on, wid)
		}
	}
	if len(on) > 0 {
		s.send(pusherwire.AppendWatchlistEvent(nil, pusherwire.WatchlistOnline, on))
	}
}

// unwatch forgets an ended socket: it watches nobody. (Its own user going
// offline, if it was the last socket, is told by the engine.)
func (h *Handler) unwatch(s *session) {
	w := &h.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	ids, ok := w.bySocket[s]
	if !ok {
		return
	}
	delete(w.bySocket, s)
	for _, wid := range ids {
		wk := userKey{s.app, wid}
		delete(w.watchers[wk], s)
		if len(w.watchers[wk]) == 0 {
			delete(w.watchers, wk)
			delete(w.online, wk)
		}
	}
}

// userChannel returns the app and user id of an engine channel that is a
// user channel.
func (h *Handler) userChannel(engineName string) (*App, string, bool) {
	for _, app := range h.apps {
		name, ok := app.PusherChannel(engineName)
		if !ok {
			continue
		}
		if id, ok := strings.CutPrefix(name, pusherwire.ServerToUserPrefix); ok && id != "" {
			return app, id, true
		}
	}
	return nil, "", false
}

// watchedChanged hears that the user channel of user id of app has n
// subscriptions over the cluster (Handler.subscriptions, with the
// channel's lock held: it only queues), and tells the user's watchers when
// that makes it go online or offline.
func (h *Handler) watchedChanged(app *App, id string, n int) {
	w := &h.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	k := userKey{app, id}
	if len(w.watchers[k]) == 0 {
		return
	}
	was, known := w.online[k]
	now := n > 0
	w.online[k] = now
	if !known || was == now {
		return
	}
	name := pusherwire.WatchlistOffline
	if now {
		name = pusherwire.WatchlistOnline
	}
	w.tell(k, name)
}

// tell queues one watchlist event about user k to its watchers that had
// their first list, encoded once. w.mu is held.
func (w *watchlists) tell(k userKey, name string) {
	var frame []byte
	for s, listed := range w.watchers[k] {
		if !listed {
			continue
		}
		if frame == nil {
			frame = pusherwire.AppendWatchlistEvent(nil, name, []string{k.id})
		}
		s.send(frame)
	}
}
