package natsbroker

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/presence"
)

func sameEvent(a, b *presence.Event) bool {
	if a.Kind != b.Kind || a.Channel != b.Channel || a.Name != b.Name || string(a.Data) != string(b.Data) ||
		!a.Member.Equal(b.Member) || len(a.Members) != len(b.Members) || a.Except != b.Except {
		return false
	}
	for i := range a.Members {
		if !a.Members[i].Equal(b.Members[i]) {
			return false
		}
	}
	if (a.Err == nil) != (b.Err == nil) {
		return false
	}
	return a.Err == nil || *a.Err == *b.Err
}

func TestEventEncoding(t *testing.T) {
	for _, ev := range []*presence.Event{
		{},
		{Kind: presence.KindPublish, Channel: presence.Everyone, Data: []byte("hi"), Member: presence.Member{ID: "A", Name: "alice", Info: []byte(`{"x":1}`)}},
		{Kind: presence.KindMembers, Channel: "a.b *> ü", Name: "client-typing", Except: "0123456789ABCDEF0123456789ABCDEF",
			Members: []presence.Member{{ID: "1"}, {ID: "2", Name: "two", Info: []byte{0, 1, 2}}},
			Err:     &presence.Error{Reason: presence.Reason("channel_full"), Text: "full", Code: -7}},
	} {
		b := encodeEvent(ev)
		got, ok := decodeEvent(b)
		if !ok || !sameEvent(got, ev) {
			t.Errorf("round trip of %+v: %+v, %v", ev, got, ok)
		}
		for i := range len(b) {
			if _, ok := decodeEvent(b[:i]); ok {
				t.Errorf("a truncated event (%d of %d bytes) decodes", i, len(b))
			}
		}
	}
	if _, ok := decodeEvent([]byte{9, 1}); ok {
		t.Error("another version decodes")
	}
	ev := &presence.Event{Kind: presence.KindPublish, Data: []byte("x")}
	if a, b := ev.Frame(eventFrame{}, encodeEvent), ev.Frame(eventFrame{}, encodeEvent); &a[0] != &b[0] {
		t.Error("an event is encoded twice")
	}
}

func TestChangeEncoding(t *testing.T) {
	for _, ch := range []presence.Change{
		{},
		{Op: presence.OpAdd, Conn: "C", Channel: "room", Member: presence.Member{ID: "m", Name: "n", Info: []byte("i")}},
		{Op: presence.OpUnsubscribe, Conn: "C", Channel: presence.Everyone},
	} {
		b := appendChange(nil, ch)
		got, ok := decodeChange(b)
		if !ok || got.Op != ch.Op || got.Conn != ch.Conn || got.Channel != ch.Channel || !got.Member.Equal(ch.Member) {
			t.Errorf("round trip of %+v: %+v, %v", ch, got, ok)
		}
		if _, ok := decodeChange(b[:len(b)-1]); ok {
			t.Errorf("a truncated change decodes")
		}
	}
}

// sink records the events of one connection.
type sink struct {
	mu  sync.Mutex
	evs []*presence.Event
}

func (s *sink) Deliver(ev *presence.Event) {
	s.mu.Lock()
	s.evs = append(s.evs, ev)
	s.mu.Unlock()
}

func (s *sink) has(match func(*presence.Event) bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.ContainsFunc(s.evs, match)
}

type engineNode struct {
	*Node
	e *presence.Engine
}

func startEngine(t *testing.T, o Options) engineNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	e := presence.New(presence.Options{Node: o.Name, Broker: n, Logger: testLogger()})
	if err := n.Start(e.Receiver()); err != nil {
		t.Fatal(err)
	}
	return engineNode{n, e}
}

func memberIDs(t *testing.T, e *presence.Engine, channel string) []string {
	ms, err := e.Members(channel)
	if err != nil {
		return nil
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// Two engines over two nodes: presence replicates, a publish crosses, a
// node that leaves takes its members with it.
func TestEnginesOverNATS(t *testing.T) {
	ctx := t.Context()
	a := startEngine(t, opts("a"))
	b := startEngine(t, opts("b", a.ClusterAddr()))
	for _, n := range []engineNode{a, b} {
		testkit.Eventually(t, 10*time.Second, n.name+" ready with a peer", func() bool { return n.Ready() && alive(n.Node) == 1 })
	}
	sa, sb := &sink{}, &sink{}
	const alice, bob = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
	ca := a.e.Connect(alice, sa)
	cb := b.e.Connect(bob, sb)
	for _, c := range []struct {
		e *presence.Engine
		c *presence.Conn
		m presence.Member
	}{{a.e, ca, presence.Member{ID: alice, Name: "Alice"}}, {b.e, cb, presence.Member{ID: bob, Name: "Bob", Info: []byte("i")}}} {
		if err := c.e.Join(ctx, c.c, c.m); err != nil {
			t.Fatal(err)
		}
		if err := c.e.Subscribe(ctx, c.c, "room.1 *"); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []engineNode{a, b} {
		testkit.Eventually(t, 5*time.Second, n.name+" sees both in the room", func() bool {
			return slices.Equal(memberIDs(t, n.e, "room.1 *"), []string{alice, bob})
		})
	}
	waitInterest(t, a.Node.tn(), "room.1 *", 2)
	if err := a.e.Publish(ctx, ca, "room.1 *", "hello"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "bob gets alice's message", func() bool {
		return sb.has(func(ev *presence.Event) bool {
			return ev.Kind == presence.KindPublish && string(ev.Data) == "hello" && ev.Member.ID == alice
		})
	})

	// A group broadcast from a reaches bob's group on b.
	if err := b.e.Groups().Add("ops/eu", cb); err != nil {
		t.Fatal(err)
	}
	if _, err := a.e.Groups().Broadcast("ops/*", "hi ops"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, "bob gets the group broadcast", func() bool {
		return sb.has(func(ev *presence.Event) bool {
			return ev.Kind == presence.KindPublish && ev.Channel == "ops/eu" && string(ev.Data) == "hi ops"
		})
	})

	b.Close()
	testkit.Eventually(t, 2*time.Second, "alice sees bob leave", func() bool {
		return slices.Equal(memberIDs(t, a.e, "room.1 *"), []string{alice}) &&
			sa.has(func(ev *presence.Event) bool {
				return ev.Kind == presence.KindRemoveChannelMember && ev.Member.ID == bob
			})
	})
}

// tn wraps a Node for the helpers that take a test node.
func (n *Node) tn() *tnode { return &tnode{Node: n} }
