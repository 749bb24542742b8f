package presence_test

import (
	"context"
	"errors"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

// TestOneIDNamespace: a member id held by a presence entry without a join
// (a Pusher user) cannot be joined as, and a joined id cannot be taken by
// such an entry; once the holder is gone the id is free again.
func TestOneIDNamespace(t *testing.T) {
	ctx := context.Background()
	e := presence.New(presence.Options{})
	pia := presence.Member{ID: "pia"}
	p := e.Connect(sessionID(1), nopSink{})
	if err := e.SubscribeWith(ctx, p, "presence-lobby", presence.Subscription{Member: &pia}); err != nil {
		t.Fatal(err)
	}
	// A second entry of the same user (another tab) is fine.
	p2 := e.Connect(sessionID(2), nopSink{})
	if err := e.SubscribeWith(ctx, p2, "presence-lobby", presence.Subscription{Member: &pia}); err != nil {
		t.Fatal(err)
	}
	s := e.Connect(sessionID(3), nopSink{})
	wantErr(t, e.Join(ctx, s, presence.Member{ID: "pia"}), presence.ErrMemberExists)
	if !e.HoldsID("pia") {
		t.Fatal("HoldsID(pia) = false")
	}
	e.Disconnect(p)
	wantErr(t, e.Join(ctx, s, presence.Member{ID: "pia"}), presence.ErrMemberExists)
	e.Disconnect(p2)
	if e.HoldsID("pia") {
		t.Fatal("HoldsID(pia) after its connections left")
	}
	if err := e.Join(ctx, s, presence.Member{ID: "pia"}); err != nil {
		t.Fatal(err)
	}
	// The reverse: the joined id is not free for a presence entry.
	p3 := e.Connect(sessionID(4), nopSink{})
	wantErr(t, e.SubscribeWith(ctx, p3, "presence-lobby", presence.Subscription{Member: &pia}), presence.ErrMemberExists)
	if ch := e.Channels(); len(ch) != 0 {
		t.Fatalf("the refused subscription left channels %v", ch)
	}
	// The joined connection itself may be present as its own member.
	if err := e.SubscribeWith(ctx, s, "presence-lobby", presence.Subscription{Member: &pia}); err != nil {
		t.Fatal(err)
	}
}

// TestBeforeChannelAccessRunsFirst: the access hook refuses a subscribe, a
// member list and a publish with each step's reason before the engine looks
// at the channel (a publish to a channel the connection is not in is still
// the hook's refusal, not "not subscribed").
func TestBeforeChannelAccessRunsFirst(t *testing.T) {
	ctx := context.Background()
	var asked []presence.Access
	e := presence.New(presence.Options{Hooks: presence.Hooks{
		BeforeChannelAccess: func(_ context.Context, _ *presence.Conn, channel string, a presence.Access) error {
			asked = append(asked, a)
			if channel == "secret" {
				return &presence.Error{Text: "no: " + a.String()}
			}
			return nil
		},
	}})
	c := e.Connect(sessionID(1), nopSink{})
	if err := e.Join(ctx, c, presence.Member{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		err  error
		want presence.Reason
		text string
	}{
		{e.Subscribe(ctx, c, "secret"), presence.ErrSubscriptionDenied, "no: subscribe"},
		{e.SendMembers(ctx, c, "secret"), presence.ErrSendMembersDenied, "no: members"},
		{e.Publish(ctx, c, "secret", "hi"), presence.ErrPublishDenied, "no: publish"},
	} {
		var pe *presence.Error
		if !errors.Is(tc.err, tc.want) || !errors.As(tc.err, &pe) || pe.Text != tc.text {
			t.Fatalf("got %v, want %v with %q", tc.err, tc.want, tc.text)
		}
	}
	// Everyone ("") is no channel the hook is asked about.
	if err := e.Publish(ctx, c, "", "hi"); err != nil {
		t.Fatal(err)
	}
	if err := e.Subscribe(ctx, c, "open"); err != nil {
		t.Fatal(err)
	}
	want := []presence.Access{presence.AccessSubscribe, presence.AccessMembers, presence.AccessPublish, presence.AccessSubscribe}
	if len(asked) != len(want) {
		t.Fatalf("asked %v, want %v", asked, want)
	}
	for i := range want {
		if asked[i] != want[i] {
			t.Fatalf("asked %v, want %v", asked, want)
		}
	}
}

// TestForeignIDs: the channels of another id namespace neither hold ids
// against Join nor are refused ids a joined member holds.
func TestForeignIDs(t *testing.T) {
	ctx := context.Background()
	e := presence.New(presence.Options{ForeignIDs: func(ch string) bool { return ch == "app-2:presence-x" }})
	one := presence.Member{ID: "1"}
	p := e.Connect(sessionID(1), nopSink{})
	if err := e.SubscribeWith(ctx, p, "app-2:presence-x", presence.Subscription{Member: &one}); err != nil {
		t.Fatal(err)
	}
	s := e.Connect(sessionID(2), nopSink{})
	if err := e.Join(ctx, s, presence.Member{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	p2 := e.Connect(sessionID(3), nopSink{})
	if err := e.SubscribeWith(ctx, p2, "app-2:presence-x", presence.Subscription{Member: &one}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.SubscribeWith(ctx, p2, "presence-x", presence.Subscription{Member: &one}), presence.ErrMemberExists)
}
