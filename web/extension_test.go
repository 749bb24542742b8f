package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/rollcall/rollcall/presence"
)

// engineMembers is the test control's side of the extension test: members
// that the test server's engine holds without a socket (a nop sink), put in
// and taken out on a node script's request, so that a big list or a join
// storm costs the script no sockets.
type engineMembers struct {
	eng   *presence.Engine
	mu    sync.Mutex
	conns map[string]*presence.Conn // by member id
	next  int                       // for connection ids
}

// routes adds to mux:
//
//	GET /populate?channel=c&n=N&prefix=p[&pace=5ms]  members p0…pN-1 enter c, one every pace
//	GET /unsubscribe?channel=c&id=x                   member x leaves c
func (em *engineMembers) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /populate", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var pace time.Duration
		if p := q.Get("pace"); p != "" {
			if pace, err = time.ParseDuration(p); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		for i := range n {
			if err := em.subscribe(r.Context(), q.Get("channel"), fmt.Sprint(q.Get("prefix"), i)); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			if pace > 0 {
				time.Sleep(pace) // the storm's pace, not a wait for anything
			}
		}
	})
	mux.HandleFunc("GET /unsubscribe", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		em.mu.Lock()
		pc := em.conns[q.Get("id")]
		em.mu.Unlock()
		if pc == nil {
			http.Error(w, "no member "+q.Get("id"), http.StatusNotFound)
			return
		}
		if err := em.eng.Unsubscribe(r.Context(), pc, q.Get("channel")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

// subscribe makes member id (a new socketless connection of the engine)
// present in channel.
func (em *engineMembers) subscribe(ctx context.Context, channel, id string) error {
	em.mu.Lock()
	if em.conns == nil {
		em.conns = make(map[string]*presence.Conn)
	}
	em.next++
	pc := em.eng.Connect(fmt.Sprintf("%032X", 1<<40+em.next), nopSink{})
	em.conns[id] = pc
	em.mu.Unlock()
	return em.eng.SubscribeWith(ctx, pc, channel, presence.Subscription{Member: &presence.Member{ID: id, Name: "n-" + id}})
}

type nopSink struct{}

func (nopSink) Deliver(*presence.Event) {}

// helloDropper is a WebSocket proxy to the server at upstream that passes
// every frame but the client's rollcall@hello, so that the server answers
// the client as it answers a third-party sgc client: the way an sgc server,
// which ignores the method, looks to a client that asks for the extension.
type helloDropper struct {
	upstream string
	dropped  chan struct{} // one value per hello dropped
}

func (d *helloDropper) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	down, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"presence.esegece.com"}})
	if err != nil {
		return
	}
	defer down.CloseNow()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	up, _, err := websocket.Dial(ctx, d.upstream, &websocket.DialOptions{Subprotocols: []string{"presence.esegece.com"}})
	if err != nil {
		down.Close(websocket.StatusInternalError, "upstream: "+err.Error())
		return
	}
	defer up.CloseNow()
	down.SetReadLimit(1 << 20)
	up.SetReadLimit(1 << 20)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pump(ctx, down, up, nil)
		cancel()
	}()
	pump(ctx, up, down, d.drop)
	cancel()
	<-done
}

// drop reports whether the client frame b is a rollcall@hello.
func (d *helloDropper) drop(b []byte) bool {
	var f struct{ Method string }
	if json.Unmarshal(b, &f) != nil || f.Method != "rollcall@hello" {
		return false
	}
	select {
	case d.dropped <- struct{}{}:
	default:
	}
	return true
}

// pump copies messages from src to dst, but those skip reports, until either
// side fails; it passes a close on with its code.
func pump(ctx context.Context, dst, src *websocket.Conn, skip func([]byte) bool) {
	for {
		typ, b, err := src.Read(ctx)
		if err != nil {
			if code := websocket.CloseStatus(err); code != -1 {
				dst.Close(code, "")
			}
			return
		}
		if skip != nil && skip(b) {
			continue
		}
		if err := dst.Write(ctx, typ, b); err != nil {
			return
		}
	}
}
