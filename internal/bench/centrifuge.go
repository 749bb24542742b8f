package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
)

// Centrifuge drives the comparator (bench/centrifuge, a server built on
// github.com/centrifugal/centrifuge) with Centrifuge's client protocol v2 in
// JSON.
//
// A member is a connection: its id is the client id of the connect reply,
// and joins, leaves and member lists all name clients by that id. The
// member name goes in the connect data as {"name":...}, which the
// comparator makes the user id. Payloads travel as JSON strings in the
// publication data, so valid UTF-8 arrives exactly as sent.
type Centrifuge struct{}

// Name implements Driver.
func (Centrifuge) Name() string { return "centrifuge" }

// cfPath is where the comparator serves its WebSocket handler.
const cfPath = "connection/websocket"

// cfConnectID is the id of the connect command, the first of a connection.
const cfConnectID = 1

// cfPong answers a server ping: an empty command.
var cfPong = []byte(`{}`)

// Kinds of commands awaiting a reply.
const (
	cfCmdSubscribe = iota + 1
	cfCmdPublish
	cfCmdPresence
)

type cfPending struct {
	kind    uint8
	channel string
}

type cfClient struct {
	ws *wsConn
	h  *Handler
	id string // set by the read goroutine before Dial returns

	mu      sync.Mutex
	nextID  uint32
	pending map[uint32]cfPending
}

// Dial implements Driver: it connects to target's /connection/websocket,
// sends the connect command with name and returns once the server has
// answered it with the client id.
func (Centrifuge) Dial(ctx context.Context, target string, laddr *net.TCPAddr, name string, h *Handler) (Client, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("centrifuge: target %q: %w", target, err)
	}
	ws, err := dialWS(ctx, u.JoinPath(cfPath).String(), laddr, "centrifuge-json")
	if err != nil {
		return nil, fmt.Errorf("centrifuge: %w", err)
	}
	c := &cfClient{ws: ws, h: h, nextID: cfConnectID, pending: make(map[uint32]cfPending)}
	connected := make(chan error, 1)
	answer := func(err error) {
		select {
		case connected <- err:
		default: // Dial has its answer already
		}
	}
	var ready bool // owned by the read goroutine
	ws.start(func(frame []byte) {
		h.count(len(frame))
		forEachLine(frame, func(line []byte) {
			if ready {
				c.handle(line)
				return
			}
			var r cfReply
			switch err := json.Unmarshal(line, &r); {
			case err != nil:
				answer(fmt.Errorf("bad connect reply: %w", err))
			case r.ID != cfConnectID:
				// Nothing else comes before the connect reply.
			case r.Error != nil:
				answer(fmt.Errorf("connect refused: %d %s", r.Error.Code, r.Error.Message))
			case r.Connect == nil || r.Connect.Client == "":
				answer(errors.New("connect reply without a client id"))
			default:
				c.id = r.Connect.Client
				ready = true
				answer(nil)
			}
		})
	}, func(err error) {
		if !ready {
			if err == nil {
				err = errors.New("closed")
			}
			answer(fmt.Errorf("read before connected: %w", err))
			return
		}
		if err != nil && h.Error != nil {
			h.Error(fmt.Errorf("centrifuge: read: %w", err))
		}
	})
	cmd := strconv.AppendUint([]byte(`{"id":`), cfConnectID, 10)
	cmd = append(cmd, `,"connect":{"name":"rollcall-bench","data":{"name":`...)
	cmd = appendJSONString(cmd, []byte(name))
	cmd = append(cmd, "}}}"...)
	if err = ws.write(cmd); err == nil {
		select {
		case err = <-connected:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		_ = ws.close()
		return nil, fmt.Errorf("centrifuge: %s: %w", name, err)
	}
	return c, nil
}

// forEachLine calls f with each non-empty line of frame: the server may
// put several replies in one frame, one per line.
func forEachLine(frame []byte, f func([]byte)) {
	for len(frame) > 0 {
		line := frame
		if i := bytes.IndexByte(frame, '\n'); i >= 0 {
			line, frame = frame[:i], frame[i+1:]
		} else {
			frame = nil
		}
		if len(bytes.TrimSpace(line)) > 0 {
			f(line)
		}
	}
}

