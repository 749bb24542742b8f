package sgc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/adapter"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/transport"
)

// session is one sgc Presence connection: it decodes what the client sends
// into engine calls and encodes what the engine delivers.
type session struct {
	h         *Handler
	tc        *transport.Conn
	pc        *presence.Conn
	id        string
	enveloped bool // frames travel in the broker.esegece.com envelope
	ctx       context.Context
	cancel    context.CancelFunc
	limit     adapter.RateLimiter
	lists     adapter.RateLimiter // member-list requests, besides limit
	acks      ackQueue
	// acking is set once the client has sent an acknowledgment or a
	// frame with an id: only then are unacknowledged frames re-sent.
	acking atomic.Bool
	// exts are the extensions the session accepted (rollcall@hello), as
	// ext bits; diffs are the engine's (pc.Mode).
	exts atomic.Uint32
	log  *slog.Logger
}

func newSession(h *Handler, tc *transport.Conn, p adapter.Peer) *session {
	enveloped := strings.EqualFold(p.Subprotocol, sgcwire.EnvelopeSubprotocol)
	sess := &session{h: h, tc: tc, id: sgcwire.NewID(), enveloped: enveloped}
	sess.ctx, sess.cancel = context.WithCancel(context.Background())
	sess.limit = adapter.RateLimiter{Rate: h.cfg.MessagesPerSecond, Burst: float64(h.cfg.Burst)}
	sess.lists = adapter.RateLimiter{Rate: h.cfg.MemberListsPerSecond, Burst: memberListBurst(h.cfg.MemberListsPerSecond)}
	sess.acks = ackQueue{sess: sess, maxFrames: h.cfg.Acknowledgment.MaxPending, maxBytes: h.cfg.Acknowledgment.MaxPendingBytes}
	sess.pc = h.cfg.Engine.ConnectAs(sess.id, sess, p.Identity)
	if p.Data != nil {
		sess.pc.SetData(p.Data)
	}
	return sess
}

// run sends the session frame, files the connection into groups and
// starts serving it; ended cleans up after it.
func (sess *session) run(groups []string) {
	log := sess.h.log.With("session", sess.id, "remote", sess.tc.RemoteAddr().String())
	if id, ok := sess.pc.Identity(); ok {
		log = log.With("identity", id.ID)
	}
	sess.log = log
	log.Debug("connected", "enveloped", sess.enveloped)
	sess.send(sess.h.enc.Encode(&sgcwire.Message{Method: sgcwire.MethodSession, Text: sess.id}))
	// After the session frame, so that a group's OnClientAdded may already
	// message the connection.
	for _, g := range groups {
		if err := sess.h.cfg.Engine.Groups().Add(g, sess.pc); err != nil {
			log.Debug("identity group skipped", "group", g, "err", err)
		}
	}
	if host := sess.h.cfg.Host; host != nil {
		host.Begin(sess.ctx, sess.tc, sess.pc)
	}
	sess.tc.Serve(sess.h.cfg.Poller, sess.handle, sess.ended)
}

// ended runs once the connection has closed. A connection lost without a
// goodbye (no close handshake, the client going away with 1001, a server
// stopping with 1001) is lost: under a grace its presence waits for it
// (presence.Engine.Lost). One the client closed on purpose (1000, or a
// close frame without a code) or the server closed for cause leaves now.
func (sess *session) ended(code ws.StatusCode, reason string) {
	sess.cancel()
	if lost(sess.tc, code) {
		sess.h.cfg.Engine.Lost(sess.pc)
	} else {
		sess.h.cfg.Engine.Disconnect(sess.pc)
	}
	sess.acks.drop()
	sess.h.forget(sess)
	sess.log.Debug("disconnected", "code", int(code), "reason", reason)
	if host := sess.h.cfg.Host; host != nil {
		host.End(sess.tc, sess.pc, code)
	}
}

