package presence_test

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rollcall/rollcall/presence"
)

// graceNet is two engines over the fake network with a grace, and an
// observer on each that is subscribed to "room".
type graceNet struct {
	t       *testing.T
	net     *fakeNet
	e       []*presence.Engine
	obs     []*recorder
	obsConn []*presence.Conn
	n       int
}

func newGraceNet(t *testing.T, grace time.Duration) *graceNet {
	g := &graceNet{t: t, net: newFakeNet()}
	for _, name := range []string{"a", "b"} {
		br := g.net.broker(name)
		e := presence.New(presence.Options{Node: name, Broker: br, Grace: grace})
		br.start(e.Receiver())
		g.e = append(g.e, e)
	}
	for i := range g.e {
		rec := &recorder{}
		c := g.connect(i, rec)
		g.join(i, c, presence.Member{Name: "observer"})
		g.obs = append(g.obs, rec)
		g.obsConn = append(g.obsConn, c)
	}
	g.settle()
	for _, r := range g.obs {
		r.take()
	}
	return g
}

func (g *graceNet) connect(node int, sink presence.Sink) *presence.Conn {
	g.n++
	return g.e[node].Connect(sessionID(g.n), sink)
}

func (g *graceNet) join(node int, c *presence.Conn, m presence.Member) {
	g.t.Helper()
	mustOK(g.t, g.e[node].Join(context.Background(), c, m))
	mustOK(g.t, g.e[node].Subscribe(context.Background(), c, "room"))
}

func (g *graceNet) settle() {
	g.net.settle()
	synctest.Wait()
	g.net.settle()
}

// heard returns the member events the observers heard since last asked.
func (g *graceNet) heard() []string {
	var out []string
	for i, r := range g.obs {
		for _, ev := range r.take() {
			switch ev.Kind {
			case presence.KindNewMember, presence.KindRemoveMember, presence.KindNewChannelMember, presence.KindRemoveChannelMember:
				out = append(out, string(rune('a'+i))+":"+kindName(ev.Kind)+" "+ev.Member.Name)
			}
		}
	}
	return out
}

func kindName(k presence.Kind) string {
	return map[presence.Kind]string{presence.KindNewMember: "join", presence.KindRemoveMember: "leave",
		presence.KindNewChannelMember: "subscribe", presence.KindRemoveChannelMember: "unsubscribe"}[k]
}

func (g *graceNet) close() {
	for i, c := range g.obsConn {
		g.e[i].Disconnect(c)
	}
	g.settle()
	g.net.close()
}

// TestGraceTakeoverOnAnotherNode: a connection lost without a leave keeps
// its presence; a new connection on the other node presents its resume
// token, joins and subscribes again: nobody hears anything, then or after
// the grace. A real loss (no takeover) is one leave per audience after
// the grace, not before.
func TestGraceTakeoverOnAnotherNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := newGraceNet(t, 5*time.Second)
		defer g.close()
		old := g.connect(0, &recorder{})
		g.join(0, old, presence.Member{Name: "alice"})
		stay := g.connect(0, &recorder{})
		g.join(0, stay, presence.Member{Name: "bob"})
		g.settle()
		g.heard()
		token := old.ResumeToken()
		if len(token) < 22+1+32 {
			t.Fatalf("resume token %q", token)
		}
		id := old.ID()
		g.e[0].Lost(old)
		g.e[0].Lost(stay)
		g.settle()
		if h := g.heard(); len(h) != 0 {
			t.Fatalf("a lost connection was heard: %v", h)
		}
		time.Sleep(time.Second)
		rec := &recorder{}
		fresh := g.connect(1, rec)
		mustOK(t, g.e[1].Resume(ctx, fresh, token))
		g.join(1, fresh, presence.Member{Name: "alice"})
		g.settle()
		if m, _ := fresh.Member(); m.ID != id {
			t.Fatalf("the takeover joined as %q, want %q", m.ID, id)
		}
		own := kinds(rec.take(), presence.KindNewChannelMember, "room")
		if len(own) != 1 || own[0].Member.ID != id {
			t.Fatalf("the takeover's own confirmation: %v", own)
		}
		// Used once: a second try is refused, and a forged one.
		wantErr(t, g.e[0].Resume(ctx, g.connect(0, &recorder{}), token), presence.ErrResumeRefused)
		forged := "AAAAAAAAAAAAAAAAAAAAAA." + id + ".a"
		wantErr(t, g.e[1].Resume(ctx, g.connect(1, &recorder{}), forged), presence.ErrResumeRefused)
		wantErr(t, g.e[1].Resume(ctx, g.connect(1, &recorder{}), "nonsense"), presence.ErrResumeRefused)
		time.Sleep(10 * time.Second) // past the grace and the linger
		g.settle()
		want := []string{"a:unsubscribe bob", "a:leave bob", "b:unsubscribe bob", "b:leave bob"}
		if h := g.heard(); strings.Join(h, ",") != strings.Join(want, ",") {
			t.Fatalf("heard %v, want %v", h, want)
		}
		for i, e := range g.e {
			ms, _ := e.Members("room")
			if len(ms) != 3 || e.Ghosts() != 0 {
				t.Fatalf("node %d: room %v, %d ghosts", i, ms, e.Ghosts())
			}
		}
		// A token past its grace is refused.
		late := g.connect(1, &recorder{})
		g.join(1, late, presence.Member{Name: "carol"})
		lateToken := late.ResumeToken()
		g.e[1].Lost(late)
		time.Sleep(6 * time.Second)
		g.settle()
		wantErr(t, g.e[1].Resume(ctx, g.connect(1, &recorder{}), lateToken), presence.ErrResumeRefused)
		g.e[1].Disconnect(fresh)
		g.settle()
	})
}