// cfReply is the part of a protocol v2 Reply the driver reads.
type cfReply struct {
	ID       uint32      `json:"id"`
	Error    *cfError    `json:"error"`
	Push     *cfPush     `json:"push"`
	Connect  *cfConnect  `json:"connect"`
	Presence *cfPresence `json:"presence"`
}

type cfError struct {
	Code    uint32 `json:"code"`
	Message string `json:"message"`
}

type cfConnect struct {
	Client string `json:"client"`
}

type cfPresence struct {
	// Presence is keyed by client id; the client infos are not needed.
	Presence map[string]struct{} `json:"presence"`
}

type cfPush struct {
	Channel     string       `json:"channel"`
	Pub         *cfPub       `json:"pub"`
	Join        *cfJoinLeave `json:"join"`
	Leave       *cfJoinLeave `json:"leave"`
	Unsubscribe *cfReason    `json:"unsubscribe"`
	Disconnect  *cfReason    `json:"disconnect"`
}

type cfPub struct {
	Data cfData `json:"data"`
}

type cfJoinLeave struct {
	Info struct {
		Client string `json:"client"`
	} `json:"info"`
}

type cfReason struct {
	Code   uint32 `json:"code"`
	Reason string `json:"reason"`
}

// cfData is publication data: the bytes of a JSON string, or the raw JSON
// of anything else.
type cfData []byte

// UnmarshalJSON implements json.Unmarshaler; b is valid JSON.
func (d *cfData) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' {
		*d = append((*d)[:0], b...)
		return nil
	}
	if bytes.IndexByte(b, '\\') < 0 {
		// No escapes: the bytes between the quotes are the string.
		*d = append((*d)[:0], b[1:len(b)-1]...)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = append((*d)[:0], s...)
	return nil
}

var (
	cfPushStart = []byte(`{"push":`)
	cfChannel   = []byte(`"channel":"`)
	cfPubData   = []byte(`"pub":{"data":"`)
)

// cfFastPub reads channel and data from a publication push without
// encoding/json, as fastPublish does for rollcall's frames, so that the
// generator spends about as little on either server's messages. It
// declines (ok false) anything else, and strings with escapes.
func cfFastPub(line []byte) (channel string, data []byte, ok bool) {
	if !bytes.HasPrefix(line, cfPushStart) {
		return "", nil, false
	}
	data, ok = plainString(line, cfPubData)
	if !ok {
		return "", nil, false
	}
	ch, ok := plainString(line, cfChannel)
	return string(ch), data, ok
}

// handle dispatches one reply or push; it runs on the read goroutine.
func (c *cfClient) handle(line []byte) {
	h := c.h
	if h.Message != nil {
		if ch, data, ok := cfFastPub(line); ok {
			h.Message(ch, data)
			return
		}
	}
	var r cfReply
	if err := json.Unmarshal(line, &r); err != nil {
		c.fail(fmt.Errorf("centrifuge: bad frame: %w", err))
		return
	}
	if r.ID != 0 {
		c.reply(&r)
		return
	}
	p := r.Push
	if p == nil {
		if r.Error == nil {
			// An empty reply is a ping; the pong is an empty command.
			if err := c.ws.write(cfPong); err != nil {
				c.fail(fmt.Errorf("centrifuge: pong: %w", err))
			}
		}
		return
	}
	switch {
	case p.Pub != nil:
		if h.Message != nil {
			h.Message(p.Channel, p.Pub.Data)
		}
	case p.Join != nil:
		// The own join was reported with the subscribe reply.
		if h.Join != nil && p.Join.Info.Client != c.id {
			h.Join(p.Channel, p.Join.Info.Client)
		}
	case p.Leave != nil:
		if h.Leave != nil {
			h.Leave(p.Channel, p.Leave.Info.Client)
		}
	case p.Unsubscribe != nil:
		c.fail(fmt.Errorf("centrifuge: unsubscribed from %q: %d %s", p.Channel, p.Unsubscribe.Code, p.Unsubscribe.Reason))
	case p.Disconnect != nil:
		c.fail(fmt.Errorf("centrifuge: disconnected: %d %s", p.Disconnect.Code, p.Disconnect.Reason))
	}
}

