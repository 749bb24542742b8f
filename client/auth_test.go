package client

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/rollcall/rollcall/server"
)

// TestAuthenticatedJoin: against a server that names the member after the
// authenticated identity, Dial still completes and requests work.
func TestAuthenticatedJoin(t *testing.T) {
	url := newRollcall(t, server.Options{Auth: server.Auth{
		Basic: func(ctx context.Context, r *http.Request, user, password string) (server.Identity, error) {
			if password != "pw" {
				return server.Identity{}, errors.New("no")
			}
			return server.Identity{ID: "u-" + user, Name: "Alice"}, nil
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	r.SetBasicAuth("alice", "pw")
	c, err := Dial(ctx, url, Options{Name: "alice", HTTPHeader: r.Header, NoReconnect: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if m := c.Member(); m.ID != "u-alice" || m.Name != "Alice" {
		t.Fatalf("Member() = %+v, want the authenticated identity", m)
	}
	if err := c.Subscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	ms, err := c.GetMembers(ctx, "room")
	if err != nil || len(ms) != 1 || ms[0].ID != "u-alice" || ms[0].Name != "Alice" {
		t.Fatalf("members %+v %v", ms, err)
	}
	r.SetBasicAuth("alice", "wrong")
	if _, err := Dial(ctx, url, Options{Name: "alice", HTTPHeader: r.Header, NoReconnect: true}); err == nil {
		t.Fatal("wrong password accepted")
	}
}
