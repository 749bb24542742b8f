package presence_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rollcall/rollcall/presence"
)

// view is a client's idea of a channel's members, kept from the events it
// received: folded from per-event events, or a list and the diffs after it.
type view struct {
	members map[string]presence.Member
	version uint64
	listed  bool
}

// views folds the events of one connection into a view per channel ("" is
// the server). A ModeDiffs connection's diffs must follow its list and
// start at the version it reached.
type views struct {
	t      *testing.T
	who    string
	byChan map[string]*view
	diffs  int // KindDiff events seen
	events int // per-member events seen
}

func newViews(t *testing.T, who string) *views {
	return &views{t: t, who: who, byChan: make(map[string]*view)}
}

func (vs *views) of(channel string) *view {
	v := vs.byChan[channel]
	if v == nil {
		v = &view{members: make(map[string]presence.Member)}
		vs.byChan[channel] = v
	}
	return v
}

func (vs *views) apply(evs []*presence.Event) {
	vs.t.Helper()
	for _, ev := range evs {
		switch ev.Kind {
		case presence.KindNewMember, presence.KindUpdateMember:
			vs.events++
			vs.of("").members[ev.Member.ID] = ev.Member
		case presence.KindRemoveMember:
			vs.events++
			delete(vs.of("").members, ev.Member.ID)
		case presence.KindNewChannelMember, presence.KindUpdateChannelMember:
			vs.events++
			vs.of(ev.Channel).members[ev.Member.ID] = ev.Member
		case presence.KindRemoveChannelMember:
			vs.events++
			delete(vs.of(ev.Channel).members, ev.Member.ID)
		case presence.KindMembers:
			// A per-event client's starting point (SendMembers).
			v := vs.of(ev.Channel)
			clear(v.members)
			for _, m := range ev.Members {
				v.members[m.ID] = m
			}
		case presence.KindList:
			if ev.List == nil || ev.List.Version != ev.Version {
				vs.t.Fatalf("%s: a list of version %d whose shared List is not", vs.who, ev.Version)
			}
			v := &view{members: make(map[string]presence.Member), version: ev.Version, listed: true}
			for _, m := range ev.Members {
				v.members[m.ID] = m
			}
			vs.byChan[ev.Channel] = v
		case presence.KindDiff:
			vs.diffs++
			v := vs.of(ev.Channel)
			if !v.listed {
				vs.t.Fatalf("%s: a diff of %q before its list", vs.who, ev.Channel)
			}
			if ev.Diff.From != v.version || ev.Version <= ev.Diff.From {
				vs.t.Fatalf("%s: diff of %q from %d to %d on version %d", vs.who, ev.Channel, ev.Diff.From, ev.Version, v.version)
			}
			for _, m := range ev.Diff.Joined {
				v.members[m.ID] = m
			}
			for _, m := range ev.Diff.Updated {
				v.members[m.ID] = m
			}
			for _, id := range ev.Diff.Left {
				delete(v.members, id)
			}
			v.version = ev.Version
		}
	}
}

// check compares the view of channel with the engine's members.
func (vs *views) check(e *presence.Engine, channel string) {
	vs.t.Helper()
	want := map[string]presence.Member{}
	if ms, err := e.Members(channel); err == nil {
		for _, m := range ms {
			want[m.ID] = m
		}
	}
	got := vs.of(channel).members
	if !maps.EqualFunc(got, want, presence.Member.Equal) {
		vs.t.Errorf("%s's view of %q:\n got %v\nwant %v", vs.who, channel, names(got), names(want))
	}
}

func names(ms map[string]presence.Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID+"="+m.Name)
	}
	slices.Sort(out)
	return out
}

// TestDiffsEqualFoldedEvents runs random joins, subscribes, unsubscribes,
// updates and leaves over two nodes, in bursts faster and slower than the
// diff window, and checks after each burst that every observer's view
// equals the engine's: per-event observers folding their events, ModeDiffs
// observers applying their list and diffs (each diff starting where the
// last ended), including one that subscribes late and actors that are
// ModeDiffs themselves.
func TestDiffsEqualFoldedEvents(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { diffProperty(t, seed) })
		})
	}
}

type actor struct {
	conn    *presence.Conn
	e       *presence.Engine
	rec     *recorder
	views   *views
	diffs   bool
	joined  bool
	inRoom  bool
	name    string
	version int
}

