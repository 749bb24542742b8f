package presence_test

import (
	"context"
	"fmt"

	"github.com/rollcall/rollcall/presence"
)

// printer is a Sink that prints what its connection hears. A real protocol
// adapter encodes each event once (Event.Frame) and queues the bytes.
type printer string

func (p printer) Deliver(ev *presence.Event) {
	switch ev.Kind {
	case presence.KindNewChannelMember:
		fmt.Printf("%s hears: %s joined %s\n", p, ev.Member.Name, ev.Channel)
	case presence.KindRemoveChannelMember:
		fmt.Printf("%s hears: %s left %s\n", p, ev.Member.Name, ev.Channel)
	case presence.KindPublish:
		fmt.Printf("%s hears: %s says %q in %s\n", p, ev.Member.Name, ev.Data, ev.Channel)
	}
}

// Embed the engine without any protocol: connections, members, a channel,
// a publish, a member list and a leave, with plain Go calls. Each call
// returns after its events were handed to the sinks.
func Example() {
	ctx := context.Background()
	eng := presence.New(presence.Options{})

	alice := eng.Connect("A1", printer("alice"))
	bob := eng.Connect("B1", printer("bob"))
	if err := eng.Join(ctx, alice, presence.Member{ID: "alice", Name: "Alice"}); err != nil {
		fmt.Println(err)
	}
	if err := eng.Join(ctx, bob, presence.Member{ID: "bob", Name: "Bob"}); err != nil {
		fmt.Println(err)
	}

	_ = eng.Subscribe(ctx, alice, "lobby")
	_ = eng.Subscribe(ctx, bob, "lobby")
	_ = eng.Publish(ctx, bob, "lobby", "hi")

	members, _ := eng.Members("lobby")
	fmt.Println("lobby has", len(members), "members")

	eng.Disconnect(bob)
	members, _ = eng.Members("lobby")
	fmt.Println("lobby has", len(members), "member")
	// Output:
	// alice hears: Alice joined lobby
	// alice hears: Bob joined lobby
	// bob hears: Bob joined lobby
	// alice hears: Bob says "hi" in lobby
	// bob hears: Bob says "hi" in lobby
	// lobby has 2 members
	// alice hears: Bob left lobby
	// lobby has 1 member
}

// A hook vetoes a step with an error the protocol turns into its own code
// and text; errors.Is tells the reason.
func Example_hooks() {
	ctx := context.Background()
	eng := presence.New(presence.Options{
		Hooks: presence.Hooks{
			BeforeNewChannel: func(ctx context.Context, c *presence.Conn, channel string, m presence.Member) error {
				if channel == "staff" {
					return &presence.Error{Text: "staff only"}
				}
				return nil
			},
		},
	})
	c := eng.Connect("C1", printer("carol"))
	_ = eng.Join(ctx, c, presence.Member{Name: "Carol"})
	err := eng.Subscribe(ctx, c, "staff")
	fmt.Println(err)
	// Output:
	// presence: channel denied: staff only
}