// TestGraceSameIdentity: an authenticated member that comes back as the
// same identity takes its presence over without a token; the channels it
// does not come back to hear its leave after the linger.
func TestGraceSameIdentity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		g := newGraceNet(t, 5*time.Second)
		defer g.close()
		u := presence.Member{ID: "user-7", Name: "dora"}
		g.n++
		old := g.e[0].ConnectAs(sessionID(g.n), &recorder{}, &u)
		g.join(0, old, presence.Member{})
		mustOK(t, g.e[0].Subscribe(ctx, old, "side"))
		g.settle()
		g.heard()
		g.e[0].Lost(old)
		g.settle()
		g.n++
		fresh := g.e[1].ConnectAs(sessionID(g.n), &recorder{}, &u)
		g.join(1, fresh, presence.Member{})
		g.settle()
		if h := g.heard(); len(h) != 0 {
			t.Fatalf("the same identity's takeover was heard: %v", h)
		}
		time.Sleep(presence.ResumeLinger + time.Second)
		g.settle()
		if h := g.heard(); len(h) != 0 {
			t.Fatalf("heard %v after the linger (room)", h)
		}
		if ms, _ := g.e[1].Members("side"); len(ms) != 0 {
			t.Fatalf("side still has %v after the linger", ms)
		}
		g.e[1].Disconnect(fresh)
		g.settle()
	})
}

// TestMaxGhosts: past Options.MaxGhosts a lost connection leaves at once,
// so that connections that join and drop cannot pile up presence.
func TestMaxGhosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		e := presence.New(presence.Options{Grace: time.Minute, MaxGhosts: 2})
		obs := &recorder{}
		o := e.Connect("O", obs)
		mustOK(t, e.Join(ctx, o, presence.Member{Name: "olga"}))
		var lost []*presence.Conn
		for _, name := range []string{"a", "b", "c"} {
			c := e.Connect("S"+name, &recorder{})
			mustOK(t, e.Join(ctx, c, presence.Member{Name: name}))
			lost = append(lost, c)
		}
		synctest.Wait()
		obs.take()
		for _, c := range lost {
			e.Lost(c)
		}
		synctest.Wait()
		if e.Ghosts() != 2 || e.GhostsRefused() != 1 {
			t.Fatalf("%d kept and %d refused, want 2 and 1", e.Ghosts(), e.GhostsRefused())
		}
		var left []string
		for _, ev := range obs.take() {
			if ev.Kind == presence.KindRemoveMember {
				left = append(left, ev.Member.Name)
			}
		}
		if len(left) != 1 || left[0] != "c" {
			t.Fatalf("heard %v leave, want c at once", left)
		}
		e.Disconnect(o)
		time.Sleep(time.Minute)
		synctest.Wait()
		if e.Ghosts() != 0 {
			t.Fatalf("%d ghosts after the grace", e.Ghosts())
		}
	})
}
