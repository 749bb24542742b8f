package pusher_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/server"
)

// TestNodeMemberUpdated: pusher-js clients in a presence channel that bind
// rollcall:member_updated hear the updates of an sgc member and of a
// Pusher user there (made through the HTTP API, Engine.UpdateMember), and
// their channel.members stays as it was (testdata/memberupdate.mjs).
func TestNodeMemberUpdated(t *testing.T) {
	const apiKey = "api-key"
	e := start(t, func(o *server.Options) {
		o.APIKey = apiKey
		o.Pusher.AuthorizeSgc = func(_ context.Context, _ *presence.Conn, channel string, _ presence.Access) error {
			if channel == "presence-lobby" {
				return nil
			}
			return errors.New("not this one")
		}
	})
	nodeBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sgc, err := client.Dial(ctx, "ws://"+e.host+":"+e.port+"/", client.Options{Name: "Sam", Info: "sgc info"})
	if err != nil {
		t.Fatal(err)
	}
	defer sgc.Close()
	if err := sgc.Subscribe(ctx, "presence-lobby"); err != nil {
		t.Fatal(err)
	}
	sgcID := sgc.Member().ID
	out, err := e.node(ctx, "memberupdate.mjs", map[string]any{"sgcID": sgcID, "apiKey": apiKey})
	if err != nil {
		t.Fatal(err)
	}
	// The lists pusher-js kept: the info of the join.
	var got struct {
		Members []struct {
			ID   string          `json:"id"`
			Info json.RawMessage `json:"info"`
		} `json:"members"`
	}
	if err := json.Unmarshal(out, &got); err != nil || len(got.Members) != 3 {
		t.Fatalf("node printed %s (%v)", out, err)
	}
	// The engine has the updates.
	ms, err := e.srv.Engine().Members("presence-lobby")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		switch m.ID {
		case sgcID:
			if m.Name != "Sam" || string(m.Info) != "now busy" {
				t.Errorf("the sgc member is %+v", m)
			}
		case "pete":
			if m.Name != "Peter" || string(m.Info) != `{"name":"Peter","color":"blue"}` {
				t.Errorf("pete is %+v", m)
			}
		}
	}
}
