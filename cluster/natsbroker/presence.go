package natsbroker

import (
	"encoding/binary"

	"github.com/rollcall/rollcall/presence"
)

// The presence adapter: Node is a presence.Broker, and Start attaches the
// engine's Receiver. Events and changes cross NATS in a compact binary
// form (below); an event is encoded once, cached in the event itself
// (Event.Frame), however many Publish and SendTo calls carry it.

var _ presence.Broker = (*Node)(nil)

// Start attaches the engine's receiver and begins the node's life in the
// cluster: it hears the other nodes, asks each for a snapshot, heartbeats
// and answers snapshot requests. Call it once, after presence.New with this
// node as Options.Broker; Ready tells when the replicas are in.
func (n *Node) Start(r presence.Receiver) error { return n.start(engineReceiver{r}) }

// Publish sends ev to the other nodes subscribed to channel.
func (n *Node) Publish(channel string, ev *presence.Event) {
	n.publish(channel, ev.Frame(eventFrame{}, encodeEvent))
}

// SendTo sends ev to connection conn (a session id) of node.
func (n *Node) SendTo(node, conn string, ev *presence.Event) {
	n.sendTo(node, conn, ev.Frame(eventFrame{}, encodeEvent))
}

// BroadcastGroups sends a group broadcast to every other node.
func (n *Node) BroadcastGroups(pattern, text string) {
	b := make([]byte, 0, len(pattern)+len(text)+binary.MaxVarintLen64)
	b = appendString(b, pattern)
	n.broadcastGroups(append(b, text...))
}

// Replicate sends one change of this node's entries to every other node,
// in order. It only takes a mutex and buffers: the engine may hold a lock.
func (n *Node) Replicate(ch presence.Change) {
	delta := 0
	switch ch.Op {
	case presence.OpAdd:
		delta = 1
	case presence.OpRemove, presence.OpUnsubscribe:
		delta = -1
	}
	n.replicateFunc(delta, func(b []byte) []byte { return appendChange(b, ch) })
}

// eventFrame is the Event.Frame key of this package's encoding.
type eventFrame struct{}

// engineReceiver decodes what the core receives for the engine. A message
// that does not decode is dropped (logged by nobody: it can only come from
// a node of another version).
type engineReceiver struct{ r presence.Receiver }

func (e engineReceiver) deliver(channel string, data []byte) {
	if ev, ok := decodeEvent(data); ok {
		e.r.Deliver(channel, ev)
	}
}

func (e engineReceiver) deliverTo(conn string, data []byte) {
	if ev, ok := decodeEvent(data); ok {
		e.r.DeliverTo(conn, ev)
	}
}

func (e engineReceiver) deliverGroups(data []byte) {
	r := reader{b: data}
	pattern := r.string()
	if text := r.rest(); r.err == nil {
		e.r.DeliverGroups(pattern, string(text))
	}
}

func (e engineReceiver) apply(node string, b []byte) {
	if ch, ok := decodeChange(b); ok {
		e.r.Apply(node, ch)
	}
}

func (e engineReceiver) sync(node string, entries [][]byte) {
	chs := make([]presence.Change, 0, len(entries))
	for _, b := range entries {
		if ch, ok := decodeChange(b); ok {
			chs = append(chs, ch)
		}
	}
	e.r.Sync(node, chs)
}

func (e engineReceiver) forget(node string) { e.r.Forget(node) }

func (e engineReceiver) entries() [][]byte {
	chs := e.r.Entries()
	out := make([][]byte, len(chs))
	for i, ch := range chs {
		out[i] = appendChange(nil, ch)
	}
	return out
}

// Encodings. Strings and byte fields are length-prefixed (uvarint).
//
//	event:  version 1, kind byte, channel, name, data, member, member
//	        count uvarint, members, except, err flag byte (0: none; 1:
//	        reason, text, code varint)
//	member: id, name, info
//	change: op byte, conn, channel, member
const eventVersion = 1

func encodeEvent(ev *presence.Event) []byte {
	size := 16 + len(ev.Channel) + len(ev.Name) + len(ev.Data) + memberSize(ev.Member) + len(ev.Except)
	for _, m := range ev.Members {
		size += memberSize(m)
	}
	if ev.Err != nil {
		size += 16 + len(ev.Err.Reason) + len(ev.Err.Text)
	}
	b := make([]byte, 0, size)
	b = append(b, eventVersion, byte(ev.Kind))
	b = appendString(b, ev.Channel)
	b = appendString(b, ev.Name)
	b = appendBytes(b, ev.Data)
	b = appendMember(b, ev.Member)
	b = binary.AppendUvarint(b, uint64(len(ev.Members)))
	for _, m := range ev.Members {
		b = appendMember(b, m)
	}
	b = appendString(b, ev.Except)
	if ev.Err == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	b = appendString(b, string(ev.Err.Reason))
	b = appendString(b, ev.Err.Text)
	return binary.AppendVarint(b, int64(ev.Err.Code))
}

// decodeEvent builds a fresh event from b. Data and Info alias b, which
// nobody changes after.
func decodeEvent(b []byte) (*presence.Event, bool) {
	r := reader{b: b}
	if r.byte() != eventVersion {
		return nil, false
	}
	ev := &presence.Event{Kind: presence.Kind(r.byte())}
	ev.Channel = r.string()
	ev.Name = r.string()
	ev.Data = orNil(r.bytes())
	ev.Member = r.member()
	if n := r.uvarint(); r.err == nil && n > 0 {
		if n > uint64(len(r.b)) { // each member takes at least 3 bytes
			return nil, false
		}
		ev.Members = make([]presence.Member, n)
		for i := range ev.Members {
			ev.Members[i] = r.member()
		}
	}
	ev.Except = r.string()
	if r.byte() == 1 {
		ev.Err = &presence.Error{Reason: presence.Reason(r.string()), Text: r.string(), Code: int(r.varint())}
	}
	return ev, r.err == nil
}

func appendChange(b []byte, ch presence.Change) []byte {
	b = append(b, byte(ch.Op))
	b = appendString(b, ch.Conn)
	b = appendString(b, ch.Channel)
	return appendMember(b, ch.Member)
}

func decodeChange(b []byte) (presence.Change, bool) {
	r := reader{b: b}
	ch := presence.Change{Op: presence.Op(r.byte())}
	ch.Conn = r.string()
	ch.Channel = r.string()
	ch.Member = r.member()
	return ch, r.err == nil
}

func memberSize(m presence.Member) int { return 15 + len(m.ID) + len(m.Name) + len(m.Info) }

func appendMember(b []byte, m presence.Member) []byte {
	b = appendString(b, m.ID)
	b = appendString(b, m.Name)
	return appendBytes(b, m.Info)
}

func (r *reader) member() presence.Member {
	return presence.Member{ID: r.string(), Name: r.string(), Info: orNil(r.bytes())}
}

func orNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
