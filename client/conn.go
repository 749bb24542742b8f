package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// conn is one WebSocket connection and the state that dies with it: the
// session, the pending requests and the unacknowledged frames.
type conn struct {
	c      *Client
	ws     *websocket.Conn
	ctx    context.Context
	cancel context.CancelFunc

	// Owned by the read loop until joined or done is closed.
	session  string
	memberID string // the member id the server gave us, when not the session id
	resumed  bool   // the server took a lost connection's presence over for us (rollcall@hello)
	joinDone bool
	joinErr  error
	joined   chan struct{}     // closed when the join succeeded or failed
	pages    map[string]*pages // member lists being received, by channel

	closing   atomic.Bool   // we are closing it: its read error is no news
	done      chan struct{} // closed when the read loop has exited
	readErr   error         // set before done is closed
	closeCode int           // set before done is closed

	mu      sync.Mutex
	pending map[opKey]*waiter
	acks    map[string]*unacked
}

type unacked struct {
	frame   []byte
	sent    time.Time
	retries int
}

type opKind uint8

const (
	opSubscribe opKind = iota + 1
	opUnsubscribe
	opMembers
	opUpdate
)

// opKey identifies a request whose reply can be matched: one pending
// request per kind and channel; identical requests queue behind it.
type opKey struct {
	kind    opKind
	channel string
}

type waiter struct {
	done    chan struct{}
	err     error
	members []Member
}

func newConn(c *Client, ws *websocket.Conn) *conn {
	ctx, cancel := context.WithCancel(c.ctx)
	return &conn{
		c: c, ws: ws, ctx: ctx, cancel: cancel,
		joined:  make(chan struct{}),
		done:    make(chan struct{}),
		pending: make(map[opKey]*waiter),
		acks:    make(map[string]*unacked),
	}
}

// self is this client's member identity on cn (valid once joined).
func (cn *conn) self() Member {
	name, info := cn.c.identity()
	return Member{ID: cn.session, Name: name, Info: info}
}

func (cn *conn) finishJoin(err error) {
	if cn.joinDone {
		return
	}
	cn.joinDone = true
	cn.joinErr = err
	close(cn.joined)
}

// send writes one protocol frame, giving it an acknowledgment id and keeping
// it for re-sending when acknowledgments are enabled.
func (c *Client) send(ctx context.Context, cn *conn, m *sgcwire.Message) error {
	ack := c.opts.Acknowledgment.Enabled
	if ack {
		m.ID = sgcwire.NewID()
	}
	frame := c.enc.Encode(m)
	if ack {
		cn.mu.Lock()
		cn.acks[m.ID] = &unacked{frame: frame, sent: time.Now()}
		cn.mu.Unlock()
	}
	if err := cn.ws.Write(ctx, websocket.MessageText, frame); err != nil {
		if ack {
			cn.mu.Lock()
			delete(cn.acks, m.ID)
			cn.mu.Unlock()
		}
		return fmt.Errorf("client: write %s: %w", m.Method, err)
	}
	return nil
}

// request sends m and waits for the reply matched to key.
func (c *Client) request(ctx context.Context, cn *conn, key opKey, m *sgcwire.Message) (*waiter, error) {
	var w *waiter
	for w == nil {
		cn.mu.Lock()
		prev := cn.pending[key]
		if prev == nil {
			w = &waiter{done: make(chan struct{})}
			cn.pending[key] = w
		}
		cn.mu.Unlock()
		if prev != nil {
			select {
			case <-prev.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-cn.done:
				return nil, c.lostErr()
			}
		}
	}
	if err := c.send(ctx, cn, m); err != nil {
		cn.drop(key, w)
		return nil, err
	}
	select {
	case <-w.done:
		return w, nil
	case <-ctx.Done():
		cn.drop(key, w)
		return nil, ctx.Err()
	case <-cn.done:
		select {
		case <-w.done:
			return w, nil
		default:
		}
		cn.drop(key, w)
		return nil, c.lostErr()
	}
}

// lostErr is the error of a request whose connection ended.
func (c *Client) lostErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closedByUser {
		return ErrClosed
	}
	return ErrConnectionLost
}

