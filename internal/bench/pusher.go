package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// The app rollcall serves for the Pusher runs (see pusherConfig).
const (
	PusherAppID     = "bench"
	PusherAppKey    = "bench-key"
	PusherAppSecret = "bench-secret"
)

// Pusher drives rollcall with the Pusher Channels protocol, as pusher-js
// speaks it: a channel "fan-3" of the scenario is the presence channel
// "presence-fan-3", a member subscribes with a signed channel_data whose
// user_id is its socket id, and a publish is a client event, which the
// server relays to every other subscriber (never back to the sender, so
// the publisher does not count itself). Only the scenarios made of joins
// and publishes run over it (fanout); Members is not in the protocol.
type Pusher struct{}

// Name implements Driver.
func (Pusher) Name() string { return "rollcall-pusher" }

const pusherEvent = "client-m"

type pusherClient struct {
	ws  *wsConn
	id  string
	buf []byte
}

// Dial implements Driver: it waits for connection_established.
func (Pusher) Dial(ctx context.Context, target string, laddr *net.TCPAddr, name string, h *Handler) (Client, error) {
	u := strings.TrimSuffix(target, "/") + "/app/" + PusherAppKey + "?protocol=7&client=rollcall-bench&version=1"
	ws, err := dialWS(ctx, u, laddr)
	if err != nil {
		return nil, err
	}
	c := &pusherClient{ws: ws}
	ready := make(chan error, 1)
	established := false
	ws.start(func(frame []byte) {
		h.count(len(frame))
		if established && h.Message != nil {
			if ch, data, ok := fastClientEvent(frame); ok {
				h.Message(ch, data)
				return
			}
		}
		f, err := pusherwire.DecodeFrame(frame)
		if err != nil {
			if h.Error != nil {
				h.Error(fmt.Errorf("pusher: bad frame: %w", err))
			}
			return
		}
		switch f.Event {
		case pusherwire.EventConnectionEstablished:
			var d struct {
				SocketID string `json:"socket_id"`
			}
			if err := json.Unmarshal(f.DataJSON(), &d); err != nil || d.SocketID == "" {
				ready <- fmt.Errorf("pusher: bad connection_established %s", frame)
				return
			}
			c.id, established = d.SocketID, true
			ready <- nil
		case pusherwire.EventSubscriptionSucceeded:
			if h.Join != nil {
				h.Join(scenarioChannel(f.Channel), c.id)
			}
		case pusherwire.EventMemberAdded:
			var d struct {
				UserID string `json:"user_id"`
			}
			if json.Unmarshal(f.DataJSON(), &d) == nil && h.Join != nil {
				h.Join(scenarioChannel(f.Channel), d.UserID)
			}
		case pusherwire.EventMemberRemoved:
			var d struct {
				UserID string `json:"user_id"`
			}
			if json.Unmarshal(f.DataJSON(), &d) == nil && h.Leave != nil {
				h.Leave(scenarioChannel(f.Channel), d.UserID)
			}
		case pusherwire.EventError, pusherwire.EventSubscriptionError:
			if !established {
				ready <- fmt.Errorf("pusher: refused: %s", frame)
				return
			}
			if h.Error != nil {
				h.Error(fmt.Errorf("pusher: %s", frame))
			}
		case pusherwire.EventPing:
			_ = ws.write(pusherwire.AppendPong(nil))
		case pusherEvent:
			if h.Message != nil {
				var s string
				if json.Unmarshal(f.Data, &s) == nil {
					h.Message(scenarioChannel(f.Channel), []byte(s))
				}
			}
		}
	}, func(err error) {
		if !established {
			if err == nil {
				err = errors.New("closed before connection_established")
			}
			select {
			case ready <- err:
			default:
			}
			return
		}
		if err != nil && h.Error != nil {
			h.Error(fmt.Errorf("pusher: read: %w", err))
		}
	})
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		ws.close()
		return nil, fmt.Errorf("pusher: %s: %w", name, err)
	}
	return c, nil
}

func pusherChannel(ch string) string   { return pusherwire.PresencePrefix + ch }
func scenarioChannel(ch string) string { return strings.TrimPrefix(ch, pusherwire.PresencePrefix) }

var (
	pusherEventKey = []byte(`{"event":"` + pusherEvent + `","channel":"`)
	pusherDataKey  = []byte(`","data":"`)
)

// fastClientEvent reads channel and data of a relayed client event
// without decoding all of it; it declines data with escapes.
func fastClientEvent(frame []byte) (channel string, data []byte, ok bool) {
	rest, ok := bytes.CutPrefix(frame, pusherEventKey)
	if !ok {
		return "", nil, false
	}
	ch, rest, ok := bytes.Cut(rest, pusherDataKey)
	if !ok || bytes.IndexByte(ch, '"') >= 0 {
		return "", nil, false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", nil, false
	}
	return scenarioChannel(string(ch)), rest[:end], true
}

func (c *pusherClient) ID() string { return c.id }

// Join subscribes to the presence channel with a channel_data signed as
// an auth endpoint would sign it.
func (c *pusherClient) Join(channel string) error {
	ch := pusherChannel(channel)
	cd := `{"user_id":"` + c.id + `"}`
	b, _ := json.Marshal(map[string]any{"event": pusherwire.EventSubscribe, "data": map[string]string{
		"channel": ch, "auth": pusherwire.PresenceAuth(PusherAppKey, PusherAppSecret, c.id, ch, cd), "channel_data": cd,
	}})
	return c.ws.write(b)
}

// Publish sends a client event whose data is payload as a JSON string
// (the fanout payload is plain ASCII).
func (c *pusherClient) Publish(channel string, payload []byte) error {
	b := append(c.buf[:0], `{"event":"`+pusherEvent+`","channel":"`...)
	b = append(b, pusherChannel(channel)...)
	b = append(b, `","data":"`...)
	b = append(b, payload...)
	b = append(b, `"}`...)
	c.buf = b
	return c.ws.write(b)
}

func (c *pusherClient) Members(string) error {
	return errors.New("pusher: the protocol has no member list request (use the HTTP API)")
}

func (c *pusherClient) Close() error { return c.ws.close() }

// pusherConfig writes the YAML file rollcall serves the bench's Pusher app
// with: client events on and unlimited, presence channels without a
// member cap. It returns the file's path and a function that removes it.
func pusherConfig() (string, func(), error) {
	dir, err := os.MkdirTemp("", "rollcall-bench-pusher-")
	if err != nil {
		return "", nil, err
	}
	path := filepath.Join(dir, "rollcall.yaml")
	yaml := fmt.Sprintf(`pusher:
  apps:
    - id: %q
      key: %q
      secret: %q
      client_events: true
      client_events_per_second: 1000000000
      max_presence_members: 1000000000
      max_event_bytes: 1000000
`, PusherAppID, PusherAppKey, PusherAppSecret)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return path, func() { os.RemoveAll(dir) }, nil
}
