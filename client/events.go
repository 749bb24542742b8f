package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// Invitation is an invitation to a channel received from another member.
// Answer it once, with Accept or Refuse, from any goroutine; a call that
// failed before anything was sent may be retried.
type Invitation struct {
	From    Member // the inviter, as the server knows it
	Channel string

	c        *Client
	answered atomic.Bool
}

// Accept subscribes to the invitation's channel and tells the inviter. If the
// server refuses the subscription (other than because it already exists),
// the inviter is told that refusal and Accept returns it as *Error.
func (inv *Invitation) Accept(ctx context.Context) error {
	if !inv.answered.CompareAndSwap(false, true) {
		return ErrAnswered
	}
	err := inv.c.Subscribe(ctx, inv.Channel)
	var se *Error
	switch {
	case err == nil, errors.As(err, &se) && se.Code == CodeSubscriptionExists:
		return inv.c.respond(ctx, inv, Error{})
	case se != nil:
		if rerr := inv.c.respond(ctx, inv, *se); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	default:
		inv.answered.Store(false) // nothing was sent: the caller may retry
		return err
	}
}

// Refuse tells the inviter that the invitation is declined, with a reason.
// Code 0 means "accepted" on the wire, so a zero code is sent as
// CodeInvitationDeclined (with TextInvitationDeclined when text is empty).
func (inv *Invitation) Refuse(ctx context.Context, code int, text string) error {
	if !inv.answered.CompareAndSwap(false, true) {
		return ErrAnswered
	}
	if code == 0 {
		code = CodeInvitationDeclined
		if text == "" {
			text = TextInvitationDeclined
		}
	}
	err := inv.c.respond(ctx, inv, Error{Code: code, Text: text})
	if err != nil {
		inv.answered.Store(false) // not sent: the caller may retry
	}
	return err
}

// InvitationResponse is the answer of a member this client invited.
type InvitationResponse struct {
	Channel  string
	Invitee  Member
	Accepted bool
	Error    Error // the refusal when !Accepted
}

// queue is the unbounded FIFO between the read loop and the event
// goroutine: pushing never blocks, so the read loop never waits for a handler.
type queue struct {
	mu     sync.Mutex
	items  []func()
	closed bool
	wake   chan struct{} // capacity 1
}

func newQueue() *queue { return &queue{wake: make(chan struct{}, 1)} }

// push appends fn; it reports false (and drops fn) once the queue is closed.
func (q *queue) push(fn func()) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, fn)
	q.mu.Unlock()
	q.signal()
	return true
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.signal()
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// pop returns the next item, waiting for one; ok is false once the queue is
// closed and drained.
func (q *queue) pop() (fn func(), ok bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			fn = q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.mu.Unlock()
			return fn, true
		}
		closed := q.closed
		q.mu.Unlock()
		if closed {
			return nil, false
		}
		<-q.wake
	}
}

// dispatch runs the event handlers, one at a time, until the queue is closed
// and drained.
func (c *Client) dispatch() {
	defer close(c.dispatchDone)
	c.dispatchG.Store(goid())
	for {
		fn, ok := c.events.pop()
		if !ok {
			return
		}
		c.run(fn)
	}
}

// run calls fn, turning a panic into OnException.
func (c *Client) run(fn func()) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("%w: %v", ErrHandlerPanic, r)
			c.log.Error("event handler panicked", "panic", r)
			if h := c.opts.OnException; h != nil {
				defer func() {
					if r := recover(); r != nil {
						c.log.Error("OnException panicked", "panic", r)
					}
				}()
				h(err)
			}
		}
	}()
	fn()
}

// emit queues fn for the event goroutine.
func (c *Client) emit(fn func()) { c.events.push(fn) }

// emitFrame queues the events of one received frame behind OnRawMessage.
func (c *Client) emitFrame(raw string, fn func()) {
	if fn == nil && c.opts.OnRawMessage == nil {
		return
	}
	c.events.push(func() {
		if h := c.opts.OnRawMessage; h != nil && h(raw) {
			return
		}
		if fn != nil {
			fn()
		}
	})
}

func (c *Client) emitError(err error) {
	if h := c.opts.OnError; h != nil {
		c.emit(func() { h(err) })
	}
}

// onEventGoroutine reports whether the caller is the event goroutine, so
// that Close called from a handler does not wait for itself.
func (c *Client) onEventGoroutine() bool { return c.dispatchG.Load() == goid() }

// goid returns the current goroutine's id, read from its stack header
// ("goroutine 42 [running]:").
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseUint(string(b), 10, 64)
	return id
}

// invitation builds the events of a received invitation.
func (c *Client) invitation(m *sgcwire.Message) func() {
	inv := &Invitation{From: memberFrom(m.Member), Channel: m.Channel, c: c}
	return func() {
		if h := c.opts.OnChannelInvitation; h != nil {
			h(inv)
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.opts.JoinTimeout)
		defer cancel()
		if err := inv.Refuse(ctx, CodeInvitationDeclined, TextInvitationDeclined); err != nil {
			c.log.Debug("refusing invitation", "channel", inv.Channel, "err", err)
		}
	}
}

// respond sends the invitation response frame (rollcall's extension): member
// = this client, members[0] = the inviter, error code 0 = accepted.
func (c *Client) respond(ctx context.Context, inv *Invitation, e Error) error {
	cn, err := c.current(ctx)
	if err != nil {
		return err
	}
	return c.send(ctx, cn, &sgcwire.Message{
		Method:  sgcwire.MethodInvitationResponse,
		Channel: inv.Channel,
		Member:  cn.self().wire(),
		Members: []sgcwire.Member{{ID: inv.From.ID}},
		Error:   sgcwire.Error{Code: e.Code, Text: e.Text},
	})
}
