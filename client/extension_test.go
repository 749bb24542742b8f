package client

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/server"
)

// startRollcall starts the real server and returns it with its URL.
func startRollcall(t *testing.T, opts server.Options) (*server.Server, string) {
	t.Helper()
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv, testkit.WSURL(testkit.Serve(t, srv), "")
}

// fold is the member sets a client's callbacks add up to, by channel
// ("": the server's members).
type fold struct {
	mu   sync.Mutex
	sets map[string]map[string]Member
	seen map[string]int    // callbacks per member id
	in   map[[2]string]int // callbacks per channel and member id
}

func newFold() *fold {
	return &fold{sets: make(map[string]map[string]Member), seen: make(map[string]int), in: make(map[[2]string]int)}
}

func (f *fold) set(ch string, m Member, in bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[m.ID]++
	f.in[[2]string{ch, m.ID}]++
	s := f.sets[ch]
	if s == nil {
		s = make(map[string]Member)
		f.sets[ch] = s
	}
	if in {
		s[m.ID] = m
	} else {
		delete(s, m.ID)
	}
}

// options records every member callback into f.
func (f *fold) options(o Options) Options {
	o.OnNewMember = func(m Member) { f.set("", m, true) }
	o.OnRemoveMember = func(m Member) { f.set("", m, false) }
	o.OnMemberUpdate = func(m Member) { f.set("", m, true) }
	o.OnNewChannelMember = func(ch string, m Member) { f.set(ch, m, true) }
	o.OnRemoveChannelMember = func(ch string, m Member) { f.set(ch, m, false) }
	o.OnChannelMemberUpdate = func(ch string, m Member) { f.set(ch, m, true) }
	return o
}

// of returns the members of ch among ids, sorted by id.
func (f *fold) of(ch string, ids map[string]bool) []Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return only(slices.Collect(maps.Values(f.sets[ch])), ids)
}

func (f *fold) callbacksIn(ch, id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.in[[2]string{ch, id}]
}

func (f *fold) callbacks(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[id]
}

