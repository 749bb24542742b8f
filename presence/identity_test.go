package presence_test

import (
	"context"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

// TestIdentityWinsOverClaims: a connection the server authenticated joins
// under the identity's id, name and info, whatever the client claims.
func TestIdentityWinsOverClaims(t *testing.T) {
	ctx := context.Background()
	for _, refuse := range []bool{false, true} {
		e := presence.New(presence.Options{RefuseNameMismatch: refuse})
		rec := &recorder{}
		c := e.ConnectAs(sessionID(1), rec, &presence.Member{ID: "u-alice", Name: "Alice", Info: []byte("admin")})
		if id, ok := c.Identity(); !ok || id.ID != "u-alice" {
			t.Fatalf("Identity() = %+v %v", id, ok)
		}
		wantErr(t, e.Join(ctx, c, presence.Member{ID: sessionID(9), Name: "Alice"}), presence.ErrNotOwnMember)
		err := e.Join(ctx, c, presence.Member{ID: sessionID(1), Name: "Mallory", Info: []byte("x")})
		if refuse {
			wantErr(t, err, presence.ErrIdentityMismatch)
			err = e.Join(ctx, c, presence.Member{ID: "u-alice", Name: ""})
		}
		if err != nil {
			t.Fatal(err)
		}
		want := presence.Member{ID: "u-alice", Name: "Alice", Info: []byte("admin")}
		if m, _ := c.Member(); !m.Equal(want) {
			t.Fatalf("member %+v, want %+v", m, want)
		}
		// one identity holds one member at a time
		c2 := e.ConnectAs(sessionID(2), &recorder{}, &presence.Member{ID: "u-alice"})
		wantErr(t, e.Join(ctx, c2, presence.Member{}), presence.ErrMemberExists)
		// a second user can invite the first by the identity's id, and the
		// answer finds its way back
		bob := e.ConnectAs(sessionID(3), &recorder{}, &presence.Member{ID: "u-bob", Name: "Bob"})
		if err := e.Join(ctx, bob, presence.Member{Name: "Bob"}); err != nil {
			t.Fatal(err)
		}
		if err := e.Invite(ctx, bob, "room", []string{"u-alice"}); err != nil {
			t.Fatal(err)
		}
		if err := e.RespondInvitation(ctx, c, "room", "u-bob", nil); err != nil {
			t.Fatal(err)
		}
		// leave by the identity's id
		if err := e.Leave(ctx, c, "u-alice"); err != nil {
			t.Fatal(err)
		}
		if e.MemberCount() != 1 {
			t.Fatalf("members %d", e.MemberCount())
		}
		e.Disconnect(c)
		e.Disconnect(c2)
		e.Disconnect(bob)
	}
	// without identity nothing changes
	e := presence.New(presence.Options{})
	c := e.Connect(sessionID(1), &recorder{})
	if _, ok := c.Identity(); ok {
		t.Fatal("open connection has an identity")
	}
	if err := e.Join(ctx, c, presence.Member{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	if m, _ := c.Member(); m.ID != sessionID(1) {
		t.Fatalf("member %+v", m)
	}
}
