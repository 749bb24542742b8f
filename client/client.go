// Package client is a Go client of the sgc Presence protocol
// (presence.esegece.com) as spoken by rollcall and by sgcWebSockets servers.
//
// Dial connects and joins as a member; the methods subscribe, publish,
// invite and list members, waiting for the server's reply where one can be
// matched. Events arrive through the function fields of Options, called from
// one goroutine per client in order. Unless Options.NoReconnect is set, a
// lost connection is re-dialled with backoff, and the member joins again and
// re-subscribes to its channels under its new session id.
//
// The events of a reply are queued before the call that waited for it
// returns: when Subscribe returns, its OnNewChannelMember is already on its
// way, and OnConnect always follows the join's own OnNewMember.
package client

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// Client is a connection to a Presence server that joined as a member. Its
// methods are safe for concurrent use, including from event handlers.
type Client struct {
	urls []string // the Dial URL, then Options.URLs
	next int      // index in urls of the URL to dial next (the supervisor's)
	opts Options
	enc  sgcwire.Encoder
	log  *slog.Logger

	ctx    context.Context // cancelled when the client stops
	cancel context.CancelFunc
	wg     sync.WaitGroup // read loops, ack loops, the supervisor

	events       *queue
	dispatchDone chan struct{}
	dispatchG    atomic.Uint64
	closeOnce    sync.Once

	mu           sync.Mutex
	closed       bool // no new calls; set by Close, or on a lost connection with NoReconnect
	closedByUser bool
	live         *conn         // the newest connection, joined or not
	cur          *conn         // the joined, restored connection; nil while reconnecting
	ready        chan struct{} // closed when cur is set
	session      string
	member       Member          // as the server echoed our join; zero before the first join
	name, info   string          // what this member joins as: Options', then as updated
	subs         map[string]bool // channels this member is in (confirmed by echoes); true: counts only
	exts         []string        // the extensions the server accepted (rollcall@hello)
	token        string          // the last resume token the server gave; presented once on a reconnect
	rosters      map[string]*roster
}

// Dial connects to the Presence server at url (ws:// or wss://), waits for
// the session, joins as a member with the session id as its id and returns
// once the server has echoed the join. A server error in reply to the join
// is returned as *Error. The first connection is not retried: if it fails,
// Dial returns the error.
func Dial(ctx context.Context, url string, opts Options) (*Client, error) {
	opts.setDefaults()
	c := &Client{
		urls:         append([]string{url}, opts.URLs...),
		opts:         opts,
		enc:          sgcwire.Encoder{Base64: opts.EncodeBase64},
		log:          opts.Logger,
		events:       newQueue(),
		dispatchDone: make(chan struct{}),
		ready:        make(chan struct{}),
		subs:         make(map[string]bool),
		rosters:      make(map[string]*roster),
		name:         opts.Name,
		info:         opts.Info,
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	go c.dispatch()
	cn, err := c.connect(ctx)
	if err != nil {
		c.stop()
		c.wg.Wait()
		<-c.dispatchDone
		return nil, err
	}
	c.setReady(cn)
	c.wg.Add(1)
	go c.supervise(cn)
	return c, nil
}

// authenticated reports whether the client sends credentials: a server
// that checks them may give the member the identity's id.
func (c *Client) authenticated() bool {
	if c.opts.HTTPHeader.Get("Authorization") != "" {
		return true
	}
	u, err := url.Parse(c.urls[0])
	return err == nil && u.Query().Get("token") != ""
}

// connect dials, starts the connection's goroutines and waits for the join.
func (c *Client) connect(ctx context.Context) (*conn, error) {
	target := c.urls[c.next]
	ws, _, err := websocket.Dial(ctx, target, &websocket.DialOptions{
		HTTPHeader:   c.opts.HTTPHeader,
		Subprotocols: []string{sgcwire.Subprotocol},
	})
	if err != nil {
		return nil, fmt.Errorf("client: dial %s: %w", target, err)
	}
	if ws.Subprotocol() != sgcwire.Subprotocol {
		ws.Close(websocket.StatusProtocolError, "subprotocol "+sgcwire.Subprotocol+" required")
		return nil, ErrSubprotocol
	}
	ws.SetReadLimit(c.opts.ReadLimit)
	cn := newConn(c, ws)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		ws.CloseNow()
		cn.cancel()
		return nil, ErrClosed
	}
	c.live = cn
	c.exts = nil
	c.mu.Unlock()

	c.wg.Add(1)
	go c.readLoop(cn)
	if c.opts.Acknowledgment.Enabled {
		c.wg.Add(1)
		go c.ackLoop(cn)
	}
	select {
	case <-cn.joined:
		if cn.joinErr == nil {
			return cn, nil
		}
		err = cn.joinErr
		cn.closing.Store(true)
		cn.ws.Close(websocket.StatusNormalClosure, "join refused")
	case <-cn.done:
		err = fmt.Errorf("%w before joining: %w", ErrConnectionLost, cn.readErr)
	case <-ctx.Done():
		err = fmt.Errorf("client: waiting to join: %w", ctx.Err())
	}
	c.abandon(cn)
	return nil, err
}