// drop abandons w if it is still pending, letting queued requests proceed.
func (cn *conn) drop(key opKey, w *waiter) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.pending[key] == w {
		delete(cn.pending, key)
		close(w.done)
	}
}

// resolve completes the request pending under key, if any.
func (cn *conn) resolve(key opKey, err error, members []Member) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if w := cn.pending[key]; w != nil {
		delete(cn.pending, key)
		w.err, w.members = err, members
		close(w.done)
	}
}

// resolveError completes every pending request an error frame answers: the
// error names the request's channel (or names none and has a code that sgc
// or rollcall sends without one), and its code fits the request kind.
func (cn *conn) resolveError(e Error, channel string) {
	generic := channel == "" && (e.Code == CodeMemberNotExists || e.Code >= 40 && e.Code < 50)
	cn.mu.Lock()
	defer cn.mu.Unlock()
	for key, w := range cn.pending {
		if (key.channel != channel && !generic) || !errorFits(key.kind, e.Code) {
			continue
		}
		delete(cn.pending, key)
		w.err = &Error{Code: e.Code, Text: e.Text}
		close(w.done)
	}
}

func errorFits(kind opKind, code int) bool {
	switch code {
	case CodeChannelDenied, CodeSubscriptionDenied, CodeSubscriptionExists,
		CodeTooManyChannels, CodeChannelFull:
		return kind == opSubscribe
	case CodeSubscriptionNotExists:
		return kind == opUnsubscribe
	case CodeChannelNotExists:
		return kind != opSubscribe
	case CodeSendMembersDenied:
		return kind == opMembers
	default:
		return true
	}
}

// readLoop reads frames until the connection ends.
func (c *Client) readLoop(cn *conn) {
	defer c.wg.Done()
	defer close(cn.done)
	for {
		typ, data, err := cn.ws.Read(cn.ctx)
		if err != nil {
			cn.readErr = err
			code := websocket.CloseStatus(err)
			if code == -1 {
				code = websocket.StatusAbnormalClosure
				if !c.isClosed() && !cn.closing.Load() && cn.ctx.Err() == nil {
					c.emitError(fmt.Errorf("client: read: %w", err))
				}
			}
			cn.closeCode = int(code)
			cn.ws.CloseNow()
			return
		}
		if typ != websocket.MessageText {
			c.log.Debug("binary frame ignored", "len", len(data))
			c.emitError(fmt.Errorf("%w: binary frame of %d bytes", ErrBadFrame, len(data)))
			continue
		}
		c.handle(cn, data)
	}
}

