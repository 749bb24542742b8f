package server

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// groupFrame is the frame of a group message: a publish@msg with the group
// as channel and the empty server member.
func groupFrame(enc sgcwire.Encoder, group, text string) []byte {
	return enc.Encode(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Text: text, Channel: group})
}

// expectFrame reads the next frame and checks it byte for byte.
func (c *rawClient) expectFrame(want []byte) {
	c.t.Helper()
	if got := c.readRaw(); string(got) != string(want) {
		c.t.Fatalf("frame:\n got %s\nwant %s", got, want)
	}
}

// TestGroupsLoggedInDisconnected is the seed example end to end: the
// server files every member into "lobby" when it joins; on OnClientAdded
// the group hears "<user> has logged in", on OnClientRemoved (fired by the
// disconnect) "<user> has disconnected".
func TestGroupsLoggedInDisconnected(t *testing.T) {
	encodings(t, func(t *testing.T, b64 bool) {
		var srvp atomic.Pointer[Server]
		var mu sync.Mutex
		var calls []string
		tell := func(group string, c *presence.Conn, what string) {
			m, _ := c.Member()
			mu.Lock()
			calls = append(calls, what+" "+group+" "+m.Name)
			mu.Unlock()
			if g := srvp.Load().Engine().Groups().Group(group); g != nil {
				if err := g.Broadcast(m.Name + " has " + what); err != nil && !errors.Is(err, presence.ErrGroupNotExists) {
					t.Errorf("group broadcast: %v", err)
				}
			}
		}
		srv, url := startServer(t, Options{EncodeBase64: b64, Events: presence.Events{
			OnNewMember: func(c *presence.Conn, m presence.Member) {
				if err := srvp.Load().Engine().Groups().Add("lobby", c); err != nil {
					t.Errorf("Add: %v", err)
				}
			},
			OnClientAdded:   func(group string, c *presence.Conn) { tell(group, c, "logged in") },
			OnClientRemoved: func(group string, c *presence.Conn) { tell(group, c, "disconnected") },
		}})
		srvp.Store(srv)
		enc := sgcwire.Encoder{Base64: b64}
		groups := srv.Engine().Groups()

		bob := dialEnc(t, url, b64)
		bob.join("bob", "")
		bob.expectFrame(groupFrame(enc, "lobby", "bob has logged in"))

		alice := dialEnc(t, url, b64)
		aliceM := alice.join("alice", "")
		alice.expectFrame(groupFrame(enc, "lobby", "alice has logged in"))
		if m := bob.read(); m.Method != sgcwire.MethodNewMember || m.Member != aliceM {
			t.Fatalf("bob saw %+v, want alice's member@new", m)
		}
		bob.expectFrame(groupFrame(enc, "lobby", "alice has logged in"))
		if b64 && !strings.Contains(string(groupFrame(enc, "lobby", "x")), "sgc@b64:") {
			t.Fatal("base64 server wrote a plain group frame")
		}

		// The API sees both connections in the group.
		conns := groups.Conns("lobby")
		if len(conns) != 2 {
			t.Fatalf("lobby has %d connections", len(conns))
		}
		names := map[string]bool{}
		for _, c := range conns {
			m, ok := c.Member()
			if !ok || m.ID != c.ID() {
				t.Errorf("conn %s: member %+v %v", c.ID(), m, ok)
			}
			names[m.Name] = true
		}
		if !names["alice"] || !names["bob"] {
			t.Errorf("lobby holds %v", names)
		}

		// alice's socket closes: the group hears it before her member@remove.
		alice.conn.Close()
		bob.expectFrame(groupFrame(enc, "lobby", "alice has disconnected"))
		if m := bob.read(); m.Method != sgcwire.MethodRemoveMember || m.Member != aliceM {
			t.Fatalf("bob saw %+v, want alice's member@remove", m)
		}
		if g := groups.Group("lobby"); g == nil || g.Len() != 1 {
			t.Fatalf("lobby after alice left: %+v", g)
		}
		mu.Lock()
		got := strings.Join(calls, ", ")
		mu.Unlock()
		if want := "logged in lobby bob, logged in lobby alice, disconnected lobby alice"; got != want {
			t.Errorf("events: %s\nwant: %s", got, want)
		}
		bob.expectNothing(100 * time.Millisecond)
	})
}