// reply handles the reply to command r.ID.
func (c *cfClient) reply(r *cfReply) {
	c.mu.Lock()
	p, ok := c.pending[r.ID]
	delete(c.pending, r.ID)
	c.mu.Unlock()
	if !ok {
		c.fail(fmt.Errorf("centrifuge: reply to unknown command %d", r.ID))
		return
	}
	if r.Error != nil {
		c.fail(fmt.Errorf("centrifuge: %s %q: error %d %s", cfKindName(p.kind), p.channel, r.Error.Code, r.Error.Message))
		return
	}
	switch p.kind {
	case cfCmdSubscribe:
		if c.h.Join != nil {
			c.h.Join(p.channel, c.id)
		}
	case cfCmdPresence:
		if c.h.Members != nil {
			var ids []string
			if r.Presence != nil {
				ids = make([]string, 0, len(r.Presence.Presence))
				for id := range r.Presence.Presence {
					ids = append(ids, id)
				}
			}
			c.h.Members(p.channel, ids)
		}
	}
}

func cfKindName(kind uint8) string {
	switch kind {
	case cfCmdSubscribe:
		return "subscribe"
	case cfCmdPublish:
		return "publish"
	case cfCmdPresence:
		return "presence"
	}
	return "command"
}

func (c *cfClient) fail(err error) {
	if c.h.Error != nil {
		c.h.Error(err)
	}
}

// ID implements Client: the client id the server gave the connection.
func (c *cfClient) ID() string { return c.id }

// Join implements Client with a subscribe command asking for join/leave.
func (c *cfClient) Join(channel string) error {
	return c.send(cfCmdSubscribe, channel, func(b []byte) []byte {
		return append(b, `,"join_leave":true`...)
	})
}

// Publish implements Client: payload goes as a JSON string.
func (c *cfClient) Publish(channel string, payload []byte) error {
	return c.send(cfCmdPublish, channel, func(b []byte) []byte {
		b = append(b, `,"data":`...)
		return appendJSONString(b, payload)
	})
}

// Members implements Client with a presence command.
func (c *cfClient) Members(channel string) error {
	return c.send(cfCmdPresence, channel, nil)
}

// Close implements Client.
func (c *cfClient) Close() error {
	return c.ws.close()
}

var cfBufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// send writes {"id":N,"<kind>":{"channel":channel<rest>}} and records the
// command until its reply.
func (c *cfClient) send(kind uint8, channel string, rest func([]byte) []byte) error {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	c.pending[id] = cfPending{kind: kind, channel: channel}
	c.mu.Unlock()

	bp := cfBufs.Get().(*[]byte)
	b := append((*bp)[:0], `{"id":`...)
	b = strconv.AppendUint(b, uint64(id), 10)
	b = append(b, `,"`...)
	b = append(b, cfKindName(kind)...)
	b = append(b, `":{"channel":`...)
	b = appendJSONString(b, []byte(channel))
	if rest != nil {
		b = rest(b)
	}
	b = append(b, "}}"...)
	err := c.ws.write(b)
	if cap(b) <= 64<<10 {
		*bp = b
		cfBufs.Put(bp)
	}
	if err != nil {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return fmt.Errorf("centrifuge: %s %q: %w", cfKindName(kind), channel, err)
	}
	return nil
}

// appendJSONString appends s as a JSON string (encoding/json's escaping;
// invalid UTF-8 becomes U+FFFD).
func appendJSONString(dst, s []byte) []byte {
	b, _ := json.Marshal(string(s)) // a string always marshals
	return append(dst, b...)
}
