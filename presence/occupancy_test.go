package presence_test

import (
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

// occupancyLog records what OnOccupancy hears on each node.
type occupancyLog struct {
	mu  sync.Mutex
	got []string
}

func (l *occupancyLog) watch(node string, e *presence.Engine) {
	e.OnOccupancy(func(ch string, occupied bool, from presence.Origin) {
		l.mu.Lock()
		l.got = append(l.got, fmt.Sprintf("%s %s %v %s", node, ch, occupied, from))
		l.mu.Unlock()
	})
}

func (l *occupancyLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	got := l.got
	l.got = nil
	return got
}

// Subscriptions without presence are replicated: every node counts and
// lists a channel whose subscribers are all on another node, and hears its
// occupancy change once, from the change's origin.
func TestSubscriptionsAcrossNodes(t *testing.T) {
	cl := newCluster(2, presence.Options{})
	t.Cleanup(cl.close)
	nodeA, nodeB := cl.nodes[0], cl.nodes[1]
	var log occupancyLog
	log.watch("a", nodeA)
	log.watch("b", nodeB)
	ctx := t.Context()
	expect := func(step string, want ...string) {
		t.Helper()
		cl.settle()
		if got := log.take(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: occupancy %q, want %q", step, got, want)
		}
	}
	counts := func(step string, want int) {
		t.Helper()
		for i, e := range cl.nodes {
			if n := e.Subscriptions("news"); n != want {
				t.Errorf("%s: node %d counts %d subscriptions, want %d", step, i, n, want)
			}
			listed := len(e.Channels()) == 1 && e.Channels()[0].Name == "news"
			if listed != (want > 0) {
				t.Errorf("%s: node %d lists %v", step, i, e.Channels())
			}
		}
	}

	x := cl.ConnectOn(0, sessionID(1), nopSink{})
	y := cl.ConnectOn(0, sessionID(2), nopSink{})
	z := cl.ConnectOn(1, sessionID(3), &recorder{})
	wantErr(t, nodeA.SubscribeWith(ctx, x, "news", presence.Subscription{}), nil)
	expect("first subscriber on a", "a news true local", "b news true replica")
	counts("first subscriber on a", 1)
	wantErr(t, nodeA.SubscribeWith(ctx, y, "news", presence.Subscription{}), nil)
	wantErr(t, nodeB.SubscribeWith(ctx, z, "news", presence.Subscription{Member: &presence.Member{ID: "zed"}}), nil)
	expect("more subscribers")
	counts("more subscribers", 3)
	if ms, _ := nodeA.Members("news"); len(ms) != 1 || ms[0].ID != "zed" {
		t.Errorf("members %v, want zed alone: a subscription without presence is no member", ms)
	}

	// A snapshot carries the subscriptions without presence too.
	nodeB.Receiver().Sync("a", nodeA.Receiver().Entries())
	expect("resync")
	counts("resync", 3)

	wantErr(t, nodeB.Unsubscribe(ctx, z, "news"), nil)
	wantErr(t, nodeA.Unsubscribe(ctx, x, "news"), nil)
	expect("two left")
	counts("two left", 1)

	// Node a dies with the last subscriber: every other node hears the
	// channel vacated, as forgotten.
	nodeB.Receiver().Forget("a")
	expect("node a forgotten", "b news false forgotten")
	if n := nodeB.Subscriptions("news"); n != 0 || len(nodeB.Channels()) != 0 {
		t.Errorf("after Forget node b counts %d, lists %v", n, nodeB.Channels())
	}

	// An empty member id is refused: it means "no member" on the wire.
	wantErr(t, nodeB.SubscribeWith(ctx, z, "news", presence.Subscription{Member: &presence.Member{}}), presence.ErrNotOwnMember)
}

// A presence subscriber counts among the subscriptions, and its channel is
// vacated with its last connection on any node.
func TestOccupancyWithMembers(t *testing.T) {
	cl := newCluster(2, presence.Options{})
	t.Cleanup(cl.close)
	nodeA, nodeB := cl.nodes[0], cl.nodes[1]
	var log occupancyLog
	log.watch("a", nodeA)
	log.watch("b", nodeB)
	ctx := t.Context()
	ann := &presence.Member{ID: "ann"}
	x := cl.ConnectOn(0, sessionID(1), nopSink{})
	y := cl.ConnectOn(1, sessionID(2), nopSink{})
	wantErr(t, nodeA.SubscribeWith(ctx, x, "presence-room", presence.Subscription{Member: ann}), nil)
	cl.settle()
	wantErr(t, nodeB.SubscribeWith(ctx, y, "presence-room", presence.Subscription{Member: ann}), nil)
	cl.settle()
	if n := nodeB.Subscriptions("presence-room"); n != 2 {
		t.Errorf("node b counts %d subscriptions of one member on two nodes, want 2", n)
	}
	nodeA.Disconnect(x)
	cl.settle()
	nodeB.Disconnect(y)
	cl.settle()
	want := []string{"a presence-room true local", "b presence-room true replica", "b presence-room false local", "a presence-room false replica"}
	if got := log.take(); !reflect.DeepEqual(got, want) {
		t.Errorf("occupancy %q, want %q", got, want)
	}
}

// OnMemberLeft hears a member's last leave from a channel, whichever node
// it was on: a dead node's members leave as forgotten.
func TestMemberLeftAcrossNodes(t *testing.T) {
	cl := newCluster(2, presence.Options{})
	t.Cleanup(cl.close)
	nodeA, nodeB := cl.nodes[0], cl.nodes[1]
	var mu sync.Mutex
	var got []string
	nodeB.OnMemberLeft(func(ch string, m presence.Member, from presence.Origin) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %s %s", ch, m.ID, from))
		mu.Unlock()
	})
	ctx := t.Context()
	x := cl.ConnectOn(0, sessionID(1), nopSink{})
	y := cl.ConnectOn(1, sessionID(2), nopSink{})
	w := cl.ConnectOn(0, sessionID(3), nopSink{})
	wantErr(t, nodeA.SubscribeWith(ctx, x, "room", presence.Subscription{Member: &presence.Member{ID: "ann"}}), nil)
	wantErr(t, nodeA.SubscribeWith(ctx, w, "room", presence.Subscription{Member: &presence.Member{ID: "cat"}}), nil)
	wantErr(t, nodeB.SubscribeWith(ctx, y, "room", presence.Subscription{Member: &presence.Member{ID: "bob"}}), nil)
	wantErr(t, nodeA.Unsubscribe(ctx, w, "room"), nil)
	cl.settle()
	wantErr(t, nodeB.Unsubscribe(ctx, y, "room"), nil)
	cl.settle()
	nodeB.Receiver().Forget("a")
	mu.Lock()
	defer mu.Unlock()
	want := []string{"room cat replica", "room bob local", "room ann forgotten"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("node b heard %q, want %q", got, want)
	}
}