// handle processes one text frame: acknowledge it, do the bookkeeping that
// must not wait for handlers (join, replies, subscriptions, acks), and queue
// its events.
func (c *Client) handle(cn *conn, data []byte) {
	raw := string(data)
	m, err := sgcwire.Decode(data)
	if m != nil && m.ID != "" && m.Method != sgcwire.MethodAcknowledgment {
		if werr := cn.ws.Write(cn.ctx, websocket.MessageText, sgcwire.AppendAck(nil, m.ID)); werr != nil {
			c.log.Debug("writing acknowledgment", "id", m.ID, "err", werr)
		}
	}
	if err != nil {
		c.log.Debug("bad frame", "err", err, "frame", truncate(raw, 200))
		bad := fmt.Errorf("%w: %w", ErrBadFrame, err)
		c.emitFrame(raw, func() {
			if h := c.opts.OnError; h != nil {
				h(bad)
			}
		})
		return
	}
	o := &c.opts
	mem := memberFrom(m.Member)
	own := cn.session != "" && (mem.ID == cn.session || cn.memberID != "" && mem.ID == cn.memberID)
	if !own && m.Method == sgcwire.MethodNewMember && cn.session != "" && !cn.joinDone && (c.authenticated() || cn.resumed) {
		// A server that authenticated us names our member after the
		// identity, not the session, and a resumed one keeps the lost
		// connection's member; a rollcall server sends nothing about
		// others before we joined, so this is our own join.
		own, cn.memberID = true, mem.ID
	}
	// ev is the frame's events; settle completes the join or a pending
	// request. The events are queued first, so that they precede anything a
	// caller woken by settle (Dial: OnConnect) queues.
	var ev, settle func()
	switch m.Method {
	case sgcwire.MethodAcknowledgment:
		cn.mu.Lock()
		delete(cn.acks, m.ID)
		cn.mu.Unlock()

	case sgcwire.MethodSession:
		if cn.session != "" || m.Text == "" {
			c.log.Debug("repeated or empty session frame ignored", "session", m.Text)
			break
		}
		cn.session = m.Text
		// The rollcall extension first (an sgc server ignores it), so
		// that it applies from the join on.
		hello := &sgcwire.Message{Method: sgcwire.MethodHello, Extensions: sgcwire.Extensions}
		if o.PerEvent {
			hello.Extensions = []string{sgcwire.ExtUpdates, sgcwire.ExtCounts, sgcwire.ExtResume}
		}
		// A reconnect presents the lost connection's resume token: under
		// a server's grace this connection takes its presence over, and
		// nobody sees the member leave or join. A token is good once.
		c.mu.Lock()
		hello.Token, c.token = c.token, ""
		c.mu.Unlock()
		if err := c.send(cn.ctx, cn, hello); err != nil {
			c.log.Debug("sending rollcall@hello", "err", err)
		}
		join := &sgcwire.Message{Method: sgcwire.MethodNewMember, Member: cn.self().wire()}
		if err := c.send(cn.ctx, cn, join); err != nil {
			c.log.Debug("sending member@new", "err", err)
		}
		if h := o.OnSession; h != nil {
			s := m.Text
			ev = func() { h(s) }
		}

	case sgcwire.MethodNewMember:
		if own {
			if !cn.joinDone {
				c.setMember(mem)
			}
			settle = func() { cn.finishJoin(nil) }
		}
		c.noteEvent("", entered, mem)
		if h := o.OnNewMember; h != nil {
			ev = func() { h(mem) }
		}

	case sgcwire.MethodRemoveMember:
		c.noteEvent("", left, mem)
		if h := o.OnRemoveMember; h != nil {
			ev = func() { h(mem) }
		}

	case sgcwire.MethodNewChannelMember:
		if own {
			settle = func() {
				c.setSubscribed(m.Channel, true, false)
				cn.resolve(opKey{opSubscribe, m.Channel}, nil, nil)
			}
		}
		c.noteEvent(m.Channel, entered, mem)
		if h := o.OnNewChannelMember; h != nil {
			ch := m.Channel
			ev = func() { h(ch, mem) }
		}

	case sgcwire.MethodRemoveChannelMember:
		if own {
			settle = func() {
				c.setSubscribed(m.Channel, false, false)
				cn.resolve(opKey{opUnsubscribe, m.Channel}, nil, nil)
			}
		} else {
			c.noteEvent(m.Channel, left, mem)
		}
		if h := o.OnRemoveChannelMember; h != nil {
			ch := m.Channel
			ev = func() { h(ch, mem) }
		}

	case sgcwire.MethodPublishMsg:
		if h := o.OnPublishMsg; h != nil {
			text, ch := m.Text, m.Channel
			ev = func() { h(text, ch, mem) }
		}

	case sgcwire.MethodSendMembers:
		members := make([]Member, len(m.Members))
		for i, x := range m.Members {
			members[i] = memberFrom(x)
		}
		settle = func() { cn.resolve(opKey{opMembers, m.Channel}, nil, members) }
		if h := o.OnGetMembers; h != nil {
			ch := m.Channel
			ev = func() { h(ch, members) }
		}

	case sgcwire.MethodChannelInvitation:
		ev = c.invitation(m)

	case sgcwire.MethodHello:
		c.mu.Lock()
		c.exts = m.Extensions
		c.mu.Unlock()
		if m.Resumed {
			cn.resumed = true
			c.log.Debug("presence resumed")
		}

	case sgcwire.MethodResume:
		c.mu.Lock()
		c.token = m.Token
		c.mu.Unlock()

	case sgcwire.MethodList:
		ev = cn.list(m)

	case sgcwire.MethodDiff:
		ev = c.applyDiff(m.Channel, m.Version, membersFrom(m.Joined), m.Left, membersFrom(m.Updated))

	case sgcwire.MethodCount:
		if h := o.OnCount; h != nil {
			ch, n := m.Channel, m.Count
			ev = func() { h(ch, n) }
		}

	case sgcwire.MethodUpdateMember:
		if own {
			c.setMember(mem)
			settle = func() { cn.resolve(opKey{opUpdate, ""}, nil, nil) }
		}
		c.noteEvent("", updated, mem)
		if h := o.OnMemberUpdate; h != nil {
			ev = func() { h(mem) }
		}

	case sgcwire.MethodUpdateChannelMember:
		c.noteEvent(m.Channel, updated, mem)
		if h := o.OnChannelMemberUpdate; h != nil {
			ch := m.Channel
			ev = func() { h(ch, mem) }
		}

	case sgcwire.MethodInvitationResponse:
		if h := o.OnChannelInvitationResponse; h != nil {
			resp := InvitationResponse{
				Channel:  m.Channel,
				Invitee:  mem,
				Accepted: m.Error.Code == 0,
				Error:    Error{Code: m.Error.Code, Text: m.Error.Text},
			}
			ev = func() { h(resp) }
		}

	case sgcwire.MethodErrorMemberChannel, sgcwire.MethodErrorPublishMsg:
		e := Error{Code: m.Error.Code, Text: m.Error.Text}
		ch := m.Channel
		if m.Method == sgcwire.MethodErrorPublishMsg || m.HasText {
			if h := o.OnErrorPublishMsg; h != nil {
				text := m.Text
				ev = func() { h(e, text, ch, mem) }
			}
			break
		}
		if e.Code == CodeResumeRefused {
			// The old presence is gone (its grace passed, or it was taken
			// over): this connection joins as a new member, as it would
			// have without a token.
			c.log.Info("resume refused; joining as a new member", "text", e.Text)
			break
		}
		if !cn.joinDone {
			settle = func() { cn.finishJoin(&Error{Code: e.Code, Text: e.Text}) }
		} else {
			settle = func() { cn.resolveError(e, ch) }
		}
		if h := o.OnErrorMemberChannel; h != nil {
			ev = func() { h(e, ch, mem) }
		}

	default:
		c.log.Debug("frame with unknown method ignored", "method", m.Method)
	}
	c.emitFrame(raw, ev)
	if settle != nil {
		settle()
	}
}

