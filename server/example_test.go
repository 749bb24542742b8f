package server_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/server"
)

// Embed the presence server in your own HTTP program. Hooks veto steps
// with an error code; events report what changed.
func Example() {
	srv, err := server.New(server.Options{
		Hooks: presence.Hooks{
			BeforePublish: func(ctx context.Context, c *presence.Conn, channel string, m presence.Member, text string) error {
				if strings.Contains(text, "spam") {
					return &presence.Error{Text: "No spam, please."} // refused as ErrPublishDenied, with this text
				}
				return nil
			},
		},
		Events: presence.Events{
			OnNewChannel: func(channel string) { log.Printf("channel %s created", channel) },
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", srv) // WebSocket upgrades on any path, and /healthz
	hs := &http.Server{Addr: ":8080", Handler: mux}
	go func() {
		if err := hs.ListenAndServe(); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()

	// ... later, on shutdown: every client gets close 1001.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	_ = hs.Shutdown(ctx)
}

// Two members meet in a channel: a server and two Go clients on loopback.
func Example_chat() {
	srv, _ := server.New(server.Options{})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/"
	ctx := context.Background()

	got := make(chan string, 1)
	bob, err := client.Dial(ctx, url, client.Options{
		Name: "bob",
		OnPublishMsg: func(text, channel string, from client.Member) {
			got <- fmt.Sprintf("[%s] %s: %s", channel, from.Name, text)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()
	alice, err := client.Dial(ctx, url, client.Options{Name: "alice", Info: "likes tea"})
	if err != nil {
		log.Fatal(err)
	}
	defer alice.Close()

	_ = bob.Subscribe(ctx, "lobby")
	_ = alice.Subscribe(ctx, "lobby")
	members, _ := alice.GetMembers(ctx, "lobby")
	for _, m := range members {
		fmt.Println("in lobby:", m.Name)
	}
	_ = alice.Publish(ctx, "lobby", "hello, bob")
	fmt.Println(<-got)
	// Output:
	// in lobby: bob
	// in lobby: alice
	// [lobby] alice: hello, bob
}
