package server_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"strings"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/server"
)

// Server-side groups (sgc's Server.Groups example): every member is filed
// into "lobby" when it joins, and the group hears who logs in and who
// disconnects. A group message reaches a client as a publish with the
// group's name as channel and an empty member.
func Example_groups() {
	var srv *server.Server
	tell := func(group string, c *presence.Conn, what string) {
		m, _ := c.Member()
		if g := srv.Engine().Groups().Group(group); g != nil { // nil once the last one left
			_ = g.Broadcast(m.Name + " has " + what)
		}
	}
	srv, err := server.New(server.Options{
		Events: presence.Events{
			OnNewMember: func(c *presence.Conn, m presence.Member) {
				_ = srv.Engine().Groups().Add("lobby", c)
			},
			OnClientAdded:   func(group string, c *presence.Conn) { tell(group, c, "logged in") },
			OnClientRemoved: func(group string, c *presence.Conn) { tell(group, c, "disconnected") },
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/"
	ctx := context.Background()

	got := make(chan string, 10)
	bob, err := client.Dial(ctx, url, client.Options{
		Name: "bob",
		OnPublishMsg: func(text, channel string, from client.Member) {
			if from.ID == "" { // from the server
				got <- fmt.Sprintf("[%s] %s", channel, text)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()
	fmt.Println(<-got)

	alice, err := client.Dial(ctx, url, client.Options{Name: "alice"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-got)
	alice.Close()
	fmt.Println(<-got)
	// Output:
	// [lobby] bob has logged in
	// [lobby] alice has logged in
	// [lobby] alice has disconnected
}