// OnSubscriptions hears every change of a channel's count over the
// cluster, with presence or without, on every node, from its origin; a
// resync that changes nothing is not heard.
func TestSubscriptionsHookAcrossNodes(t *testing.T) {
	cl := newCluster(2, presence.Options{})
	t.Cleanup(cl.close)
	nodeA, nodeB := cl.nodes[0], cl.nodes[1]
	var mu sync.Mutex
	var got []string
	nodeB.OnSubscriptions(func(ch string, n int, from presence.Origin) {
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %d %s", ch, n, from))
		mu.Unlock()
	})
	ctx := t.Context()
	x := cl.ConnectOn(0, sessionID(1), nopSink{})
	y := cl.ConnectOn(0, sessionID(2), nopSink{})
	z := cl.ConnectOn(1, sessionID(3), nopSink{})
	wantErr(t, nodeA.SubscribeWith(ctx, x, "news", presence.Subscription{}), nil)
	cl.settle()
	wantErr(t, nodeB.SubscribeWith(ctx, z, "news", presence.Subscription{}), nil)
	wantErr(t, nodeA.SubscribeWith(ctx, y, "news", presence.Subscription{Member: &presence.Member{ID: "yan"}}), nil)
	cl.settle()
	nodeB.Receiver().Sync("a", nodeA.Receiver().Entries())
	wantErr(t, nodeB.Unsubscribe(ctx, z, "news"), nil)
	cl.settle()
	nodeB.Receiver().Forget("a")
	mu.Lock()
	defer mu.Unlock()
	want := []string{"news 1 replica", "news 2 local", "news 3 replica", "news 2 local", "news 1 forgotten", "news 0 forgotten"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("node b heard %q, want %q", got, want)
	}
}
