package presence_test

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"reflect"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rollcall/rollcall/presence"
)

// newGroupHarness is a harness whose group events are logged too, as
// "Added lobby alice" and "Removed lobby alice" (with "+member" when the
// connection's member was still joined when the event ran).
func newGroupHarness(t *testing.T, opts presence.Options) *harness {
	t.Helper()
	var h *harness
	log := new(callLog)
	name := func(c *presence.Conn) string {
		for _, cl := range h.clients {
			if cl.Conn == c {
				return cl.m.Name
			}
		}
		return "?" + c.ID()
	}
	ev := &opts.Events
	if ev.OnClientAdded == nil {
		ev.OnClientAdded = func(g string, c *presence.Conn) { log.add("Added", g, name(c)) }
	}
	if ev.OnClientRemoved == nil {
		ev.OnClientRemoved = func(g string, c *presence.Conn) {
			s := name(c)
			if _, ok := c.Member(); ok {
				s += "+member"
			}
			log.add("Removed", g, s)
		}
	}
	h = newHarness(t, opts)
	h.calls = log
	return h
}

// add files c into groups, which must succeed, then forgets every event
// and call so far.
func (h *harness) add(c *client, groups ...string) {
	h.t.Helper()
	for _, g := range groups {
		if err := h.e.Groups().Add(g, c.Conn); err != nil {
			h.t.Fatalf("add %s to %q: %v", c.m.Name, g, err)
		}
	}
	h.drain()
}

// groupMsg is the event a group message delivers: the group as channel,
// no member.
func groupMsg(group, text string) ev {
	return ev{Kind: presence.KindPublish, Channel: group, Text: text}
}

func TestGroupsBroadcastPatterns(t *testing.T) {
	h := newGroupHarness(t, presence.Options{})
	groups := map[string]string{ // connection → its group
		"sales":      "sales",
		"eu":         "sales/eu",
		"north":      "sales/eu/north",
		"us":         "sales/us",
		"support":    "support",
		"salesforce": "salesforce",
		"Sales":      "Sales",
		"a1":         "a1",
		"a22":        "a22",
		"dir":        "sales/",
	}
	byName := map[string]*client{}
	for _, name := range slices.Sorted(maps.Keys(groups)) {
		c := h.connect(name) // groups do not need a member
		byName[name] = c
		h.add(c, groups[name])
	}

	for _, tc := range []struct {
		pattern string
		want    []string // connections that receive it
		err     error
	}{
		{"*", []string{"sales", "eu", "north", "us", "support", "salesforce", "Sales", "a1", "a22", "dir"}, nil},
		{"sales/*", []string{"eu", "north", "us", "dir"}, nil},
		{"sales/eu/*", []string{"north"}, nil},
		{"sales/eu", []string{"eu"}, nil},
		{"sales", []string{"sales"}, nil},
		{"sales/eu/north", []string{"north"}, nil},
		{"Sales", []string{"Sales"}, nil},                // case-sensitive
		{"SALES/*", nil, nil},                            // case-sensitive
		{"nobody", nil, nil},                             // no such group: 0, no error
		{"sales*", []string{"sales", "salesforce"}, nil}, // '*' stops at '/'
		{"*/eu", []string{"eu"}, nil},
		{"*/*", []string{"eu", "north", "us", "dir"}, nil},
		{"sales/?s", []string{"us"}, nil},
		{"a?", []string{"a1"}, nil},
		{"a[0-9]*", []string{"a1", "a22"}, nil},
		{"[Ss]ales", []string{"sales", "Sales"}, nil},
		{`sales\*`, nil, nil},
		{"s*/eu/*", []string{"north"}, nil},
		{"[", nil, path.ErrBadPattern},
		{"sales/[a-", nil, path.ErrBadPattern},
	} {
		t.Run(tc.pattern, func(t *testing.T) {
			n, err := h.e.Groups().Broadcast(tc.pattern, "to "+tc.pattern)
			if !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("Broadcast(%q) err = %v, want %v", tc.pattern, err, tc.err)
			}
			if n != len(tc.want) {
				t.Errorf("Broadcast(%q) = %d, want %d", tc.pattern, n, len(tc.want))
			}
			for name, c := range byName {
				if slices.Contains(tc.want, name) {
					h.expect(c, groupMsg(groups[name], "to "+tc.pattern))
				} else {
					h.expect(c)
				}
			}
		})
	}
	// Group messages are no engine publish: no event.
	h.expectCalls()
}