func diffProperty(t *testing.T, seed uint64) {
	ctx := context.Background()
	rnd := rand.New(rand.NewPCG(seed, 17))
	net := newFakeNet()
	defer net.close()
	var engines []*presence.Engine
	for _, name := range []string{"a", "b"} {
		br := net.broker(name)
		e := presence.New(presence.Options{Node: name, Broker: br, DiffWindow: 100 * time.Millisecond})
		br.start(e.Receiver())
		engines = append(engines, e)
	}
	n := 0
	connect := func(e *presence.Engine, diffs bool, name string) *actor {
		n++
		a := &actor{e: e, rec: &recorder{}, diffs: diffs, name: name}
		a.conn = e.Connect(sessionID(n), a.rec)
		a.views = newViews(t, name)
		if diffs {
			if err := a.conn.UseDiffs(); err != nil {
				t.Fatal(err)
			}
		}
		return a
	}
	join := func(a *actor) {
		// Observers join as their session; actors under their name, so
		// that one that leaves and comes back is the same member.
		id := ""
		if a.name[0] == 'm' {
			id = a.name
		}
		if err := a.e.Join(ctx, a.conn, presence.Member{ID: id, Name: a.name}); err != nil {
			t.Fatalf("join %s: %v", a.name, err)
		}
		a.joined = true
	}
	subscribe := func(a *actor) {
		if err := a.e.Subscribe(ctx, a.conn, "room"); err != nil {
			t.Fatalf("subscribe %s: %v", a.name, err)
		}
		a.inRoom = true
	}
	var observers []*actor
	for i, e := range engines {
		for _, diffs := range []bool{false, true} {
			o := connect(e, diffs, fmt.Sprintf("observer%d-diffs=%v", i, diffs))
			join(o)
			subscribe(o)
			if !diffs {
				mustOK(t, e.SendMembers(ctx, o.conn, "room"))
				mustOK(t, e.SendMembers(ctx, o.conn, ""))
			}
			observers = append(observers, o)
		}
	}
	var actors []*actor
	for i := range 12 {
		actors = append(actors, connect(engines[i%2], i%3 == 0, fmt.Sprintf("m%d", i)))
	}
	var late *actor
	for burst := range 6 {
		if burst == 3 {
			late = connect(engines[1], true, "late")
			join(late)
			subscribe(late)
			observers = append(observers, late)
		}
		for range 40 {
			a := actors[rnd.IntN(len(actors))]
			switch r := rnd.IntN(10); {
			case !a.joined:
				join(a)
			case !a.inRoom && r < 6:
				subscribe(a)
			case a.inRoom && r < 3:
				if err := a.e.Unsubscribe(ctx, a.conn, "room"); err != nil {
					t.Fatal(err)
				}
				a.inRoom = false
			case r < 6:
				a.version++
				if err := a.e.Update(ctx, a.conn, presence.Member{ID: a.name, Name: a.name, Info: fmt.Appendf(nil, "v%d", a.version)}); err != nil {
					t.Fatal(err)
				}
			case r < 8:
				// Leave and come back at once: the pair cancels in a diff.
				a.e.Disconnect(a.conn)
				wasIn := a.inRoom
				*a = *connect(a.e, a.diffs, a.name)
				join(a)
				if wasIn {
					subscribe(a)
				}
			default:
				a.e.Disconnect(a.conn)
				*a = *connect(a.e, a.diffs, a.name)
			}
			if burst%2 == 1 {
				time.Sleep(time.Duration(rnd.IntN(60)) * time.Millisecond)
			}
		}
		net.settle()
		time.Sleep(time.Second) // past every window
		net.settle()
		synctest.Wait()
		for _, o := range observers {
			o.views.apply(o.rec.take())
			o.views.check(o.e, "room")
			o.views.check(o.e, "")
		}
		for _, a := range actors {
			a.views.apply(a.rec.take())
			if a.diffs && a.inRoom {
				a.views.check(a.e, "room")
			}
		}
	}
	for _, o := range observers[:2] {
		if o.diffs {
			t.Logf("%s: %d diffs, %d per-member events", o.name, o.views.diffs, o.views.events)
		}
	}
	for _, a := range append(actors, observers...) {
		a.e.Disconnect(a.conn)
	}
	net.settle()
	synctest.Wait()
}