// Deliver implements presence.Sink: the frame is encoded once per handler
// (and once more for the envelope) and the same bytes go to every
// recipient.
func (sess *session) Deliver(ev *presence.Event) {
	switch ev.Kind {
	case presence.KindMembers:
		if ev.List != nil {
			sess.sendList(ev)
			return
		}
	case presence.KindList:
		sess.sendPages(ev)
		return
	case presence.KindUpdateMember, presence.KindUpdateChannelMember:
		if !sess.accepted(extUpdates) {
			return // a client that did not ask gets nothing new
		}
	}
	if !sess.h.cfg.Acknowledgment.Enabled {
		sess.queue(nil, sess.h.frame(ev, sess.enveloped), nil)
		return
	}
	sess.send(ev.Frame(sess.h, sess.h.encodeEvent))
}

// sendList sends a member list: the list is encoded once per channel
// state (ev.List) and shared by every requester, after a head of the
// requester's own.
func (sess *session) sendList(ev *presence.Event) {
	sess.sendJoined(sess.h.listFrame(ev))
}

// send queues one frame (without id) to the client, adding the envelope
// and an ack id where they apply.
func (sess *session) send(frame []byte) { sess.sendJoined(nil, frame) }

// sendJoined queues the frame head+body, whose body ends with the frame's
// closing brace and may be shared by many recipients (a fan-out's frame, a
// member list): it is never copied. The envelope goes before it, and with
// acknowledgments this recipient's id goes after it as a tail of its own
// (in place of the closing brace), kept with the shared body for re-sends.
func (sess *session) sendJoined(head, body []byte) {
	if sess.enveloped {
		head = sgcwire.AppendEnvelope(make([]byte, 0, len(head)+24), head)
	}
	if !sess.h.cfg.Acknowledgment.Enabled {
		sess.queue(head, body, nil)
		return
	}
	id := sgcwire.NewID()
	f := &pendingFrame{head: head, body: body[:len(body)-1], tail: sess.h.enc.AppendIDTail(nil, id)}
	if why := sess.acks.add(id, f); why != "" {
		sess.overBudget(why)
		return
	}
	sess.queue(f.head, f.body, f.tail)
}

func (sess *session) wrap(frame []byte) []byte {
	if !sess.enveloped {
		return frame
	}
	return sgcwire.AppendEnvelope(make([]byte, 0, len(frame)+24), frame)
}

// queue queues the frame head+body+tail (any part may be nil).
func (sess *session) queue(head, body, tail []byte) {
	if err := sess.tc.SendJoined(head, body, tail); errors.Is(err, transport.ErrSlowConsumer) {
		sess.slowConsumer()
	}
}

func (sess *session) slowConsumer() {
	sess.h.counters.SlowConsumers.Add(1)
	sess.h.log.Info("slow consumer disconnected", "session", sess.id)
}

// handle processes one text message from the client.
func (sess *session) handle(data []byte) error {
	if sess.enveloped {
		payload, forPresence, err := sgcwire.UnwrapEnvelope(data)
		if err != nil {
			return &transport.CloseError{Code: transport.CloseProtocolError, Reason: wireText(err)}
		}
		if !forPresence {
			sess.log.Debug("envelope for another protocol ignored")
			return nil
		}
		data = payload
	}
	m, err := sgcwire.Decode(data)
	if err == nil && m.Method == sgcwire.MethodAcknowledgment {
		// Acknowledgments answer the server's own frames: never limited.
		sess.acking.Store(true)
		sess.acks.remove(m.ID)
		return nil
	}
	if !sess.limit.Allow(time.Now()) {
		sess.h.counters.RateLimited.Add(1)
		if sess.limit.ShouldWarn() {
			sess.replyError(&sgcwire.Message{}, sgcwire.NewError(sgcwire.CodeRateLimited))
		}
		return nil
	}
	var fe *sgcwire.FieldError
	switch {
	case errors.As(err, &fe):
		sess.ack(m)
		sess.replyError(m, sgcwire.Error{Code: sgcwire.CodeInvalidMessage, Text: sgcwire.Text(sgcwire.CodeInvalidMessage) + fe.Error() + "."})
		return nil
	case err != nil:
		return sess.notTheProtocol(err)
	}
	sess.ack(m)
	if err := sess.dispatch(m); err != nil {
		e, ok := errorFrame(err)
		if !ok {
			return err
		}
		sess.replyError(m, e)
	}
	return nil
}