func TestGroupsBroadcastOnce(t *testing.T) {
	h := newGroupHarness(t, presence.Options{})
	a, b, c := h.connect("a"), h.connect("b"), h.connect("c")
	h.add(a, "support", "sales/us", "sales/eu")
	h.add(b, "sales/us")
	h.add(c, "support")

	n, err := h.e.Groups().Broadcast("*", "all")
	if err != nil || n != 3 {
		t.Fatalf("Broadcast(*) = %d, %v; want 3", n, err)
	}
	// a is in three matching groups: it hears the first in name order once.
	h.expect(a, groupMsg("sales/eu", "all"))
	h.expect(b, groupMsg("sales/us", "all"))
	h.expect(c, groupMsg("support", "all"))

	n, err = h.e.Groups().Broadcast("sales/*", "sales")
	if err != nil || n != 2 {
		t.Fatalf("Broadcast(sales/*) = %d, %v; want 2", n, err)
	}
	h.expect(a, groupMsg("sales/eu", "sales"))
	h.expect(b, groupMsg("sales/us", "sales"))
	h.expect(c)
}

// TestGroupsEncodeOnce checks that every recipient of one group gets the
// same *Event (so a protocol encodes it once), one per group.
func TestGroupsEncodeOnce(t *testing.T) {
	h := newGroupHarness(t, presence.Options{})
	cs := []*client{h.connect("a"), h.connect("b"), h.connect("c"), h.connect("d")}
	h.add(cs[0], "x")
	h.add(cs[1], "x")
	h.add(cs[2], "x")
	h.add(cs[3], "y")
	if n, err := h.e.Groups().Broadcast("*", "hi"); n != 4 || err != nil {
		t.Fatalf("Broadcast = %d, %v", n, err)
	}
	var got []*presence.Event
	for _, c := range cs {
		evs := c.rec.take()
		if len(evs) != 1 {
			t.Fatalf("%s got %d events", c.m.Name, len(evs))
		}
		got = append(got, evs[0])
	}
	if got[0] != got[1] || got[1] != got[2] {
		t.Errorf("recipients of x got different *Event values")
	}
	if got[0] == got[3] {
		t.Errorf("x and y share an *Event; each group needs its own channel")
	}
	// And through the Group handle.
	if err := h.e.Groups().Group("x").Broadcast("again"); err != nil {
		t.Fatal(err)
	}
	e0, e1 := cs[0].rec.take(), cs[1].rec.take()
	if len(e0) != 1 || len(e1) != 1 || e0[0] != e1[0] {
		t.Fatalf("Group.Broadcast: %v %v", e0, e1)
	}
	h.expect(cs[3])
}