// TestDiffWindow: the first change of a quiet channel goes out at once,
// the changes within the window after it in one diff at its end, and a
// join and a leave of one member inside a window cancel.
func TestDiffWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		e := presence.New(presence.Options{DiffWindow: 100 * time.Millisecond})
		obs := &recorder{}
		oc := e.Connect(sessionID(1), obs)
		if err := oc.UseDiffs(); err != nil {
			t.Fatal(err)
		}
		mustOK(t, e.Join(ctx, oc, presence.Member{Name: "obs"}))
		mustOK(t, e.Subscribe(ctx, oc, "room"))
		time.Sleep(time.Second) // the window its own join opened ends
		synctest.Wait()
		obs.take()
		start := time.Now()
		member := func(n int) *presence.Conn {
			c := e.Connect(sessionID(100+n), nopSink{})
			mustOK(t, e.Join(ctx, c, presence.Member{Name: fmt.Sprint("m", n)}))
			mustOK(t, e.Subscribe(ctx, c, "room"))
			return c
		}
		first := member(1)
		synctest.Wait()
		diffs := kinds(obs.take(), presence.KindDiff, "room")
		if len(diffs) != 1 || len(diffs[0].Diff.Joined) != 1 || time.Since(start) != 0 {
			t.Fatalf("first change: %d diffs after %v, want one at once", len(diffs), time.Since(start))
		}
		for n := 2; n <= 5; n++ {
			member(n)
		}
		gone := member(6)
		e.Disconnect(gone) // joined and left inside the window
		e.Disconnect(first)
		synctest.Wait()
		if d := kinds(obs.take(), presence.KindDiff, "room"); len(d) != 0 {
			t.Fatalf("%d diffs inside the window", len(d))
		}
		time.Sleep(100 * time.Millisecond)
		synctest.Wait()
		diffs = kinds(obs.take(), presence.KindDiff, "room")
		if len(diffs) != 1 {
			t.Fatalf("%d diffs at the window's end, want 1", len(diffs))
		}
		d := diffs[0].Diff
		if len(d.Joined) != 4 || len(d.Left) != 1 || d.Left[0] != first.ID() || len(d.Updated) != 0 {
			t.Fatalf("diff: joined %v, left %v, updated %v", d.Joined, d.Left, d.Updated)
		}
		for _, m := range d.Joined {
			if m.ID == gone.ID() {
				t.Fatal("a member that joined and left inside the window is in the diff")
			}
		}
		// A quiet window closes; the next change goes out at once again.
		time.Sleep(time.Second)
		member(7)
		synctest.Wait()
		if d := kinds(obs.take(), presence.KindDiff, "room"); len(d) != 1 {
			t.Fatalf("after a quiet window: %d diffs at once, want 1", len(d))
		}
		e.Disconnect(oc)
		synctest.Wait()
	})
}

// TestCountsArePaced: a ModeCounts subscriber gets the count at once, then
// at most one count per interval while members come and go, the last one
// right; it hears no member events of the others.
func TestCountsArePaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		e := presence.New(presence.Options{CountInterval: 250 * time.Millisecond})
		rec := &recorder{}
		c := e.Connect(sessionID(1), rec)
		mustOK(t, e.Join(ctx, c, presence.Member{Name: "viewer"}))
		me, _ := c.Member()
		mustOK(t, e.SubscribeWith(ctx, c, "live", presence.Subscription{Member: &me, Counts: true}))
		synctest.Wait()
		if cs := kinds(rec.take(), presence.KindCount, "live"); len(cs) != 1 || cs[0].Count != 1 {
			t.Fatalf("first counts: %v", cs)
		}
		start := time.Now()
		var conns []*presence.Conn
		for n := range 200 {
			m := e.Connect(sessionID(10+n), nopSink{})
			mustOK(t, e.Join(ctx, m, presence.Member{}))
			mustOK(t, e.Subscribe(ctx, m, "live"))
			conns = append(conns, m)
			time.Sleep(5 * time.Millisecond) // a join every 5 ms for a second
		}
		time.Sleep(time.Second)
		synctest.Wait()
		evs := rec.take()
		for _, ev := range evs {
			if ev.Kind == presence.KindNewChannelMember {
				t.Fatalf("a counts subscriber got %v", ev.Kind)
			}
		}
		cs := kinds(evs, presence.KindCount, "live")
		elapsed := time.Since(start)
		if max := int(elapsed/(250*time.Millisecond)) + 1; len(cs) > max || len(cs) < 2 {
			t.Fatalf("%d counts in %v, want 2..%d", len(cs), elapsed, max)
		}
		if last := cs[len(cs)-1].Count; last != 201 {
			t.Fatalf("last count %d, want 201", last)
		}
		for _, m := range append(conns, c) {
			e.Disconnect(m)
		}
		synctest.Wait()
	})
}