// ack answers a frame that carries an id, before it is processed. A client
// that ids its frames acknowledges the server's too.
func (sess *session) ack(m *sgcwire.Message) {
	if m.ID != "" {
		sess.acking.Store(true)
		sess.queue(nil, sess.wrap(sgcwire.AppendAck(nil, m.ID)), nil)
	}
}

func (sess *session) dispatch(m *sgcwire.Message) error {
	e, ctx, pc := sess.h.cfg.Engine, sess.ctx, sess.pc
	// A frame names the member it is from or about; the engine decides
	// which ids this connection may name (a join names the id it asks for,
	// which Join decides).
	if m.Method != sgcwire.MethodNewMember {
		if err := pc.CheckMemberID(m.Member.ID); err != nil {
			return err
		}
	}
	switch m.Method {
	case sgcwire.MethodNewMember:
		return sess.join(m)
	case sgcwire.MethodRemoveMember:
		return e.Leave(ctx, pc, m.Member.ID)
	case sgcwire.MethodNewChannelMember:
		if m.Counts && m.Channel != "" && sess.accepted(extCounts) {
			return sess.subscribeCounts(m.Channel)
		}
		return e.Subscribe(ctx, pc, m.Channel)
	case sgcwire.MethodRemoveChannelMember:
		return e.Unsubscribe(ctx, pc, m.Channel)
	case sgcwire.MethodPublishMsg:
		if err := e.Publish(ctx, pc, m.Channel, m.Text); err != nil {
			return err
		}
		sess.h.counters.Publishes.Add(1)
		return nil
	case sgcwire.MethodGetMembers:
		if !sess.lists.Allow(time.Now()) {
			sess.h.counters.RateLimited.Add(1)
			return rateLimited("more than " + strconv.FormatFloat(sess.h.cfg.MemberListsPerSecond, 'f', -1, 64) + " member lists per second")
		}
		return e.SendMembers(ctx, pc, m.Channel)
	case sgcwire.MethodChannelInvitation:
		ids, err := sess.invitees(m.Members)
		if err != nil {
			return err
		}
		return e.Invite(ctx, pc, m.Channel, ids)
	case sgcwire.MethodInvitationResponse:
		if len(m.Members) == 0 || m.Members[0].ID == "" {
			return invalid("an invitation response needs the inviter in \"members\"")
		}
		return e.RespondInvitation(ctx, pc, m.Channel, m.Members[0].ID, refusalOf(m.Error))
	case sgcwire.MethodHello:
		return sess.hello(m)
	case sgcwire.MethodUpdateMember:
		return sess.update(m)
	case sgcwire.MethodSession, sgcwire.MethodSendMembers, sgcwire.MethodErrorMemberChannel, sgcwire.MethodErrorPublishMsg,
		sgcwire.MethodList, sgcwire.MethodDiff, sgcwire.MethodCount, sgcwire.MethodUpdateChannelMember, sgcwire.MethodResume:
		return invalid(fmt.Sprintf("%s is sent by the server, not to it", m.Method))
	default:
		sess.h.counters.InvalidFrames.Add(1)
		sess.log.Debug("unknown method", "method", m.Method, "strict", sess.h.cfg.Strict)
		if !sess.h.cfg.Strict {
			return nil // ignored, as sgc does: a newer client's method, say
		}
		return &refusal{sgcwire.Error{Code: sgcwire.CodeUnknownMethod, Text: sgcwire.Text(sgcwire.CodeUnknownMethod) + m.Method}}
	}
}