func TestGroupsAddRemoveEvents(t *testing.T) {
	h := newGroupHarness(t, presence.Options{})
	alice, bob := h.join1("alice"), h.join1("bob")
	g := h.e.Groups()

	for _, grp := range []string{"lobby", "admins", "lobby"} { // twice: no-op
		if err := g.Add(grp, alice.Conn); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Add("lobby", bob.Conn); err != nil {
		t.Fatal(err)
	}
	h.expectCalls("Added lobby alice", "Added admins alice", "Added lobby bob")
	if got := g.Of(alice.Conn); !reflect.DeepEqual(got, []string{"admins", "lobby"}) {
		t.Errorf("Of(alice) = %q", got)
	}
	if got := g.Names(); !reflect.DeepEqual(got, []string{"admins", "lobby"}) {
		t.Errorf("Names = %q", got)
	}
	if got, want := g.List(), []presence.GroupInfo{{"admins", 1}, {"lobby", 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("List = %+v, want %+v", got, want)
	}
	conns := g.Conns("lobby")
	if len(conns) != 2 || conns[0] != alice.Conn || conns[1] != bob.Conn { // sorted by session id
		t.Errorf("Conns(lobby) = %v", conns)
	}
	if l := g.Group("lobby"); l == nil || l.Name() != "lobby" || l.Len() != 2 || len(l.Conns()) != 2 {
		t.Errorf("Group(lobby) = %+v", l)
	}

	if !g.Remove("admins", alice.Conn) {
		t.Error("Remove(admins, alice) = false")
	}
	if g.Remove("admins", alice.Conn) || g.Remove("nowhere", alice.Conn) || g.Remove("lobby", h.connect("x").Conn) {
		t.Error("Remove of a connection not in the group = true")
	}
	h.expectCalls("Removed admins alice+member")
	if g.Group("admins") != nil || g.Conns("admins") != nil {
		t.Error("admins still exists with no connection")
	}

	// Disconnect takes the connection out of every group, member still
	// joined while the events run, before the member leaves.
	h.add(alice, "zeta", "alpha")
	h.e.Disconnect(alice.Conn)
	h.expectCalls("Removed alpha alice+member", "Removed lobby alice+member", "Removed zeta alice+member",
		"RemoveMember alice")
	if got := g.Names(); !reflect.DeepEqual(got, []string{"lobby"}) {
		t.Errorf("Names after disconnect = %q", got)
	}
	if got := g.Of(alice.Conn); got != nil {
		t.Errorf("Of(disconnected) = %q", got)
	}
	wantErr(t, g.Add("lobby", alice.Conn), presence.ErrClosed)
	h.e.Disconnect(alice.Conn) // idempotent, no second event
	h.e.Disconnect(bob.Conn)
	h.expectCalls("Removed lobby bob+member", "RemoveMember bob")
	if got := g.Names(); len(got) != 0 {
		t.Errorf("Names after everyone left = %q", got)
	}
	if g.Remove("lobby", bob.Conn) {
		t.Error("Remove after disconnect = true")
	}
	h.expectCalls()

	// A connection that never joined is removed too, without a member.
	x := h.connect("x")
	h.add(x, "lobby")
	h.e.Disconnect(x.Conn)
	h.expectCalls("Removed lobby x")
}

func TestGroupsInvalid(t *testing.T) {
	h := newGroupHarness(t, presence.Options{})
	c := h.connect("a")
	g := h.e.Groups()
	wantErr(t, g.Add("", c.Conn), presence.ErrInvalidGroup)
	wantErr(t, g.Add("bad\xff", c.Conn), presence.ErrInvalidGroup)
	wantErr(t, g.Add("x", &presence.Conn{}), presence.ErrClosed) // not this engine's
	wantErr(t, g.Add("x", presence.New(presence.Options{}).Connect("Z", nil)), presence.ErrClosed)
	h.expectCalls()
	if g.Group("x") != nil || len(g.Names()) != 0 {
		t.Error("a refused Add created a group")
	}
}

func TestGroupHandleVanishes(t *testing.T) {
	h := newGroupHarness(t, presence.Options{})
	a, b := h.connect("a"), h.connect("b")
	h.add(a, "room")
	h.add(b, "room")
	g := h.e.Groups()
	room := g.Group("room")
	if g.Group("nope") != nil {
		t.Fatal("Group(nope) != nil")
	}
	if err := room.Broadcast("one"); err != nil {
		t.Fatal(err)
	}
	h.expect(a, groupMsg("room", "one"))
	h.expect(b, groupMsg("room", "one"))

	g.Remove("room", a.Conn)
	if err := room.Broadcast("two"); err != nil {
		t.Fatal(err)
	}
	h.expect(a) // removed: hears nothing more
	h.expect(b, groupMsg("room", "two"))

	h.e.Disconnect(b.Conn) // the last one: the group is gone
	err := room.Broadcast("three")
	if !errors.Is(err, presence.ErrGroupNotExists) {
		t.Fatalf("Broadcast on a vanished group: %v", err)
	}
	if room.Len() != 0 || room.Conns() != nil {
		t.Errorf("vanished group: Len %d, Conns %v", room.Len(), room.Conns())
	}
	if n, err := g.Broadcast("room", "four"); n != 0 || err != nil {
		t.Errorf("Groups.Broadcast(room) = %d, %v", n, err)
	}
	h.expectNothing()

	// The handle names the group: refilled, it works again.
	h.add(a, "room")
	if err := room.Broadcast("five"); err != nil {
		t.Fatal(err)
	}
	h.expect(a, groupMsg("room", "five"))
}

// TestGroupsSeedExample is sgc's example: the group hears who logs in and
// who disconnects. Connections are filed from OnNewMember, which runs with
// the connection's lock held; nothing deadlocks.
func TestGroupsSeedExample(t *testing.T) {
	var e *presence.Engine
	tell := func(group string, c *presence.Conn, what string) {
		m, _ := c.Member()
		if g := e.Groups().Group(group); g != nil {
			_ = g.Broadcast(m.Name + " has " + what)
		}
	}
	h := newGroupHarness(t, presence.Options{Events: presence.Events{
		OnNewMember: func(c *presence.Conn, m presence.Member) {
			if err := e.Groups().Add("lobby", c); err != nil {
				t.Errorf("Add: %v", err)
			}
		},
		OnClientAdded:   func(g string, c *presence.Conn) { tell(g, c, "logged in") },
		OnClientRemoved: func(g string, c *presence.Conn) { tell(g, c, "disconnected") },
	}})
	e = h.e.nodes[0]
	alice := h.connect("alice")
	if err := e.Join(t.Context(), alice.Conn, alice.m); err != nil {
		t.Fatal(err)
	}
	h.expect(alice, joined(alice.m), groupMsg("lobby", "alice has logged in"))
	bob := h.connect("bob")
	if err := e.Join(t.Context(), bob.Conn, bob.m); err != nil {
		t.Fatal(err)
	}
	h.expect(alice, joined(bob.m), groupMsg("lobby", "bob has logged in"))
	h.expect(bob, joined(bob.m), groupMsg("lobby", "bob has logged in"))
	e.Disconnect(alice.Conn)
	h.expect(bob, groupMsg("lobby", "alice has disconnected"), left(alice.m))
	h.expect(alice)
	e.Disconnect(bob.Conn) // the group vanishes before its event: nothing to tell
	h.expectNothing()
}

// TestGroupsConcurrent races Add, Remove, Broadcast and Disconnect (run
// with -race) and checks that nothing is left over.
func TestGroupsConcurrent(t *testing.T) {
	var mu sync.Mutex
	in := map[string]int{} // group/conn → adds minus removes, from the events
	h := newGroupHarness(t, presence.Options{Events: presence.Events{
		OnClientAdded: func(g string, c *presence.Conn) {
			mu.Lock()
			in[g+"/"+c.ID()]++
			mu.Unlock()
		},
		OnClientRemoved: func(g string, c *presence.Conn) {
			mu.Lock()
			in[g+"/"+c.ID()]--
			mu.Unlock()
		},
	}})
	g := h.e.Groups()
	var cs []*client
	for i := range 16 {
		cs = append(cs, h.connect(fmt.Sprint("c", i)))
	}
	names := []string{"a", "a/b", "a/b/c", "d", "e/f"}
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				name := names[(i+j)%len(names)]
				switch j % 4 {
				case 0, 1:
					if err := g.Add(name, c.Conn); err != nil {
						t.Errorf("Add: %v", err)
						return
					}
				case 2:
					g.Remove(name, c.Conn)
				case 3:
					if _, err := g.Broadcast([]string{"*", "a/*", "d", "?/f"}[(i+j)%4], "x"); err != nil {
						t.Errorf("Broadcast: %v", err)
					}
					_ = g.Group(name)
					_ = g.List()
					_ = g.Of(c.Conn)
				}
			}
			h.e.Disconnect(c.Conn)
			_ = g.Add("late", c.Conn) // ErrClosed, must not leak
		}()
	}
	wg.Wait()
	if got := g.Names(); len(got) != 0 {
		t.Errorf("groups left after every disconnect: %q", got)
	}
	for k, v := range in {
		if v != 0 {
			t.Errorf("%s: %d more added than removed events", k, v)
		}
	}
}

