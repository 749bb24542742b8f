package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgc"
	"github.com/rollcall/rollcall/transport"
)

// session is one sgc Presence connection: it decodes what the client sends
// into engine calls and encodes what the engine delivers.
type session struct {
	srv    *Server
	tc     *transport.Conn
	pc     *presence.Conn
	id     string
	broker bool // frames travel in the broker.esegece.com envelope
	ctx    context.Context
	cancel context.CancelFunc
	limit  rateLimiter
	acks   ackQueue
	ident  *Identity // nil on an open server
	log    *slog.Logger
}

func newSession(s *Server, tc *transport.Conn, broker bool, ident *Identity) *session {
	sess := &session{srv: s, tc: tc, id: sgc.NewID(), broker: broker, ident: ident}
	sess.ctx, sess.cancel = context.WithCancel(context.Background())
	sess.limit = rateLimiter{rate: s.opts.Limits.MessagesPerSecond, burst: float64(s.opts.Limits.Burst)}
	sess.acks = ackQueue{sess: sess}
	sess.pc = s.engine.ConnectAs(sess.id, sess, identityMember(ident))
	if ident != nil && ident.Data != nil {
		sess.pc.SetData(ident.Data)
	}
	return sess
}

// run sends the session frame and starts serving the connection; ended
// cleans up after it.
func (sess *session) run() {
	log := sess.srv.log.With("session", sess.id, "remote", sess.tc.RemoteAddr().String())
	if id, ok := sess.pc.Identity(); ok {
		log = log.With("identity", id.ID)
	}
	log.Debug("connected", "broker", sess.broker)
	sess.send(sess.srv.enc.Encode(&sgc.Message{Method: sgc.MethodSession, Text: sess.id}))
	if sess.ident != nil {
		// After the session frame, so that a group's OnClientAdded may
		// already message the connection.
		for _, g := range sess.ident.Groups {
			if err := sess.srv.engine.Groups().Add(g, sess.pc); err != nil {
				log.Debug("identity group skipped", "group", g, "err", err)
			}
		}
	}
	if f := sess.srv.opts.OnConnect; f != nil {
		f(sess.ctx, sess.pc)
	}
	sess.log = log
	sess.tc.Serve(sess.srv.poller, sess.handle, sess.ended)
}

// ended runs once the connection has closed.
func (sess *session) ended(code ws.StatusCode, reason string) {
	if sent, _ := sess.tc.CloseStatus(); sent != 0 && !sess.tc.ClosedByPeer() && !sess.srv.shuttingDown() {
		sess.srv.counters.closedForCause.Add(1)
	}
	sess.cancel()
	sess.srv.engine.Disconnect(sess.pc)
	sess.acks.drop()
	sess.log.Debug("disconnected", "code", int(code), "reason", reason)
	if f := sess.srv.opts.OnDisconnect; f != nil {
		f(sess.pc, int(code))
	}
	sess.srv.forget(sess)
}

// Deliver implements presence.Sink: the frame is encoded once per server
// (the cache key) and the same bytes go to every recipient.
func (sess *session) Deliver(ev *presence.Event) {
	sess.send(ev.Frame(sess.srv, sess.srv.encodeEvent))
}

// send queues one frame (without id) to the client, adding an ack id and
// the broker envelope where they apply.
func (sess *session) send(frame []byte) {
	if !sess.srv.opts.Acknowledgment.Enabled {
		sess.queue(sess.wrap(frame))
		return
	}
	id := sgc.NewID()
	frame = sess.wrap(sess.srv.enc.WithID(frame, id))
	sess.acks.add(id, frame)
	sess.queue(frame)
}

func (sess *session) wrap(frame []byte) []byte {
	if !sess.broker {
		return frame
	}
	return sgc.AppendBroker(make([]byte, 0, len(frame)+24), frame)
}

func (sess *session) queue(frame []byte) {
	if err := sess.tc.Send(frame); errors.Is(err, transport.ErrSlowConsumer) {
		sess.srv.counters.slowConsumers.Add(1)
		sess.srv.log.Info("slow consumer disconnected", "session", sess.id)
	}
}