// TestCountRateStretchesTheInterval: a channel with more counts-only
// subscribers than the node's count rate allows at the interval hears its
// count every subscribers / rate seconds instead, the last one right.
func TestCountRateStretchesTheInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		// 20 counts subscribers at 10 frames a second: a count every 2 s.
		e := presence.New(presence.Options{CountInterval: 100 * time.Millisecond, CountRate: 10})
		var viewers []*presence.Conn
		var recs []*recorder
		for n := range 20 {
			rec := &recorder{}
			c := e.Connect(sessionID(n), rec)
			mustOK(t, e.Join(ctx, c, presence.Member{}))
			me, _ := c.Member()
			mustOK(t, e.SubscribeWith(ctx, c, "live", presence.Subscription{Member: &me, Counts: true}))
			viewers, recs = append(viewers, c), append(recs, rec)
		}
		time.Sleep(3 * time.Second) // the viewers' own counts settle
		synctest.Wait()
		for _, rec := range recs {
			rec.take()
		}
		start := time.Now()
		var conns []*presence.Conn
		for n := range 100 {
			m := e.Connect(sessionID(100+n), nopSink{})
			mustOK(t, e.Join(ctx, m, presence.Member{}))
			mustOK(t, e.Subscribe(ctx, m, "live"))
			conns = append(conns, m)
			time.Sleep(60 * time.Millisecond) // a join every 60 ms for 6 s
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		elapsed := time.Since(start)
		for i, rec := range recs {
			cs := kinds(rec.take(), presence.KindCount, "live")
			// At the interval alone it would be about 60 counts.
			if most := int(elapsed/(2*time.Second)) + 1; len(cs) > most || len(cs) < 2 {
				t.Fatalf("viewer %d: %d counts in %v, want 2..%d", i, len(cs), elapsed, most)
			}
			if last := cs[len(cs)-1].Count; last != 120 {
				t.Fatalf("viewer %d: last count %d, want 120", i, last)
			}
		}
		for _, m := range append(conns, viewers...) {
			e.Disconnect(m)
		}
		synctest.Wait()
	})
}

// TestMembersPageUnderChanges pages through a channel while members join
// and leave: every member present from the first page to the last is on
// exactly one page.
func TestMembersPageUnderChanges(t *testing.T) {
	ctx := context.Background()
	e := presence.New(presence.Options{})
	var stay []*presence.Conn
	for n := range 300 {
		c := e.Connect(sessionID(n), nopSink{})
		mustOK(t, e.Join(ctx, c, presence.Member{}))
		mustOK(t, e.Subscribe(ctx, c, "big"))
		stay = append(stay, c)
	}
	churn := stay[:100] // these leave while paging, and others come
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if n < len(churn) {
				e.Disconnect(churn[n])
			}
			c := e.Connect(sessionID(1000+n), nopSink{})
			_ = e.Join(ctx, c, presence.Member{})
			_ = e.Subscribe(ctx, c, "big")
		}
	}()
	seen := map[string]int{}
	var cursor uint64
	for pages := 0; ; pages++ {
		p, err := e.MembersPage("big", cursor, 7)
		mustOK(t, err)
		for _, m := range p.Members {
			seen[m.ID]++
		}
		if p.Next == 0 {
			break
		}
		if p.Next <= cursor && pages > 0 {
			t.Fatalf("cursor went back: %d after %d", p.Next, cursor)
		}
		cursor = p.Next
	}
	close(stop)
	<-done
	for _, c := range stay[100:] {
		if seen[c.ID()] != 1 {
			t.Errorf("member %s present throughout is on %d pages", c.ID(), seen[c.ID()])
		}
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("member %s is on %d pages", id, n)
		}
	}
}

