package presence_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rollcall/rollcall/presence"
)

// leavingMark is put in a recorder by the test itself just before its own
// Leave: from then on the replayed views must forget what they knew. (The
// leaver hears nothing of its own leave; and while Leave runs it has
// already left its channels but is still a member, so it may still hear
// the global channel@member@remove of a channel it has just left.)
var leavingMark = &presence.Event{}

func (r *recorder) mark(ev *presence.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// TestConcurrentViewsStayConsistent runs many connections that join,
// subscribe, publish, ask for member lists, unsubscribe and leave at once,
// then replays what each connection was told. A connection's view of a
// scope (every member, or one channel it is in) starts with a member list
// and is then kept up by join and leave events; it must never see a join of
// someone it already has, a leave of someone it has not, a message from a
// non-member, or a later member list that disagrees with its replayed view.
func TestConcurrentViewsStayConsistent(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("KeepEmptyChannels=%v", keep), func(t *testing.T) {
			testConcurrentViews(t, presence.Options{KeepEmptyChannels: keep})
		})
	}
}

func testConcurrentViews(t *testing.T, opts presence.Options) {
	const (
		workers = 50
		ops     = 300
	)
	channels := []string{"a", "b", "c", "d"}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	e := presence.New(opts)
	recs := make([]*recorder, workers)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	var wg sync.WaitGroup
	for w := range workers {
		recs[w] = &recorder{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			c := e.Connect(sessionID(w), recs[w])
			defer func() {
				recs[w].mark(leavingMark)
				e.Disconnect(c)
			}()
			joined := false
			var subs []string
			check := func(op string, err error, want ...error) {
				for _, ok := range want {
					if errors.Is(err, ok) || err == ok {
						return
					}
				}
				t.Errorf("worker %d: %s: err = %v, want one of %v", w, op, err, want)
			}
			for range ops {
				if ctx.Err() != nil {
					return
				}
				ch := channels[rng.IntN(len(channels))]
				in := slices.Contains(subs, ch)
				switch p := rng.IntN(100); {
				case !joined && p < 90:
					check("join", e.Join(ctx, c, presence.Member{Name: fmt.Sprint("w", w)}), nil)
					joined = true
				case !joined:
					check("subscribe before join", e.Subscribe(ctx, c, ch), presence.ErrMemberNotExists)
				case p < 25:
					if in {
						check("subscribe again", e.Subscribe(ctx, c, ch), presence.ErrSubscriptionExists)
					} else {
						check("subscribe", e.Subscribe(ctx, c, ch), nil)
						subs = append(subs, ch)
					}
				case p < 40:
					if in {
						check("unsubscribe", e.Unsubscribe(ctx, c, ch), nil)
						subs = slices.DeleteFunc(subs, func(s string) bool { return s == ch })
					} else {
						check("unsubscribe, not in", e.Unsubscribe(ctx, c, ch),
							presence.ErrChannelNotExists, presence.ErrSubscriptionNotExist)
					}
				case p < 55:
					if in {
						check("publish", e.Publish(ctx, c, ch, "m"), nil)
					} else {
						check("publish, not in", e.Publish(ctx, c, ch, "m"),
							presence.ErrChannelNotExists, presence.ErrSubscriptionNotExist)
					}
				case p < 60:
					check("publish to all", e.Publish(ctx, c, "", "m"), nil)
				case p < 75:
					check("members", e.SendMembers(ctx, c, ""), nil)
				case p < 94:
					if in {
						check("channel members", e.SendMembers(ctx, c, ch), nil)
					}
				default:
					recs[w].mark(leavingMark)
					check("leave", e.Leave(ctx, c, ""), nil)
					joined, subs = false, nil
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("workers did not finish in time: deadlock?")
	}

	if n := e.MemberCount(); n != 0 {
		t.Errorf("MemberCount() = %d after everyone disconnected", n)
	}
	if all, _ := e.Members(""); len(all) != 0 {
		t.Errorf("Members(\"\") = %v after everyone disconnected", all)
	}
	for _, ci := range e.Channels() {
		if !opts.KeepEmptyChannels || ci.Members != 0 {
			t.Errorf("channel %+v left after everyone disconnected", ci)
		}
	}

	lists := 0
	for w, rec := range recs {
		lists += replay(t, sessionID(w), rec.take())
	}
	t.Logf("%d member lists checked", lists)
}

// replay checks one connection's events, as described above, and returns
// how many member lists it checked against a replayed view.
func replay(t *testing.T, self string, evs []*presence.Event) int {
	t.Helper()
	// views[scope] is the replayed member list of a scope ("" = every
	// member); a scope is absent while unknown.
	// Ids are shortened to their last 8 digits, which tell the test's
	// connections apart.
	views := map[string][]string{}
	short := func(id string) string { return id[max(0, len(id)-8):] }
	ids := func(ms []presence.Member) []string {
		out := make([]string, len(ms))
		for i, m := range ms {
			out[i] = short(m.ID)
		}
		return out
	}
	self = short(self)
	failures := 0
	fail := func(i int, format string, args ...any) {
		failures++
		t.Errorf("conn %s, event %d: %s", self, i, fmt.Sprintf(format, args...))
	}
	checked := 0
	for i, ev := range evs {
		if failures >= 5 {
			t.Errorf("conn %s: more failures not shown", self)
			break
		}
		if ev == leavingMark {
			clear(views)
			continue
		}
		scope := ev.Channel
		view, known := views[scope]
		id := short(ev.Member.ID)
		switch ev.Kind {
		case presence.KindMembers:
			got := ids(ev.Members)
			if known {
				checked++
				if !slices.Equal(got, view) {
					fail(i, "member list of %q is %v, replayed view is %v", scope, got, view)
				}
			}
			views[scope] = got

		case presence.KindNewMember, presence.KindNewChannelMember:
			if (ev.Kind == presence.KindNewMember) != (scope == "") {
				fail(i, "kind %d with channel %q", ev.Kind, scope)
			}
			if known {
				if slices.Contains(view, id) {
					fail(i, "%q: join of %s, already in view %v", scope, id, view)
				}
				views[scope] = append(view, id)
			}

		case presence.KindRemoveMember, presence.KindRemoveChannelMember:
			if (ev.Kind == presence.KindRemoveMember) != (scope == "") {
				fail(i, "kind %d with channel %q", ev.Kind, scope)
			}
			if id == self {
				// Our own unsubscribe (the leaver hears no member@remove).
				delete(views, scope)
				continue
			}
			if known {
				j := slices.Index(view, id)
				if j < 0 {
					fail(i, "%q: leave of %s, not in view %v", scope, id, view)
					continue
				}
				views[scope] = slices.Delete(view, j, j+1)
			}

		case presence.KindPublish:
			if known && (!slices.Contains(view, id) || !slices.Contains(view, self)) {
				fail(i, "%q: message from %s, view %v", scope, id, view)
			}

		default:
			fail(i, "unexpected event kind %d", ev.Kind)
		}
	}
	return checked
}

// A channel@member@remove from Unsubscribe must reach each member before
// any member list that no longer has the unsubscriber: a connection that
// asks for the list while the event is on its way must not get the list
// first. The test holds the event in the first recipient's sink while
// another connection asks for the list.
func TestUnsubscribeEventNotOvertakenByMemberList(t *testing.T) {
	var (
		e        *presence.Engine
		listener *presence.Conn // in the channel, asks for its members
		asked    = make(chan struct{})
		once     sync.Once
	)
	// watcher joined first, so it is the first to hear the global
	// channel@member@remove.
	watcher := sinkFunc(func(ev *presence.Event) {
		if ev.Kind != presence.KindRemoveChannelMember {
			return
		}
		once.Do(func() {
			go func() {
				defer close(asked)
				if err := e.SendMembers(context.Background(), listener, "room"); err != nil {
					t.Errorf("SendMembers: %v", err)
				}
			}()
			// Give the request its chance to overtake the event. If the
			// engine serializes them correctly, it is blocked until the
			// event is out, and this wait just times out.
			select {
			case <-asked:
			case <-time.After(100 * time.Millisecond):
			}
		})
	})
	e = presence.New(presence.Options{})
	ctx := t.Context()
	w := e.Connect(sessionID(1), watcher)
	lrec := &recorder{}
	listener = e.Connect(sessionID(2), lrec)
	leaver := e.Connect(sessionID(3), &recorder{})
	for _, c := range []*presence.Conn{w, listener, leaver} {
		if err := e.Join(ctx, c, presence.Member{}); err != nil {
			t.Fatal(err)
		}
		defer e.Disconnect(c)
	}
	for _, c := range []*presence.Conn{listener, leaver} {
		if err := e.Subscribe(ctx, c, "room"); err != nil {
			t.Fatal(err)
		}
	}
	lrec.take()

	if err := e.Unsubscribe(ctx, leaver, "room"); err != nil {
		t.Fatal(err)
	}
	<-asked

	got := plainAll(lrec.take())
	lm, _ := listener.Member()
	xm := presence.Member{ID: sessionID(3)}
	want := []ev{
		unsubscribed("room", xm),
		{Kind: presence.KindMembers, Member: lm, Channel: "room", Members: []presence.Member{lm}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("listener received:\n%s\nwant:\n%s", evList(got), evList(want))
	}
}

// BeforeNewChannel must be asked whenever a subscription creates a channel,
// even when the channel existed as the subscription began and was freed
// while the other hooks ran.
func TestBeforeNewChannelAskedWhenChannelVanishes(t *testing.T) {
	for _, userMayCreate := range []bool{false, true} {
		t.Run(fmt.Sprintf("userMayCreate=%v", userMayCreate), func(t *testing.T) {
			testChannelVanishes(t, userMayCreate)
		})
	}
}

func testChannelVanishes(t *testing.T, userMayCreate bool) {
	var (
		e     *presence.Engine
		admin *presence.Conn
		calls []string
	)
	e = presence.New(presence.Options{
		Hooks: presence.Hooks{
			// Only admin may create channels, unless userMayCreate.
			BeforeNewChannel: func(_ context.Context, c *presence.Conn, ch string, _ presence.Member) error {
				calls = append(calls, "BeforeNewChannel "+c.ID()[30:])
				if c != admin && !userMayCreate {
					return errors.New("only admin creates channels")
				}
				return nil
			},
			// While the user's subscription is being vetted, admin, the
			// channel's only member, leaves it and the channel is freed.
			BeforeNewChannelMember: func(ctx context.Context, c *presence.Conn, ch string, _ presence.Member) error {
				calls = append(calls, "BeforeNewChannelMember "+c.ID()[30:])
				if c != admin {
					if err := e.Unsubscribe(ctx, admin, ch); err != nil {
						t.Errorf("admin unsubscribe: %v", err)
					}
				}
				return nil
			},
		},
		Events: presence.Events{
			OnNewChannel:    func(ch string) { calls = append(calls, "NewChannel "+ch) },
			OnRemoveChannel: func(ch string) { calls = append(calls, "RemoveChannel "+ch) },
		},
	})
	ctx := t.Context()
	admin = e.Connect(sessionID(0xAD), &recorder{})
	user := e.Connect(sessionID(0x05), &recorder{})
	for _, c := range []*presence.Conn{admin, user} {
		if err := e.Join(ctx, c, presence.Member{}); err != nil {
			t.Fatal(err)
		}
		defer e.Disconnect(c)
	}
	if err := e.Subscribe(ctx, admin, "private"); err != nil {
		t.Fatal(err)
	}

	err := e.Subscribe(ctx, user, "private")

	want := []string{
		"BeforeNewChannel AD", "BeforeNewChannelMember AD", "NewChannel private", // admin creates
		"BeforeNewChannelMember 05", // the channel exists: only the member hook
		"RemoveChannel private",     // admin leaves it
		"BeforeNewChannel 05",       // it vanished: asked after all
	}
	if userMayCreate {
		wantErr(t, err, nil)
		want = append(want, "NewChannel private")
		if chans := e.Channels(); !reflect.DeepEqual(chans, []presence.ChannelInfo{{Name: "private", Members: 1}}) {
			t.Errorf("Channels() = %+v, want private with 1 member", chans)
		}
	} else {
		wantErr(t, err, presence.ErrChannelDenied)
		if chans := e.Channels(); len(chans) != 0 {
			t.Errorf("Channels() = %+v, want none", chans)
		}
		if got := user.Channels(); len(got) != 0 {
			t.Errorf("user.Channels() = %q, want none", got)
		}
	}
	if !slices.Equal(calls, want) {
		t.Errorf("calls:\n  %q\nwant:\n  %q", calls, want)
	}
}