// invitees returns the distinct invitees of an invitation, at most
// MaxInvitees of them. Each one past the first counts against the
// sender's rate, as a frame of its own would (the frame took the first
// token): a frame naming the same member 1,500 times is one invitation,
// and one naming 1,500 members is refused.
func (sess *session) invitees(ms []sgcwire.Member) ([]string, error) {
	if len(ms) == 0 {
		return nil, invalid("an invitation needs at least one member in \"members\"")
	}
	ids := make([]string, 0, min(len(ms), sess.h.cfg.MaxInvitees))
	seen := make(map[string]struct{}, cap(ids))
	for _, inv := range ms {
		if _, dup := seen[inv.ID]; dup {
			continue
		}
		if len(ids) == sess.h.cfg.MaxInvitees {
			return nil, invalid("an invitation may name at most " + strconv.Itoa(sess.h.cfg.MaxInvitees) + " members")
		}
		seen[inv.ID] = struct{}{}
		ids = append(ids, inv.ID)
	}
	if !sess.limit.AllowN(time.Now(), len(ids)-1) {
		sess.h.counters.RateLimited.Add(1)
		return nil, rateLimited(strconv.Itoa(len(ids)) + " invitees are more than the rate allows now")
	}
	return ids, nil
}

// notTheProtocol answers a frame that Decode could not read as a Presence
// message. Strict: close 1002 with the reason. Otherwise the connection
// stays open, since sgc's browser client builds its JSON by concatenation
// and sends broken frames for ordinary text (a " or a line break in a
// message): a frame that is not JSON, or whose "jsonrpc" is not "2.0", is
// answered with error 40 naming the problem, so that the sender learns its
// request was lost; one without a method is ignored, as sgc's writer emits
// frames without "method" for methods outside its table.
func (sess *session) notTheProtocol(err error) error {
	sess.h.counters.InvalidFrames.Add(1)
	sess.log.Debug("invalid frame", "err", err, "strict", sess.h.cfg.Strict)
	if sess.h.cfg.Strict {
		return &transport.CloseError{Code: transport.CloseProtocolError, Reason: "invalid frame: " + wireText(err)}
	}
	detail := wireText(err)
	switch {
	case errors.Is(err, sgcwire.ErrMethod):
		return nil
	case errors.Is(err, sgcwire.ErrNotJSON):
		detail += ` (is a " or a line break inside a value not escaped?)`
	}
	sess.replyError(&sgcwire.Message{}, sgcwire.Error{Code: sgcwire.CodeInvalidMessage, Text: sgcwire.Text(sgcwire.CodeInvalidMessage) + detail + "."})
	return nil
}

// replyError sends an error frame about request m. It names the channel of
// the request and the connection's member (or the member as sent when it
// has not joined); a failed publish also carries the message text.
func (sess *session) replyError(m *sgcwire.Message, e sgcwire.Error) {
	out := sgcwire.Message{
		Method:  sgcwire.MethodErrorMemberChannel,
		Error:   e,
		Channel: m.Channel,
		Member:  m.Member,
	}
	if own, ok := sess.pc.Member(); ok {
		out.Member = wireMember(own)
	}
	if m.Method == sgcwire.MethodPublishMsg {
		out.HasText, out.Text = true, m.Text
	}
	sess.h.counters.CountError(protocolName, reasonOf(e.Code), e.Code)
	sess.log.Debug("error sent", "method", m.Method, "code", e.Code, "text", e.Text)
	sess.send(sess.h.enc.Encode(&out))
}

// lost reports whether a connection that ended with code was lost rather
// than closed on purpose (see session.ended).
func lost(tc *transport.Conn, code ws.StatusCode) bool {
	if tc.ClosedByPeer() {
		return code != ws.StatusNormalClosure && code != ws.StatusNoStatusRcvd
	}
	sent, _ := tc.CloseStatus()
	return sent == 0 || sent == ws.StatusGoingAway
}
