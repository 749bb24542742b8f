// Package natsbroker is the presence engine's Broker over NATS: the nodes
// of a rollcall cluster replicate their presence entries, fan out
// publishes and reach each other's connections through NATS, either an
// embedded nats-server per node, routed to its peers, or an external NATS.
//
// Wiring a node (the engine is package presence):
//
//	n, err := natsbroker.New(ctx, natsbroker.Options{
//		Name:          "n1",
//		ClusterListen: "10.0.0.1:6222",
//		Peers:         []string{"10.0.0.2:6222"}, // any live nodes
//	})
//	if err != nil {
//		return err // errors.Is(err, natsbroker.ErrNameInUse): a live n1 exists
//	}
//	defer n.Close() // after the engine stopped: the others forget n1 at once
//	eng := presence.New(presence.Options{Node: n.Name(), Broker: n})
//	if err := n.Start(eng.Receiver()); err != nil {
//		return err
//	}
//	err = n.WaitReady(ctx) // the other nodes' entries are in
//
// # Model
//
// Each node owns the entries of its own connections and streams their
// changes (Replicate) with its incarnation (random, drawn by New) and a
// sequence number. Every other node applies the stream in order; a gap, a
// new incarnation, or its own reconnect to NATS makes it ask the owner for
// a snapshot (Receiver.Entries there, Receiver.Sync here), sent in chunks
// under NATS's payload limit. A snapshot tagged with sequence s holds every
// change up to s and maybe a few after; those are applied again, so the
// receiver's Apply must be idempotent (the engine's is).
//
// Every node heartbeats (Options.Heartbeat, 1 s) its incarnation, last
// sequence and entry count. A node is forgotten (Receiver.Forget) when it
// says it leaves (Close), when a new incarnation of its name is heard (it
// restarted), when its embedded server's route closes (polled every 100 ms and counted at the next poll:
// nats-server has no event for a closed route, and $SYS shutdown events
// come only from a server shutting down cleanly), and, as the backstop,
// after Options.NodeTimeout (3 s) without a heartbeat.
//
// Publish uses one subject per channel (the name base64url-encoded into one
// token, so any name is safe); a node subscribes on the channel's first
// local subscriber. The connection uses NoEcho: a node never hears itself.
// SendTo uses a per-node inbox, and BroadcastGroups one subject per
// sending node, which every node subscribes to. Everything is at most once: NATS drops what
// it cannot deliver, and what is lost of a replication stream is repaired.
//
// # Embedded server
//
// The embedded nats-server listens for routes on Options.ClusterListen,
// knows the others through Options.Peers and route gossip (a new node given
// one live node joins all), runs without JetStream, monitoring, logs or
// signal handlers, and is named after the node and its incarnation. The
// node talks to it in process. Its client listener cannot be disabled
// (nats-server v2.15.2 does not start routing with DontListen), so it is on
// a random 127.0.0.1 port that takes only a random token the node keeps.
//
// Whatever routes into ClusterListen is a node. Options.ClusterSecret makes
// routes authenticate with credentials derived from a shared secret
// (RouteCredentials), Options.ClusterTLS puts them in TLS (RouteTLS: mutual).
// The control stream is checked as untrusted input: malformed or
// inconsistent messages are dropped and counted (Counters.ControlDropped).
//
// A route carries only one hop: the nodes form a full mesh, and a node
// that lost its route to another (but not to the rest) forgets it until
// the route is back.
package natsbroker
