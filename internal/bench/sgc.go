package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// SGC drives rollcall (or any sgc Presence server) with the
// presence.esegece.com protocol.
type SGC struct {
	// Diffs asks for the rollcall extension's diffs (rollcall@hello) before
	// joining: channel member lists then arrive as rollcall@members pages
	// (Handler.List) and the changes as rollcall@diff (Handler.Diff).
	Diffs bool
	// Counts asks for the counts extension before joining, and makes every
	// Join a counts-only subscription ("counts":true): a member of the
	// channel that hears its member count instead of its changes.
	Counts bool
}

// Name implements Driver.
func (d SGC) Name() string {
	switch {
	case d.Diffs:
		return "rollcall-diffs"
	case d.Counts:
		return "rollcall-counts"
	}
	return "rollcall"
}

// extensions are the rollcall extensions d asks for.
func (d SGC) extensions() []string {
	var exts []string
	if d.Diffs {
		exts = append(exts, sgcwire.ExtDiffs)
	}
	if d.Counts {
		exts = append(exts, sgcwire.ExtCounts)
	}
	return exts
}

type sgcClient struct {
	ws       *wsConn
	id       string
	name     string
	enc      sgcwire.Encoder
	pages    map[string][]string // channel → the ids of the list pages so far
	keyPages map[string][]uint64 // the same, as keys (Handler.ListKeys)
	counts   bool                // Join subscribes counts-only
}

// quickList hands a page or a diff read for its keys to h.
func (c *sgcClient) quickList(q quickList, h *Handler) {
	if q.ack != "" {
		_ = c.ws.write(sgcwire.AppendAck(nil, q.ack))
	}
	if q.diff {
		if h.DiffKeys != nil {
			h.DiffKeys(q.channel, q.from, q.version, q.joined, q.left)
		}
		return
	}
	if keys, ok := gather(&c.keyPages, q.channel, q.joined, q.more); ok && h.ListKeys != nil {
		h.ListKeys(q.channel, q.version, keys)
	}
}

// gather adds a page of channel's member list to those gathered in
// *pages; with the last page (more false) it returns them all.
func gather[T any](pages *map[string][]T, channel string, page []T, more bool) ([]T, bool) {
	if *pages == nil {
		*pages = make(map[string][]T)
	}
	all := append((*pages)[channel], page...)
	if more {
		(*pages)[channel] = all
		return nil, false
	}
	delete(*pages, channel)
	return all, true
}

// Dial implements Driver: it waits for the session frame, joins as a
// member named name and returns once the server has echoed the join.
//
// With Diffs or Counts it asks for them right after the session frame,
// before the join (the server takes diffs only then), and fails if the
// server does not accept them.
func (d SGC) Dial(ctx context.Context, target string, laddr *net.TCPAddr, name string, h *Handler) (Client, error) {
	ws, err := dialWS(ctx, target, laddr, sgcwire.Subprotocol)
	if err != nil {
		return nil, err
	}
	c := &sgcClient{ws: ws, name: name, counts: d.Counts}
	joined := make(chan error, 1)
	var session string
	// Until joined, frames are handled here; the handler h takes over after.
	var ready bool
	ws.start(func(frame []byte) {
		h.count(len(frame))
		if ready && h.Message != nil {
			if ch, text, ok := fastPublish(frame); ok {
				h.Message(ch, text)
				return
			}
		}
		if ready && (h.ListKeys != nil || h.DiffKeys != nil) {
			if q, ok := readQuickList(frame); ok {
				c.quickList(q, h)
				return
			}
		}
		m, err := sgcwire.Decode(frame)
		if err != nil {
			if h.Error != nil {
				h.Error(fmt.Errorf("rollcall: bad frame: %w", err))
			}
			return
		}
		if m.ID != "" && m.Method != sgcwire.MethodAcknowledgment {
			_ = ws.write(sgcwire.AppendAck(nil, m.ID))
		}
		if !ready {
			switch {
			case m.Method == sgcwire.MethodSession && session == "":
				session = m.Text
				c.id = session
				if exts := d.extensions(); exts != nil {
					if err := ws.write(c.enc.Encode(&sgcwire.Message{Method: sgcwire.MethodHello, Extensions: exts})); err != nil {
						joined <- err
					}
				}
				if err := ws.write(c.enc.Encode(&sgcwire.Message{Method: sgcwire.MethodNewMember,
					Member: sgcwire.Member{ID: session, Name: name}})); err != nil {
					joined <- err
				}
			case m.Method == sgcwire.MethodNewMember && session != "" && m.Member.ID == session:
				ready = true
				joined <- nil
			case m.Method == sgcwire.MethodHello && !containsAll(m.Extensions, d.extensions()):
				joined <- fmt.Errorf("rollcall: the server accepted %q of %q", m.Extensions, d.extensions())
			case m.Method == sgcwire.MethodErrorMemberChannel:
				joined <- fmt.Errorf("rollcall: join refused: %d %s", m.Error.Code, m.Error.Text)
			}
			return
		}
		c.handle(m, h)
	}, func(err error) {
		if !ready {
			if err == nil {
				err = errors.New("closed before the join")
			}
			select {
			case joined <- err:
			default:
			}
		}
		if err != nil && h.Error != nil && ready {
			h.Error(fmt.Errorf("rollcall: read: %w", err))
		}
	})
	select {
	case err = <-joined:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		ws.close()
		return nil, fmt.Errorf("rollcall: %s: %w", name, err)
	}
	return c, nil
}