// TestUpdate: an update reaches per-event subscribers as an event, diff
// subscribers in a diff, the updater as its confirmation; a veto refuses
// it and tells nobody; an update that changes nothing tells nobody.
func TestUpdate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		var denied bool
		e := presence.New(presence.Options{Hooks: presence.Hooks{
			BeforeMemberUpdate: func(_ context.Context, _ *presence.Conn, old, m presence.Member) error {
				if string(m.Info) == "bad" {
					denied = true
					return &presence.Error{Text: "not that"}
				}
				return nil
			},
		}})
		ev, df, me := &recorder{}, &recorder{}, &recorder{}
		evc, dfc, mec := e.Connect(sessionID(1), ev), e.Connect(sessionID(2), df), e.Connect(sessionID(3), me)
		mustOK(t, dfc.UseDiffs())
		mustOK(t, mec.UseDiffs())
		for _, c := range []*presence.Conn{evc, dfc, mec} {
			mustOK(t, e.Join(ctx, c, presence.Member{Name: "x"}))
			mustOK(t, e.Subscribe(ctx, c, "room"))
		}
		synctest.Wait()
		time.Sleep(time.Second)
		ev.take()
		df.take()
		me.take()
		err := e.Update(ctx, mec, presence.Member{Name: "y", Info: []byte("bad")})
		wantErr(t, err, presence.ErrUpdateDenied)
		mustOK(t, e.Update(ctx, mec, presence.Member{Name: "x"})) // no change
		synctest.Wait()
		if n := len(ev.take()) + len(df.take()) + len(me.take()); n != 0 || !denied {
			t.Fatalf("a refused or empty update told %d events (hook ran: %v)", n, denied)
		}
		mustOK(t, e.Update(ctx, mec, presence.Member{Name: "y", Info: []byte("hi")}))
		time.Sleep(time.Second)
		synctest.Wait()
		want := presence.Member{ID: mec.ID(), Name: "y", Info: []byte("hi")}
		if got := kinds(ev.take(), presence.KindUpdateChannelMember, "room"); len(got) != 1 || !got[0].Member.Equal(want) {
			t.Fatalf("per-event subscriber got %v", got)
		}
		if got := kinds(df.take(), presence.KindDiff, "room"); len(got) != 1 || len(got[0].Diff.Updated) != 1 || !got[0].Diff.Updated[0].Equal(want) {
			t.Fatalf("diff subscriber got %v", got)
		}
		if got := kinds(me.take(), presence.KindUpdateChannelMember, "room"); len(got) != 1 {
			t.Fatalf("the updater got %d confirmations", len(got))
		}
		if m, _ := mec.Member(); !m.Equal(want) {
			t.Fatalf("Member() = %v", m)
		}
		for _, c := range []*presence.Conn{evc, dfc, mec} {
			e.Disconnect(c)
		}
		synctest.Wait()
	})
}

// kinds returns the events of kind about channel.
func kinds(evs []*presence.Event, kind presence.Kind, channel string) []*presence.Event {
	var out []*presence.Event
	for _, ev := range evs {
		if ev.Kind == kind && ev.Channel == channel {
			out = append(out, ev)
		}
	}
	return out
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeadNodeIsOneDiff: the entries of a node that died go to a diff
// subscriber as one diff and to a counts subscriber as one count, at
// once, not the first leave at once and the rest a window later.
func TestDeadNodeIsOneDiff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		e := presence.New(presence.Options{DiffWindow: 100 * time.Millisecond, CountInterval: 250 * time.Millisecond})
		obs, viewer := &recorder{}, &recorder{}
		oc := e.Connect(sessionID(1), obs)
		mustOK(t, oc.UseDiffs())
		mustOK(t, e.Join(ctx, oc, presence.Member{Name: "obs"}))
		mustOK(t, e.Subscribe(ctx, oc, "room"))
		vc := e.Connect(sessionID(2), viewer)
		mustOK(t, e.Join(ctx, vc, presence.Member{Name: "viewer"}))
		me, _ := vc.Member()
		mustOK(t, e.SubscribeWith(ctx, vc, "room", presence.Subscription{Member: &me, Counts: true}))
		r := e.Receiver()
		for n := range 50 {
			m := presence.Member{ID: fmt.Sprint("remote", n), Name: fmt.Sprint("r", n)}
			r.Apply("b", presence.Change{Op: presence.OpAdd, Conn: fmt.Sprint("c", n), Channel: presence.Everyone, Member: m})
			r.Apply("b", presence.Change{Op: presence.OpAdd, Conn: fmt.Sprint("c", n), Channel: "room", Member: m})
		}
		time.Sleep(time.Second) // every window and interval ends
		synctest.Wait()
		obs.take()
		viewer.take()

		r.Forget("b")
		synctest.Wait() // no time passes
		diffs := kinds(obs.take(), presence.KindDiff, "room")
		if len(diffs) != 1 || len(diffs[0].Diff.Left) != 50 {
			var left []int
			for _, d := range diffs {
				left = append(left, len(d.Diff.Left))
			}
			t.Fatalf("at the node's death: %d diffs with %v leaves, want one with 50", len(diffs), left)
		}
		counts := kinds(viewer.take(), presence.KindCount, "room")
		if len(counts) != 1 || counts[0].Count != 2 {
			t.Fatalf("at the node's death: counts %v, want one of 2", counts)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if d, c := kinds(obs.take(), presence.KindDiff, "room"), kinds(viewer.take(), presence.KindCount, "room"); len(d)+len(c) != 0 {
			t.Fatalf("after the death: %d more diffs and %d more counts", len(d), len(c))
		}
		e.Disconnect(oc)
		e.Disconnect(vc)
		synctest.Wait()
	})
}