// abandon closes a connection that never became the current one.
func (c *Client) abandon(cn *conn) {
	cn.closing.Store(true)
	cn.ws.CloseNow()
	<-cn.done
	cn.cancel()
	c.mu.Lock()
	if c.live == cn {
		c.live = nil
	}
	c.mu.Unlock()
}

func (c *Client) setReady(cn *conn) {
	c.mu.Lock()
	c.cur = cn
	c.session = cn.session
	close(c.ready)
	c.mu.Unlock()
	if h := c.opts.OnConnect; h != nil {
		s := cn.session
		c.emit(func() { h(s) })
	}
}

// supervise watches the current connection and reconnects when it drops.
func (c *Client) supervise(cn *conn) {
	defer c.wg.Done()
	for cn != nil {
		<-cn.done
		cn.cancel()
		c.mu.Lock()
		closing := c.closed
		c.live, c.cur = nil, nil
		c.ready = make(chan struct{})
		c.mu.Unlock()
		code := cn.closeCode
		if closing {
			code = int(websocket.StatusNormalClosure)
		}
		if h := c.opts.OnDisconnect; h != nil {
			c.emit(func() { h(code) })
		}
		if closing {
			return
		}
		if c.opts.NoReconnect {
			c.log.Debug("connection lost; not reconnecting", "code", code)
			c.stop()
			return
		}
		cn = c.reconnect()
	}
}

// reconnect dials until a connection is joined and restored, or the client
// stops (nil).
func (c *Client) reconnect() *conn {
	for attempt := 0; ; attempt++ {
		// With several URLs, every attempt goes to the next one: after its
		// server went away, a client reconnects to another.
		c.next = (c.next + 1) % len(c.urls)
		t := time.NewTimer(c.backoff(attempt))
		select {
		case <-c.ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.JoinTimeout)
		cn, err := c.connect(ctx)
		if err == nil {
			if err = c.restore(ctx, cn); err != nil {
				c.abandon(cn)
			}
		}
		cancel()
		if err == nil {
			c.setReady(cn)
			return cn
		}
		if c.ctx.Err() != nil {
			return nil
		}
		url := c.urls[c.next]
		c.log.Warn("reconnect failed", "url", url, "attempt", attempt+1, "err", err)
		if h := c.opts.OnReconnectFailed; h != nil {
			c.emit(func() { h(url, attempt+1, err) })
			continue
		}
		c.emitError(fmt.Errorf("client: reconnect: %w", err))
	}
}

