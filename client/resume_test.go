package client

import (
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/server"
)

// TestResumeAfterLostConnection: under a server grace, a client whose
// network drops reconnects with its resume token and takes its presence
// over: the same member, in the same channel, and another member hears
// neither a leave nor a join. A client that closes leaves at once.
func TestResumeAfterLostConnection(t *testing.T) {
	for _, perEvent := range []bool{false, true} {
		name := "diffs"
		if perEvent {
			name = "per-event"
		}
		t.Run(name, func(t *testing.T) {
			srv, u := startRollcall(t, server.Options{PresenceGrace: 5 * time.Second, DiffWindow: -1}) // diffs at once: in order with the publish below
			p := testkit.NewCutter(t, strings.TrimPrefix(strings.TrimSuffix(u, "/"), "ws://"))
			ctx := ctxT(t)

			ro := newRecorder()
			obs := dial(t, u, ro, Options{Name: "olga", PerEvent: perEvent})
			if err := obs.Subscribe(ctx, "room"); err != nil {
				t.Fatal(err)
			}
			ra := newRecorder()
			a := dial(t, "ws://"+p.Addr()+"/", ra, Options{Name: "alice", PerEvent: perEvent,
				ReconnectMin: 5 * time.Millisecond, ReconnectMax: 20 * time.Millisecond})
			if err := a.Subscribe(ctx, "room"); err != nil {
				t.Fatal(err)
			}
			me := a.Member()
			// olga hears alice join the server and the room (in diffs, in
			// either order).
			heard := map[string]bool{}
			for !heard["newmember"] || !heard["newchannelmember"] {
				e := ro.next(t, "", nil)
				if e.member.ID == me.ID {
					heard[e.kind] = true
				}
			}
			ra.next(t, "connect", nil)
			testkit.Eventually(t, waitFor, "a resume token", func() bool {
				a.mu.Lock()
				defer a.mu.Unlock()
				return a.token != ""
			})

			p.Cut()
			ra.next(t, "disconnect", nil)
			ra.next(t, "connect", nil)
			if a.Member().ID != me.ID {
				t.Fatalf("back as %+v, want %s", a.Member(), me.ID)
			}
			testkit.Eventually(t, waitFor, "the old connection's entries to go", func() bool { return srv.Engine().Ghosts() == 0 })
			ms, err := a.GetMembers(ctx, "room")
			if err != nil || len(ms) != 2 {
				t.Fatalf("room: %v, %v", ms, err)
			}
			// Nothing about alice reached olga: a publish is the next thing
			// she hears.
			if err := a.Publish(ctx, "room", "still here"); err != nil {
				t.Fatal(err)
			}
			for e := range ro.ch {
				if e.kind == "publish" {
					break
				}
				if e.member.ID == me.ID {
					t.Fatalf("olga heard %v", e)
				}
			}

			// A close is a leave, grace or not.
			a.Close()
			ro.next(t, "removechannelmember", func(e event) bool { return e.member.ID == me.ID })
		})
	}
}