// ackLoop re-sends unacknowledged frames until the connection ends.
func (c *Client) ackLoop(cn *conn) {
	defer c.wg.Done()
	opts := c.opts.Acknowledgment
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-cn.done:
			return
		case now := <-t.C:
			var due [][]byte
			var expired []string
			cn.mu.Lock()
			for id, u := range cn.acks {
				if now.Sub(u.sent) < opts.Timeout {
					continue
				}
				if opts.MaxRetries > 0 && u.retries >= opts.MaxRetries {
					delete(cn.acks, id)
					expired = append(expired, id)
					continue
				}
				u.retries++
				u.sent = now
				due = append(due, u.frame)
			}
			cn.mu.Unlock()
			for _, f := range due {
				if err := cn.ws.Write(cn.ctx, websocket.MessageText, f); err != nil {
					c.log.Debug("re-sending frame", "err", err)
					break
				}
			}
			for _, id := range expired {
				c.log.Warn("frame not acknowledged, dropped", "id", id, "retries", opts.MaxRetries)
				c.emitError(fmt.Errorf("%w: id %s after %d re-sends", ErrNotAcknowledged, id, opts.MaxRetries))
			}
		}
	}
}

// list gathers a rollcall@members page; at the last page the list
// becomes the channel's member map.
func (cn *conn) list(m *sgcwire.Message) func() {
	p := cn.pages[m.Channel]
	if p == nil || p.version != m.Version {
		p = &pages{version: m.Version}
		if cn.pages == nil {
			cn.pages = make(map[string]*pages)
		}
		cn.pages[m.Channel] = p
	}
	p.members = append(p.members, membersFrom(m.Members)...)
	if m.More {
		return nil
	}
	delete(cn.pages, m.Channel)
	return cn.c.applyList(m.Channel, p.version, p.members)
}

func membersFrom(ws []sgcwire.Member) []Member {
	out := make([]Member, len(ws))
	for i, w := range ws {
		out[i] = memberFrom(w)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// isServerError reports whether err is an error frame from the server.
func isServerError(err error) (*Error, bool) {
	var se *Error
	ok := errors.As(err, &se)
	return se, ok
}
