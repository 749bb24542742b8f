package pusherwire

import (
	"encoding/json"
	"errors"
)

// Watchlist (§4): a signed-in user's user_data may name up to
// [MaxWatchlist] user ids; the server tells the socket when they come online
// and go offline with pusher_internal:watchlist_events, which pusher-js
// raises on pusher.user.watchlist as "online" and "offline".

// MaxWatchlist is the most user ids a watchlist may hold; more is refused
// with [CodeWatchlistLimit].
const MaxWatchlist = 100

// Watchlist event names.
const (
	// WatchlistOnline: the users came online (their first connection).
	WatchlistOnline = "online"
	// WatchlistOffline: the users went offline (after their last).
	WatchlistOffline = "offline"
)

// ErrWatchlist: the watchlist of user_data is not an array of user ids.
var ErrWatchlist = errors.New("pusher: watchlist is not an array of user ids")

// ErrWatchlistLimit: the watchlist holds more than [MaxWatchlist] ids.
var ErrWatchlistLimit = errors.New("pusher: watchlist has more than 100 user ids")

// WatchlistIDs returns the user ids of the watchlist, in order and without
// repeats: strings as they are, integers as their digits. It returns nil for
// no watchlist, [ErrWatchlist] for anything but an array of ids and
// [ErrWatchlistLimit] for more than [MaxWatchlist] of them.
func (u UserData) WatchlistIDs() ([]string, error) {
	if isNull(u.Watchlist) {
		return nil, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(u.Watchlist, &raw); err != nil {
		return nil, ErrWatchlist
	}
	if len(raw) > MaxWatchlist {
		return nil, ErrWatchlistLimit
	}
	ids := make([]string, 0, len(raw))
	seen := make(map[string]bool, len(raw))
	for _, v := range raw {
		var id string
		switch {
		case len(v) > 0 && v[0] == '"':
			if json.Unmarshal(v, &id) != nil || id == "" {
				return nil, ErrWatchlist
			}
		case isInteger(v):
			id = string(v)
		default:
			return nil, ErrWatchlist
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// AppendWatchlistEvent appends pusher_internal:watchlist_events (no channel)
// with data {"events":[{"name":name,"user_ids":[…]}]}: one event, name
// [WatchlistOnline] or [WatchlistOffline].
func AppendWatchlistEvent(dst []byte, name string, userIDs []string) []byte {
	inner := make([]byte, 0, 48+len(name)+16*len(userIDs))
	inner = append(inner, `{"events":[{"name":`...)
	inner = appendQuoted(inner, name)
	inner = append(inner, `,"user_ids":[`...)
	for i, id := range userIDs {
		if i > 0 {
			inner = append(inner, ',')
		}
		inner = appendQuoted(inner, id)
	}
	inner = append(inner, `]}]}`...)
	return AppendEvent(dst, EventWatchlistEvents, "", inner)
}
