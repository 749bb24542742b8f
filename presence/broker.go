package presence

// Broker is the engine's one seam to the other nodes of a cluster. The
// engine delivers every event to its own connections itself; the broker
// only carries what other nodes need, and hands what they send to the
// engine's Receiver. A cluster builds its broker, passes it in
// Options.Broker (with Options.Node, this node's name), and starts it with
// the engine's Receiver (Engine.Receiver).
//
// Each node owns the presence entries of its own connections and is the
// only writer of them; the broker replicates them (Replicate) to every
// other node, which keeps a replica and derives joins and leaves from it
// exactly as the owner does. A fan-out crosses the broker once per node
// that has subscribers: the engine subscribes to a channel on its first
// local subscriber and unsubscribes after the last.
//
// The engine calls a Broker's methods with no engine lock held except
// where noted, never blocks on them, and expects no error: a broker that
// cannot reach the others reports it through its own means and repairs
// the replicas when it can (Receiver.Entries for a snapshot, Sync on the
// far side). Messages are at most once; a broker must never duplicate.
type Broker interface {
	// Subscribe asks for the events other nodes publish to channel. It is
	// called when the channel gets its first local subscriber.
	Subscribe(channel string)
	// Unsubscribe ends Subscribe after the channel's last local subscriber
	// left.
	Unsubscribe(channel string)
	// Publish sends ev to the nodes subscribed to channel (Everyone for
	// server-wide messages). ev is read-only; a broker encodes its exported
	// fields (Kind, Channel, Name, Data, Member, Members, Except, Err) and
	// the receiving engine delivers it to its own subscribers of channel.
	Publish(channel string, ev *Event)
	// SendTo sends ev to one connection (session id conn) on node.
	SendTo(node, conn string, ev *Event)
	// BroadcastGroups sends a group broadcast to every other node, which
	// delivers text to its own connections in the groups that match
	// pattern (as Groups.Broadcast; a broadcast to one group by name comes
	// with the name quoted into a pattern that matches it alone).
	BroadcastGroups(pattern, text string)
	// Replicate sends one change of this node's own presence entries to
	// every other node, in the order the engine made them. The engine calls
	// it with the changed channel's lock held, so that the order of the
	// changes of one channel is the order of the stream.
	Replicate(ch Change)
}

// Op says what a Change does to a presence entry.
type Op uint8

// Change operations.
const (
	// OpAdd: the connection's member entered the channel.
	OpAdd Op = iota + 1
	// OpRemove: the entry is gone because its member left or the
	// connection closed.
	OpRemove
	// OpUnsubscribe: the entry is gone because the member unsubscribed
	// (sgc tells every member of the server of it, see MemberEventsAll).
	OpUnsubscribe
)

// Change is one change of one node's presence entries: connection Conn
// (a session id) of that node, present in Channel as Member. Everyone is the
// channel of server-wide membership (a join).
type Change struct {
	Op      Op
	Conn    string
	Channel string
	Member  Member
}

// Receiver is what a Broker calls with what other nodes sent; Engine.Receiver
// returns the engine's. node is the sending node's name as the broker keys
// it (a restarted node may keep its name: Sync or Forget replace what the
// replica held of it). Calls for one node must come in that node's order; calls
// may come from any goroutine.
type Receiver interface {
	// Deliver hands an event another node published to channel to the
	// local subscribers of channel (except ev.Except).
	Deliver(channel string, ev *Event)
	// DeliverTo hands an event to one local connection (session id conn).
	DeliverTo(conn string, ev *Event)
	// DeliverGroups hands a group broadcast another node sent to the local
	// connections in the groups that match pattern.
	DeliverGroups(pattern, text string)
	// Apply applies one change of node's entries to the local replica and
	// tells the local subscribers the joins and leaves that result.
	Apply(node string, ch Change)
	// Sync replaces every entry of node in the local replica by entries (a
	// full snapshot, all OpAdd), telling local subscribers the difference.
	Sync(node string, entries []Change)
	// Forget drops every entry of node (it died, or left), telling local
	// subscribers the resulting leaves.
	Forget(node string)
	// Entries returns a snapshot of this node's own entries, for Sync on
	// the other nodes.
	Entries() []Change
}

// localBroker is the broker of a single node: there is nobody to tell.
type localBroker struct{}

func (localBroker) Subscribe(string)               {}
func (localBroker) Unsubscribe(string)             {}
func (localBroker) Publish(string, *Event)         {}
func (localBroker) SendTo(string, string, *Event)  {}
func (localBroker) BroadcastGroups(string, string) {}
func (localBroker) Replicate(Change)               {}
