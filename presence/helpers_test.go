package presence_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/rollcall/rollcall/presence"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a Sink that keeps, in order, every event delivered to one
// connection.
type recorder struct {
	mu     sync.Mutex
	events []*presence.Event
}

func (r *recorder) Deliver(ev *presence.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// take returns the events recorded so far and forgets them.
func (r *recorder) take() []*presence.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.events
	r.events = nil
	return evs
}

// nopSink drops everything; for benchmarks.
type nopSink struct{}

func (nopSink) Deliver(*presence.Event) {}

// client is one connection of a test, with its recorder and the identity
// it joins (or joined) with.
type client struct {
	*presence.Conn
	rec *recorder
	m   presence.Member
}

// callLog records hook and event calls as short strings, in call order.
type callLog struct {
	mu    sync.Mutex
	calls []string
}

func (l *callLog) add(parts ...string) {
	l.mu.Lock()
	l.calls = append(l.calls, strings.Join(parts, " "))
	l.mu.Unlock()
}

func (l *callLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	calls := l.calls
	l.calls = nil
	return calls
}

// harness is an engine with recording connections. Its engine's Events
// (those the test left nil) write to calls as "NewMember alice",
// "NewChannelMember room alice", and so on; hooks a test installs may write
// there too (h.calls.add), so that the order of hooks and events can be
// checked in one list.
type harness struct {
	t       *testing.T
	e       *cluster
	calls   *callLog
	clients []*client
	next    int
}

func newHarness(t *testing.T, opts presence.Options) *harness {
	t.Helper()
	h := &harness{t: t, calls: new(callLog)}
	ev := &opts.Events
	if ev.OnNewMember == nil {
		ev.OnNewMember = func(c *presence.Conn, m presence.Member) {
			h.calls.add("NewMember", who(c, m))
		}
	}
	if ev.OnRemoveMember == nil {
		ev.OnRemoveMember = func(c *presence.Conn, m presence.Member) {
			h.calls.add("RemoveMember", who(c, m))
		}
	}
	if ev.OnNewChannel == nil {
		ev.OnNewChannel = func(ch string) { h.calls.add("NewChannel", ch) }
	}
	if ev.OnRemoveChannel == nil {
		ev.OnRemoveChannel = func(ch string) { h.calls.add("RemoveChannel", ch) }
	}
	if ev.OnNewChannelMember == nil {
		ev.OnNewChannelMember = func(c *presence.Conn, ch string, m presence.Member) {
			h.calls.add("NewChannelMember", ch, who(c, m))
		}
	}
	if ev.OnRemoveChannelMember == nil {
		ev.OnRemoveChannelMember = func(c *presence.Conn, ch string, m presence.Member) {
			h.calls.add("RemoveChannelMember", ch, who(c, m))
		}
	}
	if ev.OnPublish == nil {
		ev.OnPublish = func(c *presence.Conn, ch string, m presence.Member, text string) {
			h.calls.add("Publish", fmt.Sprintf("%q", ch), who(c, m), text)
		}
	}
	h.e = newCluster(harnessNodes, opts)
	t.Cleanup(h.e.close)
	return h
}

// harnessNodes is how many nodes a harness spreads its connections over
// (TestOverTwoNodes sets it to 2).
var harnessNodes = 1

// who names a member in the call log by its Name, and flags a member that
// is not the connection's own (c is nil for server broadcasts).
func who(c *presence.Conn, m presence.Member) string {
	name := m.Name
	if name == "" {
		name = "<server>"
	}
	if c != nil && c.ID() != m.ID {
		name += "(conn " + c.ID() + ")"
	}
	return name
}

// sessionID makes a session id in the engine's format, 32 uppercase hex.
func sessionID(n int) string { return fmt.Sprintf("%032X", 0xC0FFEE00+n) }

// connect connects a new client that will join as name; over several
// nodes, client n goes to node n%nodes.
func (h *harness) connect(name string) *client { return h.connectOn(h.next+1, name) }

// connectOn connects a new client to node i (modulo the number of nodes).
func (h *harness) connectOn(i int, name string) *client {
	h.next++
	id := sessionID(h.next)
	rec := &recorder{}
	c := &client{
		Conn: h.e.ConnectOn(i, id, rec),
		rec:  rec,
		m:    presence.Member{ID: id, Name: name, Info: []byte("info of " + name)},
	}
	h.clients = append(h.clients, c)
	return c
}

// join connects clients and joins them in order, then forgets every event
// and call so far.
func (h *harness) join(names ...string) []*client {
	h.t.Helper()
	out := make([]*client, len(names))
	for i, name := range names {
		c := h.connect(name)
		if err := h.e.Join(h.t.Context(), c.Conn, c.m); err != nil {
			h.t.Fatalf("join %s: %v", name, err)
		}
		out[i] = c
	}
	h.drain()
	return out
}

// join1 joins one client.
func (h *harness) join1(name string) *client {
	h.t.Helper()
	return h.join(name)[0]
}

// subscribe subscribes c to channels, which must succeed, then forgets
// every event and call so far.
func (h *harness) subscribe(c *client, channels ...string) {
	h.t.Helper()
	for _, ch := range channels {
		if err := h.e.Subscribe(h.t.Context(), c.Conn, ch); err != nil {
			h.t.Fatalf("%s subscribe %q: %v", c.m.Name, ch, err)
		}
	}
	h.drain()
}

// drain forgets every event delivered and every call logged so far.
func (h *harness) drain() {
	for _, c := range h.clients {
		c.rec.take()
	}
	h.calls.take()
}

// expect checks the events delivered to c since the last check, exactly and
// in order.
func (h *harness) expect(c *client, want ...ev) {
	h.t.Helper()
	got := plainAll(c.rec.take())
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(got, want) {
		h.t.Errorf("%s received:\n%s\nwant:\n%s", c.m.Name, evList(got), evList(want))
	}
}

