package presence_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/presence"
)

// TestHooksMayReadTheConn: hooks and events run while the engine serializes
// the connection's operations, yet may read its member and channels.
func TestHooksMayReadTheConn(t *testing.T) {
	var seen []string
	e := presence.New(presence.Options{
		Hooks: presence.Hooks{
			BeforeNewChannelMember: func(_ context.Context, c *presence.Conn, ch string, _ presence.Member) error {
				m, ok := c.Member()
				if !ok {
					return errors.New("not joined")
				}
				seen = append(seen, m.Name+" has "+strings.Join(c.Channels(), ",")+" wants "+ch)
				return nil
			},
		},
		Events: presence.Events{
			OnRemoveMember: func(c *presence.Conn, m presence.Member) {
				_, ok := c.Member()
				seen = append(seen, "left "+m.Name+" still member="+strconv.FormatBool(ok)+" channels="+strings.Join(c.Channels(), ","))
			},
		},
	})
	c := e.Connect("A", nopSink{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := context.Background()
		_ = e.Join(ctx, c, presence.Member{Name: "ann"})
		_ = e.Subscribe(ctx, c, "x")
		_ = e.Subscribe(ctx, c, "y")
		_ = e.Leave(ctx, c, "")
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("deadlock: a hook reading the Conn blocked")
	}
	want := []string{"ann has  wants x", "ann has x wants y", "left ann still member=false channels="}
	if !slices.Equal(seen, want) {
		t.Fatalf("got %q\nwant %q", seen, want)
	}
}

// TestLeaveForgetsInvitations: an invitation addressed to a member that
// left cannot be answered after it joins again.
func TestLeaveForgetsInvitations(t *testing.T) {
	e := presence.New(presence.Options{})
	ctx := context.Background()
	a, b := e.Connect("A", nopSink{}), e.Connect("B", nopSink{})
	for _, c := range []*presence.Conn{a, b} {
		if err := e.Join(ctx, c, presence.Member{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Invite(ctx, a, "room", []string{"B"}); err != nil {
		t.Fatal(err)
	}
	if err := e.Leave(ctx, b, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.Join(ctx, b, presence.Member{}); err != nil {
		t.Fatal(err)
	}
	if err := e.RespondInvitation(ctx, b, "room", "A", nil); !errors.Is(err, presence.ErrNoInvitation) {
		t.Fatalf("got %v", err)
	}
}