// restore re-subscribes the new connection to every channel the member was
// in. A channel the server now refuses is forgotten (its error event fires).
func (c *Client) restore(ctx context.Context, cn *conn) error {
	c.mu.Lock()
	channels := make([]string, 0, len(c.subs))
	for ch := range c.subs {
		channels = append(channels, ch)
	}
	counts := maps.Clone(c.subs)
	c.mu.Unlock()
	slices.Sort(channels)
	for _, ch := range channels {
		err := c.subscribe(ctx, cn, ch, counts[ch])
		if se, ok := isServerError(err); ok {
			if se.Code != CodeSubscriptionExists {
				c.log.Warn("re-subscribe refused", "channel", ch, "err", err)
				c.setSubscribed(ch, false, false)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("re-subscribe %q: %w", ch, err)
		}
	}
	return nil
}

// backoff is exponential from ReconnectMin to ReconnectMax, with the upper
// half jittered.
func (c *Client) backoff(attempt int) time.Duration {
	lo, hi := c.opts.ReconnectMin, c.opts.ReconnectMax
	d := hi
	if attempt < 30 && lo<<attempt < hi {
		d = lo << attempt
	}
	d = d/2 + rand.N(d/2+1)
	return max(d, lo)
}

// stop makes the client stop for good without waiting: new calls fail with
// ErrClosed, the connection and timers end, and the event goroutine exits
// once it has delivered the events already queued.
func (c *Client) stop() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.events.close()
}

func (c *Client) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// Close leaves the server (normal closure), stops reconnecting and waits
// until every goroutine of the client has exited, after delivering the
// events already received and a final OnDisconnect(1000). Called from an
// event handler, it does not wait for that handler to return. Close is
// idempotent and always returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed, c.closedByUser = true, true
		live := c.live
		c.mu.Unlock()
		if live != nil {
			live.ws.Close(websocket.StatusNormalClosure, "")
		}
		c.cancel()
		c.wg.Wait()
		c.events.close()
	})
	if !c.onEventGoroutine() {
		<-c.dispatchDone
	}
	return nil
}

// Done is closed when the client has stopped for good (after Close, or after
// a lost connection with NoReconnect) and its last event was delivered.
func (c *Client) Done() <-chan struct{} { return c.dispatchDone }

// Session returns the session id of the current (or last) connection.
func (c *Client) Session() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.session
}

// Member returns this client's member as the server confirmed its join (on an
// authenticating server the id and name come from the credentials), or the
// session id, Name and Info before that.
func (c *Client) Member() Member {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.member.ID != "" {
		return c.member
	}
	return Member{ID: c.session, Name: c.name, Info: c.info}
}

// identity returns the name and info this member joins as.
func (c *Client) identity() (name, info string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name, c.info
}

// setMember records the member as the server confirmed it; on an
// authenticating server its id and name come from the credentials.
func (c *Client) setMember(m Member) {
	c.mu.Lock()
	c.member = m
	c.name, c.info = m.Name, m.Info
	c.mu.Unlock()
}

// Subscriptions returns the channels this member is in, sorted.
func (c *Client) Subscriptions() []string {
	c.mu.Lock()
	out := make([]string, 0, len(c.subs))
	for ch := range c.subs {
		out = append(out, ch)
	}
	c.mu.Unlock()
	slices.Sort(out)
	return out
}

// setSubscribed records that the member is in channel (counts: as a
// counts-only subscription), or is not (forgetting its member map).
func (c *Client) setSubscribed(channel string, on, counts bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if on {
		c.subs[channel] = counts
	} else {
		delete(c.subs, channel)
		delete(c.rosters, channel)
	}
}