// TestGroupsBroadcastWire files connections into groups named in their
// member info and checks who receives a pattern broadcast, and that a
// connection in two matching groups receives it once.
func TestGroupsBroadcastWire(t *testing.T) {
	var srvp atomic.Pointer[Server]
	srv, url := startServer(t, Options{
		Hooks: presence.Hooks{
			// A connection refused as a member can still be in a group:
			// groups do not need membership.
			BeforeNewMember: func(ctx context.Context, c *presence.Conn, m presence.Member) error {
				if m.Name != "guest" {
					return nil
				}
				if err := srvp.Load().Engine().Groups().Add("guests", c); err != nil {
					t.Errorf("Add: %v", err)
				}
				return errors.New("guests do not join")
			},
		},
		Events: presence.Events{
			OnNewMember: func(c *presence.Conn, m presence.Member) {
				for g := range strings.SplitSeq(string(m.Info), ",") {
					if g == "" {
						continue
					}
					if err := srvp.Load().Engine().Groups().Add(g, c); err != nil {
						t.Errorf("Add: %v", err)
					}
				}
			},
		},
	})
	srvp.Store(srv)
	groups := srv.Engine().Groups()
	var enc sgcwire.Encoder

	join := func(name, info string) *rawClient {
		c := dial(t, url)
		c.join(name, info)
		return c
	}
	a := join("a", "sales/us,sales/eu")
	b := join("b", "sales/eu/north")
	c := join("c", "support")
	d := join("d", "")
	guest := dial(t, url)
	guest.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{Name: "guest"}})
	guest.expectError(sgcwire.CodeMemberDenied)
	// Drain the member@new frames of those who joined after each.
	a.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member.Name == "d" })
	b.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member.Name == "d" })
	c.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member.Name == "d" })

	if got := strings.Join(groups.Names(), " "); got != "guests sales/eu sales/eu/north sales/us support" {
		t.Fatalf("groups: %s", got)
	}

	n, err := groups.Broadcast("sales/*", "deal")
	if err != nil || n != 2 {
		t.Fatalf("Broadcast(sales/*) = %d, %v; want 2", n, err)
	}
	a.expectFrame(groupFrame(enc, "sales/eu", "deal")) // once, first group by name
	b.expectFrame(groupFrame(enc, "sales/eu/north", "deal"))

	n, err = groups.Broadcast("*", "everyone")
	if err != nil || n != 4 {
		t.Fatalf("Broadcast(*) = %d, %v; want 4", n, err)
	}
	guest.expectFrame(groupFrame(enc, "guests", "everyone"))
	a.expectFrame(groupFrame(enc, "sales/eu", "everyone"))
	b.expectFrame(groupFrame(enc, "sales/eu/north", "everyone"))
	c.expectFrame(groupFrame(enc, "support", "everyone"))

	if err := groups.Group("support").Broadcast("help"); err != nil {
		t.Fatal(err)
	}
	c.expectFrame(groupFrame(enc, "support", "help"))

	if _, err := groups.Broadcast("sales/[", "x"); err == nil {
		t.Error("bad pattern accepted")
	}
	for _, cl := range []*rawClient{a, b, c, d, guest} {
		cl.expectNothing(50 * time.Millisecond)
	}

	// Disconnect empties the groups: support vanishes with c.
	support := groups.Group("support")
	c.conn.Close()
	testkit.Eventually(t, testTimeout, "support to vanish after its only connection closed", func() bool { return groups.Group("support") == nil })
	if err := support.Broadcast("anyone?"); !errors.Is(err, presence.ErrGroupNotExists) {
		t.Fatalf("Broadcast to a vanished group: %v", err)
	}
}
