package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/rollcall/rollcall/client"
)

// Dial, join a channel, publish, and handle events.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	c, err := client.Dial(ctx, "ws://localhost:8080/", client.Options{
		Name: "alice",
		Info: "role=qa",
		OnConnect: func(session string) {
			fmt.Println("joined as", session)
		},
		OnNewChannelMember: func(channel string, m client.Member) {
			fmt.Printf("[%s] %s joined\n", channel, m.Name)
		},
		OnPublishMsg: func(text, channel string, from client.Member) {
			fmt.Printf("[%s] %s: %s\n", channel, from.Name, text)
		},
		OnDisconnect: func(code int) {
			fmt.Println("disconnected with close code", code, "- reconnecting")
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	if err := c.Subscribe(ctx, "room"); err != nil {
		var se *client.Error
		if errors.As(err, &se) && se.Code == client.CodeSubscriptionDenied {
			log.Fatal("not allowed in room")
		}
		log.Fatal(err)
	}
	if err := c.Publish(ctx, "room", "hello room"); err != nil {
		log.Fatal(err)
	}
	members, err := c.GetMembers(ctx, "room")
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range members {
		fmt.Println(m.ID, m.Name)
	}
}

// Answer invitations: accept those to "lobby", refuse the others with a reason.
func ExampleOptions_invitations() {
	opts := client.Options{
		Name: "bob",
		OnChannelInvitation: func(inv *client.Invitation) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if inv.Channel == "lobby" {
				inv.Accept(ctx) // subscribes, then tells the inviter
				return
			}
			inv.Refuse(ctx, client.CodeInvitationDeclined, "Only the lobby, thanks.")
		},
		OnChannelInvitationResponse: func(resp client.InvitationResponse) {
			if resp.Accepted {
				fmt.Println(resp.Invitee.Name, "joined", resp.Channel)
			} else {
				fmt.Println(resp.Invitee.Name, "declined:", resp.Error.Text)
			}
		},
	}
	c, err := client.Dial(context.Background(), "ws://localhost:8080/", opts)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}

// Acknowledged delivery with bounded retries, and base64 values on the wire.
func ExampleOptions_acknowledgment() {
	c, err := client.Dial(context.Background(), "ws://localhost:8080/", client.Options{
		Name:         "carol",
		EncodeBase64: true,
		Acknowledgment: client.AckOptions{
			Enabled:    true,
			Interval:   time.Second,
			Timeout:    5 * time.Second,
			MaxRetries: 3,
		},
		OnError: func(err error) {
			if errors.Is(err, client.ErrNotAcknowledged) {
				log.Println("server never acknowledged a frame:", err)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
}