func (c *sgcClient) handle(m *sgcwire.Message, h *Handler) {
	switch m.Method {
	case sgcwire.MethodPublishMsg:
		if h.Message != nil {
			h.Message(m.Channel, []byte(m.Text))
		}
	case sgcwire.MethodNewChannelMember:
		if h.Join != nil {
			h.Join(m.Channel, m.Member.ID)
		}
	case sgcwire.MethodRemoveChannelMember:
		if h.Leave != nil {
			h.Leave(m.Channel, m.Member.ID)
		}
	case sgcwire.MethodSendMembers:
		if h.Members != nil {
			ids := make([]string, len(m.Members))
			for i, mm := range m.Members {
				ids[i] = mm.ID
			}
			h.Members(m.Channel, ids)
		}
	case sgcwire.MethodList:
		page := make([]string, len(m.Members))
		for i, mm := range m.Members {
			page[i] = mm.ID
		}
		if ids, ok := gather(&c.pages, m.Channel, page, m.More); ok && h.List != nil {
			h.List(m.Channel, m.Version, ids)
		}
	case sgcwire.MethodDiff:
		if h.Diff != nil {
			joined := make([]string, len(m.Joined))
			for i, mm := range m.Joined {
				joined[i] = mm.ID
			}
			h.Diff(m.Channel, m.From, m.Version, joined, m.Left)
		}
	case sgcwire.MethodErrorMemberChannel, sgcwire.MethodErrorPublishMsg:
		if h.Error != nil {
			h.Error(fmt.Errorf("rollcall: error %d %s [%s]", m.Error.Code, strings.TrimSpace(m.Error.Text), m.Channel))
		}
	}
}

var (
	publishMethod = []byte(`"method":"` + sgcwire.MethodPublishMsg + `"`)
	textKey       = []byte(`"message":{"text":"`)
	channelKey    = []byte(`"channel":{"name":"`)
)

// fastPublish reads channel and text from a publish@msg frame without
// decoding all of it, so that the generator's cost per message stays far
// below the server's. It declines (ok false) anything unusual: an
// acknowledgment id, escapes, Base64 values.
func fastPublish(frame []byte) (channel string, text []byte, ok bool) {
	if !bytes.Contains(frame, publishMethod) || bytes.Count(frame, []byte(`"id":`)) > 1 { // the member's id, and an acknowledgment id
		return "", nil, false
	}
	text, ok = plainString(frame, textKey)
	if !ok {
		return "", nil, false
	}
	ch, ok := plainString(frame, channelKey)
	return string(ch), text, ok
}

// plainString returns the JSON string after key, if it has no escapes and
// no Base64 prefix.
func plainString(frame, key []byte) ([]byte, bool) {
	i := bytes.Index(frame, key)
	if i < 0 {
		return nil, false
	}
	rest := frame[i+len(key):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 || bytes.HasPrefix(rest, []byte("sgc@b64:")) {
		return nil, false
	}
	return rest[:end], true
}

func (c *sgcClient) ID() string { return c.id }

func (c *sgcClient) self() sgcwire.Member { return sgcwire.Member{ID: c.id, Name: c.name} }

func (c *sgcClient) Join(channel string) error {
	return c.ws.write(c.enc.Encode(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Member: c.self(), Channel: channel, Counts: c.counts}))
}

// containsAll reports whether have holds every one of want.
func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

func (c *sgcClient) Publish(channel string, payload []byte) error {
	return c.ws.write(c.enc.Encode(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Member: c.self(), Channel: channel,
		Text: string(payload), HasText: true}))
}

func (c *sgcClient) Members(channel string) error {
	return c.ws.write(c.enc.Encode(&sgcwire.Message{Method: sgcwire.MethodGetMembers, Member: c.self(), Channel: channel}))
}

func (c *sgcClient) Close() error { return c.ws.close() }