// only returns the members of ms among ids (all when ids is nil), sorted.
func only(ms []Member, ids map[string]bool) []Member {
	out := []Member{}
	for _, m := range ms {
		if ids == nil || ids[m.ID] {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// engineMembers returns the server's members of ch among ids.
func engineMembers(srv *server.Server, ch string, ids map[string]bool) []Member {
	ms, _ := srv.Engine().Members(ch) // a channel that is gone has none
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = Member{ID: m.ID, Name: m.Name, Info: string(m.Info)}
	}
	return only(out, ids)
}

// rawActor is a third-party sgc client: frames written by hand, never a
// hello; what it is sent is read and dropped.
type rawActor struct {
	url  string
	id   string
	conn *testkit.WS
	subs map[string]bool
}

func (r *rawActor) write(t *testing.T, frame string) {
	t.Helper()
	if err := r.conn.WriteFrame(ws.NewTextFrame([]byte(frame))); err != nil {
		t.Fatalf("raw write: %v", err)
	}
}

func (r *rawActor) join(t *testing.T, n int) {
	r.conn = testkit.DialWS(t, r.url, http.Header{}, sgcwire.Subprotocol)
	r.id = fmt.Sprintf("raw-%d", n)
	r.subs = map[string]bool{}
	r.write(t, `{"jsonrpc":"2.0","method":"sgc@presence@member@new","member":{"id":"`+r.id+`","name":"raw","info":""}}`)
	conn := r.conn
	go func() { // drain until the socket closes
		for {
			if _, err := conn.Next(time.Hour); err != nil {
				return
			}
		}
	}()
}

func (r *rawActor) channel(t *testing.T, method, ch string) {
	r.write(t, `{"jsonrpc":"2.0","method":"`+method+`","member":{"id":"`+r.id+`","name":"raw","info":""},"channel":{"name":"`+ch+`"}}`)
}

// goActor is one of our clients, with diffs or per event.
type goActor struct {
	c    *Client
	subs map[string]bool
}

// TestDiffsProperty: clients with diffs, per event and third-party ones do
// seeded random joins, subscribes, unsubscribes, updates and leaves in
// bursts. After each burst, once quiet: a diff client's member maps are
// the server's members, and the member callbacks it fired fold to what a
// per-event client's fold to, names and infos included.
func TestDiffsProperty(t *testing.T) {
	srv, url := startRollcall(t, server.Options{})
	ctx := ctxT(t)
	channels := []string{"c0", "c1", "c2"}
	dFold, eFold := newFold(), newFold()
	d := dial(t, url, newRecorder(), dFold.options(Options{Name: "watcher-diffs"}))
	e := dial(t, url, newRecorder(), eFold.options(Options{Name: "watcher-events", PerEvent: true}))
	if !slices.Contains(d.Extensions(), sgcwire.ExtDiffs) || slices.Contains(e.Extensions(), sgcwire.ExtDiffs) {
		t.Fatalf("extensions: diffs client %v, per-event client %v", d.Extensions(), e.Extensions())
	}
	for _, ch := range channels {
		if err := d.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
		if err := e.Subscribe(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}

	rng := rand.New(rand.NewPCG(17, 4))
	goActors := make([]*goActor, 4) // even: diffs, odd: per event
	raws := []*rawActor{{url: url}, {url: url}}
	ids := map[string]bool{} // every actor member id ever
	joins := 0
	dialActor := func(i int) *goActor {
		c, err := Dial(ctx, url, Options{Name: fmt.Sprint("actor-", i), PerEvent: i%2 == 1, NoReconnect: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		ids[c.Member().ID] = true
		return &goActor{c: c, subs: map[string]bool{}}
	}
	step := func() {
		ch := channels[rng.IntN(len(channels))]
		if i := rng.IntN(len(goActors) + len(raws)); i < len(goActors) {
			a := goActors[i]
			switch r := rng.IntN(10); {
			case a == nil:
				goActors[i] = dialActor(i)
			case r < 3 && !a.subs[ch]:
				if err := a.c.Subscribe(ctx, ch); err != nil {
					t.Fatal(err)
				}
				a.subs[ch] = true
			case r < 5 && a.subs[ch]:
				if err := a.c.Unsubscribe(ctx, ch); err != nil {
					t.Fatal(err)
				}
				delete(a.subs, ch)
			case r < 7:
				if err := a.c.Update(ctx, fmt.Sprint("name-", rng.IntN(5)), fmt.Sprint("info-", rng.IntN(3))); err != nil {
					t.Fatal(err)
				}
			case r < 8 && !a.subs[ch]:
				// In and out at once: within one diff window, or across two.
				if err := a.c.Subscribe(ctx, ch); err != nil {
					t.Fatal(err)
				}
				if err := a.c.Unsubscribe(ctx, ch); err != nil {
					t.Fatal(err)
				}
			case r == 9:
				a.c.Close()
				goActors[i] = nil
			}
			return
		} else {
			r := raws[i-len(goActors)]
			switch x := rng.IntN(10); {
			case r.conn == nil:
				joins++
				r.join(t, joins)
				ids[r.id] = true
			case x < 4 && !r.subs[ch]:
				r.channel(t, sgcwire.MethodNewChannelMember, ch)
				r.subs[ch] = true
			case x < 8 && r.subs[ch]:
				r.channel(t, sgcwire.MethodRemoveChannelMember, ch)
				delete(r.subs, ch)
			case x == 9:
				r.conn.Conn.Close()
				r.conn = nil
			}
		}
	}
	for burst := range 6 {
		for range 15 {
			step()
		}
		for _, ch := range append([]string{""}, channels...) {
			testkit.Poll(t, waitFor, func() error {
				want := engineMembers(srv, ch, ids)
				if got := only(d.ChannelMembers(ch), ids); !slices.Equal(got, want) {
					return fmt.Errorf("burst %d, %q: diff client's map %v, server %v", burst, ch, got, want)
				}
				if got := dFold.of(ch, ids); !slices.Equal(got, want) {
					return fmt.Errorf("burst %d, %q: diff client's callbacks fold to %v, server %v", burst, ch, got, want)
				}
				if got := eFold.of(ch, ids); !slices.Equal(got, want) {
					return fmt.Errorf("burst %d, %q: per-event client's callbacks fold to %v, server %v", burst, ch, got, want)
				}
				return nil
			})
		}
	}
}

// TestDiffCancelsJoinAndLeave: a member that enters and leaves a channel
// within one diff window fires nothing on a diff client; a per-event
// client hears both. Whether the two land in one window is the clock's to
// say, so the test tries a few times and asserts on the tries where the
// diffs left the member out (and on the others that both were heard).
func TestDiffCancelsJoinAndLeave(t *testing.T) {
	_, url := startRollcall(t, server.Options{})
	ctx := ctxT(t)
	dFold, eFold := newFold(), newFold()
	var mu sync.Mutex
	inDiffs := map[string]bool{} // ids named by a diff of room
	do := dFold.options(Options{Name: "d", OnRawMessage: func(text string) bool {
		if m, err := sgcwire.Decode([]byte(text)); err == nil && m.Method == sgcwire.MethodDiff && m.Channel == "room" {
			mu.Lock()
			for _, j := range m.Joined {
				inDiffs[j.ID] = true
			}
			for _, id := range m.Left {
				inDiffs[id] = true
			}
			mu.Unlock()
		}
		return false
	}})
	d := dial(t, url, newRecorder(), do)
	e := dial(t, url, newRecorder(), eFold.options(Options{Name: "e", PerEvent: true}))
	for _, c := range []*Client{d, e} {
		if err := c.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
	}
	for try := range 5 {
		y := dial(t, url, newRecorder(), Options{Name: "y", PerEvent: true})
		marker := dial(t, url, newRecorder(), Options{Name: "marker", PerEvent: true})
		for _, err := range []error{y.Subscribe(ctx, "room"), y.Unsubscribe(ctx, "room"), marker.Subscribe(ctx, "room")} {
			if err != nil {
				t.Fatal(err)
			}
		}
		// The marker's entering comes after y's changes in every diff.
		mark := map[string]bool{marker.Member().ID: true}
		testkit.Eventually(t, waitFor, "the marker on d", func() bool { return len(dFold.of("room", mark)) == 1 })
		testkit.Eventually(t, waitFor, "y's leave on e", func() bool { return eFold.callbacksIn("room", y.Member().ID) == 2 })
		mu.Lock()
		named := inDiffs[y.Member().ID]
		mu.Unlock()
		fired := dFold.callbacksIn("room", y.Member().ID)
		if !named {
			if fired != 0 {
				t.Fatalf("try %d: y's in-and-out was in no diff, but d fired %d callbacks for it", try, fired)
			}
			return
		}
		if fired != 2 {
			t.Fatalf("try %d: diffs named y, d fired %d callbacks for it in room, want 2", try, fired)
		}
		if err := marker.Unsubscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("no try had a join and a leave in one diff window")
}

// TestBigListInPages: a 5,000-member channel's list comes in 5 pages of
// one version, the diffs after it apply, and the first list fires no
// callbacks.
func TestBigListInPages(t *testing.T) {
	srv, url := startRollcall(t, server.Options{MemberEvents: presence.MemberEventsSelf})
	ctx := context.Background()
	eng := srv.Engine()
	for i := range 5000 {
		pc := eng.Connect(fmt.Sprintf("%032X", i+1), nopSink{})
		if err := eng.SubscribeWith(ctx, pc, "big", presence.Subscription{Member: &presence.Member{ID: fmt.Sprint("m", i), Name: "n"}}); err != nil {
			t.Fatal(err)
		}
	}
	type page struct {
		version uint64
		n       int
		more    bool
	}
	pages := make(chan page, 10)
	f := newFold()
	o := f.options(Options{Name: "reader", OnRawMessage: func(text string) bool {
		if m, err := sgcwire.Decode([]byte(text)); err == nil && m.Method == sgcwire.MethodList && m.Channel == "big" {
			pages <- page{m.Version, len(m.Members), m.More}
		}
		return false
	}})
	c := dial(t, url, newRecorder(), o)
	if err := c.Subscribe(ctxT(t), "big"); err != nil {
		t.Fatal(err)
	}
	var first uint64
	for i := range 5 {
		p := <-pages
		if i == 0 {
			first = p.version
		}
		if p.n != 1000 || p.version != first || p.more != (i < 4) {
			t.Fatalf("page %d: %+v (first version %d)", i, p, first)
		}
	}
	testkit.Eventually(t, waitFor, "5,001 members in the map", func() bool { return len(c.ChannelMembers("big")) == 5001 })
	pc := eng.Connect(fmt.Sprintf("%032X", 99999), nopSink{})
	if err := eng.SubscribeWith(ctx, pc, "big", presence.Subscription{Member: &presence.Member{ID: "late", Name: "l"}}); err != nil {
		t.Fatal(err)
	}
	if err := eng.Unsubscribe(ctx, eng.Conn(fmt.Sprintf("%032X", 1)), "big"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, waitFor, "the diff applied", func() bool {
		ms := c.ChannelMembers("big")
		return len(ms) == 5001 && slices.ContainsFunc(ms, func(m Member) bool { return m.ID == "late" }) &&
			!slices.ContainsFunc(ms, func(m Member) bool { return m.ID == "m0" })
	})
	testkit.Eventually(t, waitFor, "callbacks for the diff", func() bool { return f.callbacks("late") == 1 && f.callbacks("m0") == 1 })
	if n := f.callbacks("m1"); n != 0 {
		t.Fatalf("the first list fired %d callbacks for m1", n)
	}
	if l := len(pages); l != 0 {
		t.Fatalf("%d more pages", l)
	}
}

type nopSink struct{}

func (nopSink) Deliver(*presence.Event) {}

// TestSubscribeCounts: a counts-only subscriber hears the count at once,
// then at most about four times a second under a storm of joins, and the
// last count is right.
func TestSubscribeCounts(t *testing.T) {
	srv, url := startRollcall(t, server.Options{MemberEvents: presence.MemberEventsSelf})
	type count struct {
		n  int
		at time.Time
	}
	counts := make(chan count, 1000)
	rec := newRecorder()
	c := dial(t, url, rec, Options{Name: "counter", OnCount: func(ch string, n int) {
		if ch == "storm" {
			counts <- count{n, time.Now()}
		}
	}})
	if err := c.SubscribeCounts(ctxT(t), "storm"); err != nil {
		t.Fatal(err)
	}
	if got := <-counts; got.n != 1 {
		t.Fatalf("first count %d, want 1 (the subscriber)", got.n)
	}
	eng, ctx := srv.Engine(), context.Background()
	start := time.Now()
	const joins = 150
	for i := range joins {
		pc := eng.Connect(fmt.Sprintf("%032X", i+1), nopSink{})
		if err := eng.SubscribeWith(ctx, pc, "storm", presence.Subscription{Member: &presence.Member{ID: fmt.Sprint("s", i)}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond) // the storm's pace, not a wait for anything
	}
	var got []count
	for last := 0; last != joins+1; {
		select {
		case x := <-counts:
			got = append(got, x)
			last = x.n
		case <-time.After(waitFor):
			t.Fatalf("no final count; got %v", got)
		}
	}
	elapsed := time.Since(start)
	if max := int(elapsed/presence.DefaultCountInterval) + 2; len(got) > max {
		t.Fatalf("%d counts in %v, want at most %d", len(got), elapsed, max)
	}
	for i := 1; i < len(got); i++ {
		if gap := got[i].at.Sub(got[i-1].at); gap < presence.DefaultCountInterval*4/5 {
			t.Fatalf("counts %d and %d %v apart", i-1, i, gap)
		}
	}
	for len(rec.ch) > 0 {
		if e := <-rec.ch; e.kind == "newchannelmember" && e.member.ID != c.Member().ID {
			t.Fatalf("a counts-only subscriber heard %v", e)
		}
	}
}

// TestUpdate: an update reaches a per-event client that asked for updates,
// and confirms to the updater; a refused one returns CodeUpdateDenied.
func TestUpdate(t *testing.T) {
	hooks := presence.Hooks{BeforeMemberUpdate: func(_ context.Context, _ *presence.Conn, _, m presence.Member) error {
		if m.Name == "forbidden" {
			return presence.ErrUpdateDenied
		}
		return nil
	}}
	_, url := startRollcall(t, server.Options{Hooks: hooks})
	ctx := ctxT(t)
	updates := make(chan string, 10)
	a := dial(t, url, newRecorder(), Options{Name: "a"})
	b := dial(t, url, newRecorder(), Options{Name: "b", PerEvent: true,
		OnMemberUpdate:        func(m Member) { updates <- "server " + m.Name + " " + m.Info },
		OnChannelMemberUpdate: func(ch string, m Member) { updates <- ch + " " + m.Name + " " + m.Info },
	})
	for _, c := range []*Client{a, b} {
		if err := c.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Update(ctx, "ann", "busy"); err != nil {
		t.Fatal(err)
	}
	if m := a.Member(); m.Name != "ann" || m.Info != "busy" {
		t.Fatalf("after the update a is %+v", m)
	}
	got := []string{<-updates, <-updates}
	slices.Sort(got)
	if want := []string{"room ann busy", "server ann busy"}; !slices.Equal(got, want) {
		t.Fatalf("b heard %q, want %q", got, want)
	}
	wantServerError(t, a.Update(ctx, "forbidden", ""), CodeUpdateDenied)
	testkit.Eventually(t, waitFor, "a's map to show the update", func() bool {
		return slices.Contains(a.ChannelMembers("room"), Member{ID: a.Member().ID, Name: "ann", Info: "busy"})
	})
}

// TestAgainstSgcServerNoExtensions: against a server that ignores the
// extension (the fake sgc server), the client works per event and keeps
// no maps.
func TestAgainstSgcServerNoExtensions(t *testing.T) {
	s := newFake(t, false)
	defer s.close()
	c := dial(t, s.url, newRecorder(), Options{Name: "x"})
	if ext := c.Extensions(); ext != nil {
		t.Fatalf("extensions %v from an sgc server", ext)
	}
	if err := c.Subscribe(ctxT(t), "room"); err != nil {
		t.Fatal(err)
	}
	if ms := c.ChannelMembers("room"); ms != nil {
		t.Fatalf("a map %v without diffs", ms)
	}
}