// expectNothing checks that the given clients, or every client when none
// is given, received no event since the last check.
func (h *harness) expectNothing(clients ...*client) {
	h.t.Helper()
	if len(clients) == 0 {
		clients = h.clients
	}
	for _, c := range clients {
		h.expect(c)
	}
}

// expectCalls checks the hooks and events called since the last check.
func (h *harness) expectCalls(want ...string) {
	h.t.Helper()
	got := h.calls.take()
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(got, want) {
		h.t.Errorf("calls:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// expectChannels checks Engine.Channels.
func (h *harness) expectChannels(want ...presence.ChannelInfo) {
	h.t.Helper()
	got := h.e.Channels()
	if len(want) == 0 {
		want = nil
	}
	if !reflect.DeepEqual(got, want) {
		h.t.Errorf("Channels() = %+v, want %+v", got, want)
	}
}

// expectMembers checks Engine.Members(channel).
func (h *harness) expectMembers(channel string, want ...*client) {
	h.t.Helper()
	got, err := h.e.Members(channel)
	if err != nil {
		h.t.Errorf("Members(%q): %v", channel, err)
		return
	}
	if !reflect.DeepEqual(got, members(want...)) {
		h.t.Errorf("Members(%q) = %+v, want %+v", channel, got, members(want...))
	}
}

func members(cs ...*client) []presence.Member {
	out := make([]presence.Member, len(cs))
	for i, c := range cs {
		out[i] = c.m
	}
	return out
}

// wantErr checks that err is want: for a *presence.Error, the same reason,
// code and text; otherwise errors.Is. A nil want means no error.
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("err = %v, want nil", err)
		}
		return
	}
	if wp, ok := want.(*presence.Error); ok {
		var got *presence.Error
		if !errors.As(err, &got) || *got != *wp {
			t.Fatalf("err = %#v, want %#v", err, want)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %v", err, want)
	}
}

// ev is the comparable content of a presence.Event.
type ev struct {
	Kind    presence.Kind
	Member  presence.Member
	Channel string
	Text    string
	Members []presence.Member
	Err     *presence.Error
}

func plain(e *presence.Event) ev {
	out := ev{Kind: e.Kind, Member: e.Member, Channel: e.Channel, Text: string(e.Data), Members: e.Members, Err: e.Err}
	if len(out.Members) == 0 {
		out.Members = nil
	}
	return out
}

func plainAll(evs []*presence.Event) []ev {
	var out []ev
	for _, e := range evs {
		out = append(out, plain(e))
	}
	return out
}

var kindNames = map[presence.Kind]string{
	presence.KindNewMember:           "member@new",
	presence.KindRemoveMember:        "member@remove",
	presence.KindNewChannelMember:    "channel@member@new",
	presence.KindRemoveChannelMember: "channel@member@remove",
	presence.KindPublish:             "publish",
	presence.KindMembers:             "members",
	presence.KindInvitation:          "invitation",
	presence.KindInvitationResponse:  "invitation@response",
}

func (e ev) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s member=%+v", kindNames[e.Kind], e.Member)
	if e.Kind == 0 || kindNames[e.Kind] == "" {
		fmt.Fprintf(&b, " kind=%d", e.Kind)
	}
	fmt.Fprintf(&b, " channel=%q", e.Channel)
	if e.Text != "" {
		fmt.Fprintf(&b, " text=%q", e.Text)
	}
	if e.Members != nil {
		fmt.Fprintf(&b, " members=%+v", e.Members)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " err=%+v", *e.Err)
	}
	return b.String()
}

func evList(evs []ev) string {
	if len(evs) == 0 {
		return "  (nothing)"
	}
	lines := make([]string, len(evs))
	for i, e := range evs {
		lines[i] = "  " + e.String()
	}
	return strings.Join(lines, "\n")
}

// Expected events.

func joined(m presence.Member) ev { return ev{Kind: presence.KindNewMember, Member: m} }
func left(m presence.Member) ev   { return ev{Kind: presence.KindRemoveMember, Member: m} }

func subscribed(ch string, m presence.Member) ev {
	return ev{Kind: presence.KindNewChannelMember, Member: m, Channel: ch}
}

func unsubscribed(ch string, m presence.Member) ev {
	return ev{Kind: presence.KindRemoveChannelMember, Member: m, Channel: ch}
}

func published(ch string, m presence.Member, text string) ev {
	return ev{Kind: presence.KindPublish, Member: m, Channel: ch, Text: text}
}

func memberList(ch string, requester *client, list ...*client) ev {
	return ev{Kind: presence.KindMembers, Member: requester.m, Channel: ch, Members: members(list...)}
}

func invited(ch string, inviter *client) ev {
	return ev{Kind: presence.KindInvitation, Member: inviter.m, Channel: ch}
}

func answered(ch string, invitee, inviter *client, refusal *presence.Error) ev {
	return ev{Kind: presence.KindInvitationResponse, Member: invitee.m, Channel: ch,
		Members: []presence.Member{inviter.m}, Err: refusal}
}

// errorCase sets up a refusal test: "other" is joined and subscribed to
// "busy"; alice connects (and joins unless notJoin), prep runs, and the
// events so far are drained. It returns alice.
func (h *harness) errorCase(notJoin bool, prep func(*harness, *client)) *client {
	h.t.Helper()
	other := h.join1("other")
	h.subscribe(other, "busy")
	var c *client
	if notJoin {
		c = h.connect("alice")
	} else {
		c = h.join1("alice")
	}
	if prep != nil {
		prep(h, c)
	}
	h.drain()
	return c
}
