package pusher

import (
	"sync"

	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// Watchlists: a socket signed in with a watchlist in its user_data hears,
// right after signin_success, which of those users are online, then an
// "online" event when one of them signs in on its first socket and an
// "offline" event after its last socket is gone (once per user, however
// many tabs). A user is online while a socket of this node is signed in as
// it.
//
// The online counts live here rather than in Handler.users, under the same
// lock as the watchers, and the events are queued under it: so a new
// watcher's first list and the events after it cannot cross. Sign-ins and
// sign-outs are rare next to messages, and a queue write never blocks.
type watchlists struct {
	mu       sync.Mutex
	online   map[userKey]int                   // signed-in sockets per user
	watchers map[userKey]map[*session]struct{} // who watches a user
	bySocket map[*session]watching             // what a signed-in socket is and watches
}

type watching struct {
	user userKey
	ids  []string
}

// watchSignin counts a socket's first signin as user ud.ID and makes it a
// watcher of ids: it gets the ids online now, and the watchers of the user
// hear it come online if this is its first socket.
func (h *Handler) watchSignin(s *session, id string, ids []string) {
	w := &h.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	if s.ctx.Err() != nil {
		return // ended: unwatch has run or will find nothing
	}
	if w.online == nil {
		w.online = make(map[userKey]int)
		w.watchers = make(map[userKey]map[*session]struct{})
		w.bySocket = make(map[*session]watching)
	}
	k := userKey{s.app, id}
	w.bySocket[s] = watching{user: k, ids: ids}
	var on []string
	for _, wid := range ids {
		wk := userKey{s.app, wid}
		if w.watchers[wk] == nil {
			w.watchers[wk] = make(map[*session]struct{})
		}
		w.watchers[wk][s] = struct{}{}
		if w.online[wk] > 0 {
			on = append(on, wid)
		}
	}
	if len(on) > 0 {
		s.send(pusherwire.AppendWatchlistEvent(nil, pusherwire.WatchlistOnline, on))
	}
	w.online[k]++
	if w.online[k] == 1 {
		w.tell(k, pusherwire.WatchlistOnline)
	}
}

// unwatch forgets an ended socket: it watches nobody, and the watchers of
// its user hear it go offline if it was the user's last socket.
func (h *Handler) unwatch(s *session) {
	w := &h.watch
	w.mu.Lock()
	defer w.mu.Unlock()
	ws, ok := w.bySocket[s]
	if !ok {
		return
	}
	delete(w.bySocket, s)
	for _, wid := range ws.ids {
		wk := userKey{s.app, wid}
		delete(w.watchers[wk], s)
		if len(w.watchers[wk]) == 0 {
			delete(w.watchers, wk)
		}
	}
	if w.online[ws.user]--; w.online[ws.user] > 0 {
		return
	}
	delete(w.online, ws.user)
	w.tell(ws.user, pusherwire.WatchlistOffline)
}

// tell queues one watchlist event about user k to its watchers, encoded
// once. w.mu is held.
func (w *watchlists) tell(k userKey, name string) {
	if len(w.watchers[k]) == 0 {
		return
	}
	frame := pusherwire.AppendWatchlistEvent(nil, name, []string{k.id})
	for s := range w.watchers[k] {
		s.send(frame)
	}
}