// TestMissingGroupHandle: Group of an unknown name is nil, and its methods
// report the missing group instead of panicking.
func TestMissingGroupHandle(t *testing.T) {
	g := presence.New(presence.Options{}).Groups().Group("nobody")
	if g != nil {
		t.Fatal("handle for a missing group")
	}
	wantErr(t, g.Broadcast("x"), presence.ErrGroupNotExists)
	if g.Len() != 0 || g.Name() != "" || g.Conns() != nil {
		t.Fatal("nil group reports contents")
	}
}

// funcSink is a Sink that calls itself with each event.
type funcSink func(*presence.Event)

func (f funcSink) Deliver(ev *presence.Event) { f(ev) }

// TestGroupBroadcastHoldsNoGroupsLock: a broadcast delivers with no lock of
// the groups held, so a sink may file connections into other groups while
// it is handed a group message.
func TestGroupBroadcastHoldsNoGroupsLock(t *testing.T) {
	e := presence.New(presence.Options{})
	gs := e.Groups()
	other := e.Connect(sessionID(2), &recorder{})
	var names []string
	a := e.Connect(sessionID(1), funcSink(func(*presence.Event) {
		if err := gs.Add("replies", other); err != nil {
			t.Error(err)
		}
		names = gs.Names()
		gs.Remove("replies", other)
	}))
	if err := gs.Add("news", a); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if n, err := gs.Broadcast("news", "x"); n != 1 || err != nil {
			t.Errorf("Broadcast = %d, %v", n, err)
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a sink's Add during a group broadcast deadlocked: the broadcast holds the groups' lock")
	}
	if !slices.Equal(names, []string{"news", "replies"}) {
		t.Errorf("Names during the broadcast = %q", names)
	}
}

