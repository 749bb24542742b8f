package natsbroker_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/rollcall/rollcall/cluster/natsbroker"
	"github.com/rollcall/rollcall/presence"
)

// joined is a Sink that reports the members it hears enter a channel.
type joined chan string

func (j joined) Deliver(ev *presence.Event) {
	if ev.Kind == presence.KindNewChannelMember {
		j <- ev.Member.Name + " joined " + ev.Channel
	}
}

// startNode starts one cluster node with its engine: a Node first (it
// claims the name), then the engine on it, then the node's replication.
func startNode(ctx context.Context, name string, peers ...string) (*natsbroker.Node, *presence.Engine) {
	n, err := natsbroker.New(ctx, natsbroker.Options{
		Name:          name,
		ClusterListen: "127.0.0.1:0", // on a network: the host's address, with a secret and TLS
		Peers:         peers,
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		log.Fatal(err) // errors.Is(err, natsbroker.ErrNameInUse): a live node has the name
	}
	eng := presence.New(presence.Options{Node: n.Name(), Broker: n})
	if err := n.Start(eng.Receiver()); err != nil {
		log.Fatal(err)
	}
	if err := n.WaitReady(ctx); err != nil { // the other nodes' entries are in
		log.Fatal(err)
	}
	return n, eng
}

// Two nodes of a cluster in one program: a member who joins a channel on
// one node is seen by a subscriber on the other. In production each node
// is its own process (rollcall serve --cluster-listen ... --cluster-peers ...).
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	n1, eng1 := startNode(ctx, "n1")
	defer n1.Close() // after the engine's connections are gone: the others forget n1 at once
	n2, eng2 := startNode(ctx, "n2", n1.ClusterAddr())
	defer n2.Close()

	heard := make(joined, 4)
	bob := eng2.Connect("B1", heard)
	_ = eng2.Join(ctx, bob, presence.Member{ID: "bob", Name: "Bob"})
	_ = eng2.Subscribe(ctx, bob, "lobby")
	fmt.Println(<-heard) // bob's own subscription

	alice := eng1.Connect("A1", joined(make(chan string, 4)))
	_ = eng1.Join(ctx, alice, presence.Member{ID: "alice", Name: "Alice"})
	_ = eng1.Subscribe(ctx, alice, "lobby")
	select {
	case s := <-heard:
		fmt.Println(s, "(on the other node)")
	case <-ctx.Done():
		fmt.Println("not replicated in time")
	}
	eng1.Disconnect(alice)
	eng2.Disconnect(bob)
	// Output:
	// Bob joined lobby
	// Alice joined lobby (on the other node)
}