// handle processes one text message from the client.
func (sess *session) handle(data []byte) error {
	if sess.broker {
		payload, forPresence, err := sgc.UnwrapBroker(data)
		if err != nil {
			return &transport.CloseError{Code: transport.CloseProtocolError, Reason: err.Error()}
		}
		if !forPresence {
			sess.srv.log.Debug("broker frame for another protocol ignored", "session", sess.id)
			return nil
		}
		data = payload
	}
	m, err := sgc.Decode(data)
	if err == nil && m.Method == sgc.MethodAcknowledgment {
		// Acknowledgments answer the server's own frames: never limited.
		sess.acks.remove(m.ID)
		return nil
	}
	if !sess.limit.allow(time.Now()) {
		sess.srv.counters.rateLimited.Add(1)
		if sess.limit.shouldWarn() {
			sess.replyError(&sgc.Message{}, presence.ErrRateLimited)
		}
		return nil
	}
	var fe *sgc.FieldError
	switch {
	case errors.As(err, &fe):
		sess.ack(m)
		sess.replyError(m, &presence.Error{Code: presence.CodeInvalidMessage, Text: "Invalid message: " + fe.Error() + "."})
		return nil
	case err != nil:
		sess.srv.log.Debug("invalid frame", "session", sess.id, "err", err)
		return &transport.CloseError{Code: transport.CloseProtocolError, Reason: "invalid frame: " + err.Error()}
	}
	sess.ack(m)
	if err := sess.dispatch(m); err != nil {
		var pe *presence.Error
		if !errors.As(err, &pe) {
			return err
		}
		sess.replyError(m, pe)
	}
	return nil
}

// ack answers a frame that carries an id, before it is processed.
func (sess *session) ack(m *sgc.Message) {
	if m.ID != "" {
		sess.queue(sess.wrap(sgc.AppendAck(nil, m.ID)))
	}
}

func (sess *session) dispatch(m *sgc.Message) error {
	e, ctx, pc := sess.srv.engine, sess.ctx, sess.pc
	// A client may only speak as its own member: its session id, or the
	// id of the identity it authenticated as.
	if m.Member.ID != "" && m.Member.ID != sess.id && (sess.ident == nil || m.Member.ID != sess.ident.ID) {
		return presence.ErrNotOwnMember
	}
	switch m.Method {
	case sgc.MethodNewMember:
		return e.Join(ctx, pc, presence.Member{ID: m.Member.ID, Name: m.Member.Name, Info: m.Member.Info})
	case sgc.MethodRemoveMember:
		return e.Leave(ctx, pc, m.Member.ID)
	case sgc.MethodNewChannelMember:
		return e.Subscribe(ctx, pc, m.Channel)
	case sgc.MethodRemoveChannelMember:
		return e.Unsubscribe(ctx, pc, m.Channel)
	case sgc.MethodPublishMsg:
		if err := e.Publish(ctx, pc, m.Channel, m.Text); err != nil {
			return err
		}
		sess.srv.counters.publishes.Add(1)
		return nil
	case sgc.MethodGetMembers:
		return e.SendMembers(ctx, pc, m.Channel)
	case sgc.MethodChannelInvitation:
		if len(m.Members) == 0 {
			return invalid("an invitation needs at least one member in \"members\"")
		}
		ids := make([]string, len(m.Members))
		for i, inv := range m.Members {
			ids[i] = inv.ID
		}
		return e.Invite(ctx, pc, m.Channel, ids)
	case sgc.MethodInvitationResponse:
		if len(m.Members) == 0 || m.Members[0].ID == "" {
			return invalid("an invitation response needs the inviter in \"members\"")
		}
		var refusal *presence.Error
		if m.Error.Code != 0 {
			refusal = &presence.Error{Code: m.Error.Code, Text: m.Error.Text}
		}
		return e.RespondInvitation(ctx, pc, m.Channel, m.Members[0].ID, refusal)
	case sgc.MethodSession, sgc.MethodSendMembers, sgc.MethodErrorMemberChannel, sgc.MethodErrorPublishMsg:
		return invalid(fmt.Sprintf("%s is sent by the server, not to it", m.Method))
	default:
		sess.srv.log.Debug("unknown method", "session", sess.id, "method", m.Method)
		return &presence.Error{Code: presence.CodeUnknownMethod, Text: "Unknown method: " + m.Method}
	}
}

func invalid(why string) error {
	return &presence.Error{Code: presence.CodeInvalidMessage, Text: "Invalid message: " + why + "."}
}