// TestGroupRemoveWaitsForBroadcast: a broadcast under way still reaches a
// connection removed meanwhile before Remove returns; after, nothing more
// does.
func TestGroupRemoveWaitsForBroadcast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := presence.New(presence.Options{})
		gs := e.Groups()
		entered, gate := make(chan struct{}), make(chan struct{})
		var first sync.Once
		slow := e.Connect(sessionID(1), funcSink(func(*presence.Event) {
			first.Do(func() {
				close(entered)
				<-gate
			})
		}))
		rec := &recorder{}
		b := e.Connect(sessionID(2), rec)
		// slow was filed first: the group's outbox hands it the message
		// first, and b waits behind it.
		for _, c := range []*presence.Conn{slow, b} {
			if err := gs.Add("room", c); err != nil {
				t.Fatal(err)
			}
		}
		go func() { _, _ = gs.Broadcast("room", "hello") }()
		<-entered
		removed := make(chan bool)
		go func() { removed <- gs.Remove("room", b) }()
		synctest.Wait()
		select {
		case <-removed:
			t.Fatal("Remove returned before the broadcast under way reached the connection")
		default:
		}
		close(gate)
		if !<-removed {
			t.Fatal("Remove = false")
		}
		if got := rec.take(); len(got) != 1 || string(got[0].Data) != "hello" {
			t.Fatalf("b got %v, want the broadcast", got)
		}
		if _, err := gs.Broadcast("room", "after"); err != nil {
			t.Fatal(err)
		}
		if got := rec.take(); len(got) != 0 {
			t.Fatalf("b got %v after Remove", got)
		}
	})
}