// current waits until the client is connected and joined.
func (c *Client) current(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		closed, cn, ready := c.closed, c.cur, c.ready
		c.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case cn != nil:
			return cn, nil
		}
		select {
		case <-ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// Subscribe joins channel and returns once the server has confirmed it (its
// own channel@member@new echo), or returns the server's refusal as *Error
// (e.g. CodeSubscriptionExists). While reconnecting it waits for the new
// connection, up to ctx.
func (c *Client) Subscribe(ctx context.Context, channel string) error {
	cn, err := c.current(ctx)
	if err != nil {
		return err
	}
	return c.subscribe(ctx, cn, channel, false)
}

// SubscribeCounts joins channel as a counts-only subscription (the rollcall
// extension): instead of the channel's member events, OnCount tells its
// member count, at once and then while it changes; the member is present
// in the channel as with Subscribe, and the subscription is restored as
// one after a reconnection. A server without the extension (an sgc
// server) subscribes the member as Subscribe does: the member events come
// and OnCount never fires. Unsubscribe ends it.
func (c *Client) SubscribeCounts(ctx context.Context, channel string) error {
	cn, err := c.current(ctx)
	if err != nil {
		return err
	}
	return c.subscribe(ctx, cn, channel, true)
}

func (c *Client) subscribe(ctx context.Context, cn *conn, channel string, counts bool) error {
	w, err := c.request(ctx, cn, opKey{opSubscribe, channel}, &sgcwire.Message{
		Method: sgcwire.MethodNewChannelMember, Member: cn.self().wire(), Channel: channel, Counts: counts,
	})
	if err != nil {
		return err
	}
	if w.err == nil {
		c.setSubscribed(channel, true, counts)
	}
	return w.err
}

// Update changes this member's name and info, for every other member and
// channel, and for the joins after a reconnection. On a server that
// accepted the updates extension it returns once the server confirmed the
// change (OnMemberUpdate for this member), or returns the refusal as
// *Error (CodeUpdateDenied); with credentials (whose identity may fix the
// name), or on a server without the extension, it returns once the frame
// is written and a refusal goes to OnErrorMemberChannel. An update that
// changes nothing sends nothing.
func (c *Client) Update(ctx context.Context, name, info string) error {
	cn, err := c.current(ctx)
	if err != nil {
		return err
	}
	own := c.Member()
	if own.Name == name && own.Info == info {
		return nil
	}
	m := &sgcwire.Message{Method: sgcwire.MethodUpdateMember, Member: sgcwire.Member{ID: own.ID, Name: name, Info: info}}
	if !c.accepts(sgcwire.ExtUpdates) || c.authenticated() {
		return c.send(ctx, cn, m)
	}
	w, err := c.request(ctx, cn, opKey{opUpdate, ""}, m)
	if err != nil {
		return err
	}
	return w.err
}

// Unsubscribe leaves channel and returns once the server has confirmed it,
// or returns the server's refusal as *Error (e.g. CodeSubscriptionNotExists).
func (c *Client) Unsubscribe(ctx context.Context, channel string) error {
	cn, err := c.current(ctx)
	if err != nil {
		return err
	}
	w, err := c.request(ctx, cn, opKey{opUnsubscribe, channel}, &sgcwire.Message{
		Method: sgcwire.MethodRemoveChannelMember, Member: cn.self().wire(), Channel: channel,
	})
	if err != nil {
		return err
	}
	if w.err == nil {
		c.setSubscribed(channel, false, false)
	}
	return w.err
}

// Publish sends text to channel, or to every member when channel is empty.
// It returns once the frame is written; the server's refusal arrives through
// OnErrorPublishMsg.
func (c *Client) Publish(ctx context.Context, channel, text string) error {
	cn, err := c.current(ctx)
	if err != nil {
		return err
	}
	return c.send(ctx, cn, &sgcwire.Message{
		Method: sgcwire.MethodPublishMsg, Text: text, Channel: channel, Member: cn.self().wire(),
	})
}

// Invite asks the member with id memberID to join channel. It returns once
// the invitation is written; the answer arrives through
// OnChannelInvitationResponse.
func (c *Client) Invite(ctx context.Context, channel, memberID string) error {
	cn, err := c.current(ctx)
	if err != nil {
		return err
	}
	return c.send(ctx, cn, &sgcwire.Message{
		Method: sgcwire.MethodChannelInvitation, Channel: channel, Member: cn.self().wire(),
		Members: []sgcwire.Member{{ID: memberID}},
	})
}

// GetMembers returns the members of channel, or every member when channel is
// empty, as the server's send@members reply lists them. A refusal is
// returned as *Error (e.g. CodeChannelNotExists).
func (c *Client) GetMembers(ctx context.Context, channel string) ([]Member, error) {
	cn, err := c.current(ctx)
	if err != nil {
		return nil, err
	}
	w, err := c.request(ctx, cn, opKey{opMembers, channel}, &sgcwire.Message{
		Method: sgcwire.MethodGetMembers, Channel: channel, Member: cn.self().wire(),
	})
	if err != nil {
		return nil, err
	}
	return w.members, w.err
}