// replyError sends an error frame about request m. It names the channel of
// the request and the connection's member (or the member as sent when it
// has not joined); a failed publish also carries the message text.
func (sess *session) replyError(m *sgc.Message, pe *presence.Error) {
	out := sgc.Message{
		Method:  sgc.MethodErrorMemberChannel,
		Error:   sgc.Error{Code: pe.Code, Text: pe.Text},
		Channel: m.Channel,
		Member:  m.Member,
	}
	if own, ok := sess.pc.Member(); ok {
		out.Member = sgc.Member(own)
	}
	if m.Method == sgc.MethodPublishMsg {
		out.HasText, out.Text = true, m.Text
	}
	sess.srv.counters.errors.Add(1)
	sess.srv.log.Debug("error sent", "session", sess.id, "method", m.Method, "code", pe.Code, "text", pe.Text)
	sess.send(sess.srv.enc.Encode(&out))
}

// eventMessage maps an engine event to its sgc frame.
func eventMessage(ev *presence.Event) sgc.Message {
	m := sgc.Message{Member: sgc.Member(ev.Member), Channel: ev.Channel, Text: ev.Text}
	switch ev.Kind {
	case presence.KindNewMember:
		m.Method = sgc.MethodNewMember
	case presence.KindRemoveMember:
		m.Method = sgc.MethodRemoveMember
	case presence.KindNewChannelMember:
		m.Method = sgc.MethodNewChannelMember
	case presence.KindRemoveChannelMember:
		m.Method = sgc.MethodRemoveChannelMember
	case presence.KindPublish:
		m.Method = sgc.MethodPublishMsg
	case presence.KindMembers:
		m.Method = sgc.MethodSendMembers
	case presence.KindInvitation:
		m.Method = sgc.MethodChannelInvitation
	case presence.KindInvitationResponse:
		m.Method = sgc.MethodInvitationResponse
		if ev.Err != nil {
			m.Error = sgc.Error{Code: ev.Err.Code, Text: ev.Err.Text}
		}
	}
	m.Members = make([]sgc.Member, len(ev.Members))
	for i, mm := range ev.Members {
		m.Members[i] = sgc.Member(mm)
	}
	return m
}

// rateLimiter is a token bucket; only the connection's read loop uses it.
type rateLimiter struct {
	rate, burst float64
	tokens      float64
	last        time.Time
	warned      time.Time
}

func (l *rateLimiter) allow(now time.Time) bool {
	if l.last.IsZero() {
		l.tokens = l.burst
	} else {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// shouldWarn limits the rate-limit error frames to one a second.
func (l *rateLimiter) shouldWarn() bool {
	if l.last.Sub(l.warned) < time.Second {
		return false
	}
	l.warned = l.last
	return true
}

// ackQueue holds the frames sent to one client that await acknowledgment.
type ackQueue struct {
	sess    *session
	mu      sync.Mutex
	pending map[string]*pendingFrame
	closed  bool
}

type pendingFrame struct {
	frame   []byte
	sent    time.Time
	retries int
}

func (q *ackQueue) add(id string, frame []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	if q.pending == nil {
		q.pending = make(map[string]*pendingFrame)
	}
	q.pending[id] = &pendingFrame{frame: frame, sent: time.Now()}
}

func (q *ackQueue) remove(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.pending, id)
}

// Len returns how many frames await acknowledgment.
func (q *ackQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

func (q *ackQueue) drop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.pending = nil
}

// resend re-queues every frame unacknowledged for longer than the timeout,
// byte-identical, and gives up on a frame after MaxRetries re-sends.
func (q *ackQueue) resend(now time.Time) {
	opts := q.sess.srv.opts.Acknowledgment
	q.mu.Lock()
	var due [][]byte
	for id, p := range q.pending {
		if now.Sub(p.sent) < opts.Timeout {
			continue
		}
		if p.retries >= opts.MaxRetries {
			delete(q.pending, id)
			q.sess.srv.log.Debug("frame never acknowledged, given up", "session", q.sess.id, "id", id)
			continue
		}
		p.retries++
		p.sent = now
		due = append(due, p.frame)
	}
	q.mu.Unlock()
	for _, f := range due {
		q.sess.queue(f)
	}
}
