package pusher_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/server"
)

// TestSgcAndPusherShareAPresenceChannel: an sgc Go client that the
// server's AuthorizeSgc hook lets into presence-lobby and a pusher-js
// client of the default app there see each other, with the identity
// mapping of docs/pusher.md, and hear each other's messages.
func TestSgcAndPusherShareAPresenceChannel(t *testing.T) {
	e := start(t, func(o *server.Options) {
		o.Pusher.AuthorizeSgc = func(_ context.Context, _ *presence.Conn, channel string, _ presence.Access) error {
			if channel == "presence-lobby" {
				return nil
			}
			return errors.New("not this one")
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	joined := make(chan client.Member, 4)
	heard := make(chan string, 4)
	sgc, err := client.Dial(ctx, "ws://"+e.host+":"+e.port+"/", client.Options{
		Name: "Sam",
		Info: "sgc info",
		OnNewChannelMember: func(channel string, m client.Member) {
			if channel == "presence-lobby" {
				joined <- m
			}
		},
		OnPublishMsg: func(text, channel string, from client.Member) {
			heard <- from.ID + " " + text
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sgc.Close()
	if err := sgc.Subscribe(ctx, "presence-lobby"); err != nil {
		t.Fatal(err)
	}
	sgcID := sgc.Member().ID
	done := make(chan error, 1)
	go func() {
		_, err := e.node(ctx, "sgcshare.mjs", map[string]any{"sgcID": sgcID})
		done <- err
	}()
	for seen := false; !seen; {
		select {
		case m := <-joined:
			if m.ID == sgcID {
				continue // its own subscription
			}
			if m.ID != "pjs" || m.Name != "Pia" || m.Info != `{"name":"Pia","color":"red"}` {
				t.Fatalf("the pusher-js user appears to sgc as %+v", m)
			}
			seen = true
		case err := <-done:
			t.Fatalf("node ended before the pusher-js user joined: %v", err)
		case <-ctx.Done():
			t.Fatal("the pusher-js user never joined")
		}
	}
	select {
	case got := <-heard:
		if got != `pjs {"hi":1}` {
			t.Fatalf("sgc heard %q", got)
		}
	case err := <-done:
		t.Fatalf("node ended early: %v", err)
	}
	if err := sgc.Publish(ctx, "presence-lobby", "hello from sgc"); err != nil {
		t.Fatal(err)
	}
	// Its own publish comes back to the sgc client, as sgc does.
	select {
	case got := <-heard:
		if !strings.HasSuffix(got, "hello from sgc") {
			t.Fatalf("sgc heard %q", got)
		}
	case <-ctx.Done():
		t.Fatal("sgc never heard its own publish")
	}
	sgc.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
