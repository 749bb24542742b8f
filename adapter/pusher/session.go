package pusher

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/adapter"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/transport"
)

// session is one Pusher connection.
type session struct {
	h      *Handler
	app    *App
	tc     *transport.Conn
	pc     *presence.Conn
	id     string // the socket id, also the engine's session id
	ctx    context.Context
	cancel context.CancelFunc
	limit  adapter.RateLimiter // client events
	frames adapter.RateLimiter // every frame
	log    *slog.Logger

	// mu guards subs and user. It is never held across an engine call:
	// the engine may deliver to this session on the calling goroutine.
	mu   sync.Mutex
	subs map[string]*sub      // by Pusher channel name
	user *pusherwire.UserData // the signed-in user, nil before pusher:signin

	authTimer *time.Timer // App.UserAuthenticationTimeout (userauth.go)
	authed    atomic.Bool // signed in or in a private or presence channel
}

// sub is one channel a session is subscribed to.
type sub struct {
	typ    pusherwire.ChannelType
	engine string // the engine's name
	userID string // the presence user id, "" elsewhere
	// active is false while the subscription is being made and after it
	// failed.
	active bool
}

func newSession(h *Handler, app *App, tc *transport.Conn) *session {
	s := &session{h: h, app: app, tc: tc, id: pusherwire.NewSocketID(), subs: make(map[string]*sub)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.limit = adapter.RateLimiter{Rate: app.ClientEventsPerSecond, Burst: app.ClientEventsPerSecond}
	s.frames = adapter.RateLimiter{Rate: h.cfg.MessagesPerSecond, Burst: float64(h.cfg.Burst)}
	if s.frames.Rate <= 0 {
		s.frames.Rate = math.Inf(1)
	}
	s.pc = h.engine.Connect(s.id, s)
	return s
}

func (s *session) run() {
	s.log = s.h.log.With("socket", s.id, "app", s.app.ID, "remote", s.tc.RemoteAddr().String())
	s.log.Debug("pusher connected")
	s.send(pusherwire.AppendConnectionEstablished(nil, s.id, s.h.cfg.ActivityTimeout))
	if host := s.h.cfg.Host; host != nil {
		host.Begin(s.ctx, s.tc, s.pc)
	}
	s.startAuthDeadline()
	s.tc.Serve(s.h.cfg.Poller, s.handle, s.ended)
}

func (s *session) ended(code ws.StatusCode, reason string) {
	s.cancel()
	s.stopAuthDeadline()
	s.mu.Lock()
	var presenceSubs []*sub
	var all []string
	for name, sb := range s.subs {
		if !sb.active || sb.typ.Kind == pusherwire.ServerToUser {
			continue
		}
		all = append(all, name)
		if sb.typ.Kind == pusherwire.Presence {
			presenceSubs = append(presenceSubs, sb)
		}
	}
	s.subs = map[string]*sub{}
	s.mu.Unlock()
	s.h.engine.Disconnect(s.pc)
	for _, sb := range presenceSubs {
		s.memberGone(sb)
	}
	for _, name := range all {
		s.h.countSub(s, pusherwire.ClassifyChannel(name), s.app.EngineChannel(name), name, -1)
	}
	s.h.unwatch(s)
	s.h.forget(s)
	s.log.Debug("pusher disconnected", "code", int(code), "reason", reason)
	if host := s.h.cfg.Host; host != nil {
		host.End(s.tc, s.pc, code)
	}
}

// memberGone fires member_removed when the session's user is no longer in
// a presence channel it has left.
func (s *session) memberGone(sb *sub) {
	ms, _ := s.h.engine.Members(sb.engine)
	for _, m := range ms {
		if m.ID == sb.userID {
			return
		}
	}
	name, _ := s.app.PusherChannel(sb.engine)
	s.h.webhook(s.app, pusherwire.WebhookEvent{Name: pusherwire.WebhookMemberRemoved, Channel: name, UserID: sb.userID})
}

// listKey names a handler's subscription_succeeded frame of a presence
// channel, by its Pusher name, in the Event.Frame cache of
// presence.Event.List.
type listKey struct {
	h    *Handler
	name string
}

func (s *session) send(frame []byte) {
	if err := s.tc.Send(frame); errors.Is(err, transport.ErrSlowConsumer) {
		s.h.counters.SlowConsumers.Add(1)
		s.h.log.Info("slow consumer disconnected", "socket", s.id)
	}
}

// sendError sends pusher:error without closing.
func (s *session) sendError(code int, msg string) {
	s.h.counters.CountError(protocolName, errorReason(code), code)
	s.log.Debug("pusher error sent", "code", code, "message", msg)
	s.send(pusherwire.AppendError(nil, code, msg))
}

// subError sends pusher:subscription_error, counted under reason.
func (s *session) subError(reason, channel, typ, msg string, status int) {
	s.h.counters.CountError(protocolName, reason, status)
	s.log.Debug("subscription refused", "channel", channel, "type", typ, "error", msg)
	s.send(pusherwire.AppendSubscriptionError(nil, channel, typ, msg, status))
}

// close sends pusher:error and closes with the same code.
func (s *session) close(code int, msg string) error {
	s.sendError(code, msg)
	return &transport.CloseError{Code: ws.StatusCode(code), Reason: msg}
}

// Deliver implements presence.Sink. The frames of a fan-out are encoded
// once per app (the channel names differ per app only), with Event.Frame.
func (s *session) Deliver(ev *presence.Event) {
	name, ok := s.app.PusherChannel(ev.Channel)
	if !ok {
		return
	}
	s.mu.Lock()
	sb := s.subs[name]
	var st sub
	if sb != nil {
		st = *sb
	}
	s.mu.Unlock()
	if sb == nil {
		return
	}
	switch ev.Kind {
	case presence.KindMembers:
		if st.typ.Kind == pusherwire.Presence {
			encode := func(l *presence.Event) []byte {
				return pusherwire.AppendPresenceSubscriptionSucceeded(nil, name, wireMembers(l.Members))
			}
			if ev.List != nil {
				// Once per channel state, shared by every subscriber.
				s.send(ev.List.Frame(listKey{s.h, name}, encode))
			} else {
				s.send(encode(ev))
			}
		} else {
			s.send(pusherwire.AppendSubscriptionSucceeded(nil, name))
		}
		if st.typ.Cache {
			if c, ok := s.h.cached(st.engine); ok {
				s.send(pusherwire.AppendChannelEvent(nil, name, c.name, c.data))
			} else {
				s.send(pusherwire.AppendCacheMiss(nil, name))
				s.h.webhook(s.app, pusherwire.WebhookEvent{Name: pusherwire.WebhookCacheMiss, Channel: name})
			}
		}
	case presence.KindNewChannelMember:
		if st.typ.Kind != pusherwire.Presence {
			return
		}
		if ev.Member.ID == st.userID {
			// Its own user's first entry: this connection made it.
			s.h.webhook(s.app, pusherwire.WebhookEvent{Name: pusherwire.WebhookMemberAdded, Channel: name, UserID: st.userID})
			return
		}
		s.send(ev.Frame(s.app, func(ev *presence.Event) []byte {
			return pusherwire.AppendMemberAdded(nil, name, ev.Member.ID, userInfo(ev.Member))
		}))
	case presence.KindRemoveChannelMember:
		if st.typ.Kind != pusherwire.Presence || ev.Member.ID == st.userID {
			return
		}
		s.send(ev.Frame(s.app, func(ev *presence.Event) []byte {
			return pusherwire.AppendMemberRemoved(nil, name, ev.Member.ID)
		}))
	case presence.KindUpdateChannelMember:
		// Its own user's too: the server changed it (Engine.UpdateMember).
		if st.typ.Kind != pusherwire.Presence {
			return
		}
		s.send(ev.Frame(s.app, func(ev *presence.Event) []byte { return memberUpdatedFrame(name, ev.Member) }))
	case presence.KindTerminate:
		if st.typ.Kind == pusherwire.ServerToUser {
			s.terminate()
		}
	case presence.KindPublish:
		if ev.Except == s.id || !s.receives(ev, st.typ) {
			return
		}
		s.send(ev.Frame(s.app, func(ev *presence.Event) []byte { return publishFrame(name, ev) }))
	}
	// Other kinds (the sgc server-wide member events, invitations) are not
	// Pusher's.
}

// receives reports whether the session gets a publish on a channel of
// type typ. A message an sgc client published (no event name, a member)
// is a client event to Pusher: it reaches Pusher clients only where their
// own client events could, in private and presence channels of an app
// with client events on. So a Pusher client reads no sgc client's words in
// a public channel, which it may enter without any authorization.
func (s *session) receives(ev *presence.Event, typ pusherwire.ChannelType) bool {
	if ev.Name != "" || ev.Member.ID == "" {
		return true // a Pusher event, or the server's
	}
	return s.app.ClientEvents && typ.Kind.AcceptsClientEvents()
}

// SgcMessageEvent is the event name Pusher clients see for a message an
// sgc client published to a shared channel (Echo: listenForWhisper("message")).
const SgcMessageEvent = "client-message"

// publishFrame encodes a publish: {"event","channel","data"} with data the
// event's data as a string, and the sender's user_id on presence channels.
func publishFrame(channel string, ev *presence.Event) []byte {
	name := ev.Name
	if name == "" {
		name = SgcMessageEvent
	}
	b := pusherwire.AppendChannelEvent(make([]byte, 0, 64+len(channel)+len(name)+len(ev.Data)), channel, name, string(ev.Data))
	if ev.Member.ID != "" && pusherwire.ClassifyChannel(channel).Kind == pusherwire.Presence {
		uid, _ := json.Marshal(ev.Member.ID)
		b = append(b[:len(b)-1], `,"user_id":`...)
		b = append(b, uid...)
		b = append(b, '}')
	}
	return b
}

// handle processes one text message from the client.
func (s *session) handle(data []byte) error {
	if !s.frames.Allow(time.Now()) {
		s.h.counters.RateLimited.Add(1)
		if s.frames.ShouldWarn() {
			s.sendError(pusherwire.CodeClientEventRejected, "Rate limit exceeded: more than "+strconv.FormatFloat(s.h.cfg.MessagesPerSecond, 'f', -1, 64)+" messages per second; messages dropped")
		}
		return nil
	}
	cf, err := pusherwire.DecodeClientFrame(data)
	if err != nil {
		var fe *pusherwire.FrameError
		if errors.As(err, &fe) {
			s.sendError(fe.Code(), fe.Message())
			return nil
		}
		s.sendError(pusherwire.CodeReconnect, "Invalid message format")
		return nil
	}
	switch cf.Type {
	case pusherwire.TypePing:
		s.send(pusherwire.AppendPong(nil))
	case pusherwire.TypePong:
	case pusherwire.TypeSubscribe:
		s.subscribe(cf.Subscribe)
	case pusherwire.TypeUnsubscribe:
		s.unsubscribe(cf.Channel)
	case pusherwire.TypeSignin:
		return s.signin(cf.Signin)
	case pusherwire.TypeClientEvent:
		s.clientEvent(&cf)
	default:
		s.sendError(pusherwire.CodeClientEventRejected, "Client event rejected: "+strconv.Quote(cf.Event)+" is not a client event (client events start with client-)")
	}
	return nil
}

func (s *session) subscribe(req pusherwire.Subscribe) {
	name := req.Channel
	if err := pusherwire.ValidateChannelName(name, s.app.MaxChannelName); err != nil {
		if errors.Is(err, pusherwire.ErrChannelNameTooLong) {
			s.subError(string(presence.ErrInvalidChannel), name, pusherwire.SubscriptionErrorLimit, err.Error(), pusherwire.CodeUnauthorized)
		} else {
			s.subError(string(presence.ErrInvalidChannel), name, "InvalidChannel", err.Error(), pusherwire.CodeUnauthorized)
		}
		return
	}
	typ := pusherwire.ClassifyChannel(name)
	s.mu.Lock()
	if sb := s.subs[name]; sb != nil {
		s.mu.Unlock()
		s.resubscribed(name, sb)
		return
	}
	user := s.user
	s.mu.Unlock()
	var member *presence.Member
	switch typ.Kind {
	case pusherwire.Internal:
		s.subError(string(presence.ErrInvalidChannel), name, "InvalidChannel", "Channel name "+strconv.Quote(name)+" is reserved", pusherwire.CodeUnauthorized)
		return
	case pusherwire.ServerToUser:
		id, _ := pusherwire.ServerToUserID(name)
		if user == nil || user.ID != id {
			s.subError(reasonAuth, name, pusherwire.SubscriptionErrorAuth, "Subscribing to "+name+" needs a signin as user "+strconv.Quote(id), 401)
			return
		}
		s.send(pusherwire.AppendSubscriptionSucceeded(nil, name))
		return
	case pusherwire.Private, pusherwire.PrivateEncrypted:
		if err := pusherwire.VerifyAuth(s.app.Key, s.app.Secret, pusherwire.PrivateStringToSign(s.id, name), req.Auth); err != nil {
			s.subError(reasonAuth, name, pusherwire.SubscriptionErrorAuth, err.Error(), 401)
			return
		}
	case pusherwire.Presence:
		if err := pusherwire.VerifyChannelAuth(s.app.Key, s.app.Secret, s.id, req); err != nil {
			s.subError(reasonAuth, name, pusherwire.SubscriptionErrorAuth, err.Error(), 401)
			return
		}
		var m presence.Member
		switch {
		case req.HasChannelData:
			cd, err := pusherwire.ParseChannelData(req.ChannelData)
			if err != nil {
				s.subError(reasonAuth, name, pusherwire.SubscriptionErrorAuth, err.Error(), 401)
				return
			}
			if len(cd.UserInfo) > s.app.MaxUserInfoBytes {
				s.subError(reasonLimit, name, pusherwire.SubscriptionErrorLimit, "user_info is larger than "+strconv.Itoa(s.app.MaxUserInfoBytes)+" bytes", pusherwire.CodeClientEventRejected)
				return
			}
			if len(cd.UserID) > s.app.MaxUserIDBytes {
				s.subError(reasonAuth, name, pusherwire.SubscriptionErrorAuth, "Invalid channel_data: user_id is longer than "+strconv.Itoa(s.app.MaxUserIDBytes)+" bytes", 401)
				return
			}
			m = memberOf(cd.UserID, cd.UserInfo)
		case user != nil:
			m = memberOf(user.ID, user.UserInfo)
		default:
			s.subError(reasonAuth, name, pusherwire.SubscriptionErrorAuth, "A presence subscription needs channel_data or a signed-in user", 401)
			return
		}
		member = &m
	}
	engineName := s.app.EngineChannel(name)
	if member != nil {
		if ms, err := s.h.engine.Members(engineName); err == nil && len(ms) >= s.app.MaxPresenceMembers && !hasMember(ms, member.ID) {
			s.subError(string(presence.ErrChannelFull), name, pusherwire.SubscriptionErrorLimit, "Presence channel "+name+" has the maximum of "+strconv.Itoa(s.app.MaxPresenceMembers)+" members", pusherwire.CodeOverCapacity)
			return
		}
	}
	sb := &sub{typ: typ, engine: engineName, active: true}
	if member != nil {
		sb.userID = member.ID
	}
	s.mu.Lock()
	s.subs[name] = sb
	s.mu.Unlock()
	// Members: the subscription_succeeded is written from the member list
	// the engine queues in order with the channel's events.
	err := s.h.engine.SubscribeWith(s.ctx, s.pc, engineName, presence.Subscription{Member: member, Members: true})
	if err != nil {
		s.mu.Lock()
		if s.subs[name] == sb {
			delete(s.subs, name)
		}
		s.mu.Unlock()
		s.subscribeFailed(name, err)
		return
	}
	s.h.countSub(s, typ, engineName, name, +1)
	if typ.Kind.RequiresAuth() {
		s.authorized()
	}
}

func hasMember(ms []presence.Member, id string) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}

// resubscribed answers a subscribe to a channel the socket is in already:
// subscription_succeeded again (with the member list now), nothing counted
// twice.
func (s *session) resubscribed(name string, sb *sub) {
	if sb.typ.Kind == pusherwire.Presence {
		ms, _ := s.h.engine.Members(sb.engine)
		s.send(pusherwire.AppendPresenceSubscriptionSucceeded(nil, name, wireMembers(ms)))
		return
	}
	s.send(pusherwire.AppendSubscriptionSucceeded(nil, name))
}

// subscribeFailed maps an engine refusal to a subscription error.
func (s *session) subscribeFailed(name string, err error) {
	var pe *presence.Error
	msg := err.Error()
	if errors.As(err, &pe) && pe.Text != "" {
		msg = pe.Text
	}
	switch {
	case errors.Is(err, presence.ErrChannelFull):
		s.subError(string(presence.ErrChannelFull), name, pusherwire.SubscriptionErrorLimit, "Presence channel "+name+" is full", pusherwire.CodeOverCapacity)
	case errors.Is(err, presence.ErrTooManyChannels):
		s.subError(string(presence.ErrTooManyChannels), name, pusherwire.SubscriptionErrorLimit, "Too many channels on one connection", pusherwire.CodeClientEventRejected)
	case errors.Is(err, presence.ErrInvalidChannel):
		s.subError(string(presence.ErrInvalidChannel), name, pusherwire.SubscriptionErrorLimit, "Channel name is too long", pusherwire.CodeUnauthorized)
	case errors.Is(err, presence.ErrMemberExists):
		s.subError(string(presence.ErrMemberExists), name, pusherwire.SubscriptionErrorAuth, "user_id is taken: an sgc member of this app is present with that id", 403)
	case errors.Is(err, presence.ErrClosed):
	default:
		s.subError(refusalReason(err), name, pusherwire.SubscriptionErrorAuth, msg, 403)
	}
}

func (s *session) unsubscribe(name string) {
	s.mu.Lock()
	sb := s.subs[name]
	if sb != nil && sb.typ.Kind == pusherwire.ServerToUser {
		s.mu.Unlock()
		return // the user channel lasts as long as the signin
	}
	delete(s.subs, name)
	s.mu.Unlock()
	if sb == nil {
		return // not subscribed: ignored (§2.8)
	}
	if err := s.h.engine.Unsubscribe(s.ctx, s.pc, sb.engine); err != nil {
		s.log.Debug("unsubscribe", "channel", name, "err", err)
		return
	}
	if sb.typ.Kind == pusherwire.Presence {
		s.memberGone(sb)
	}
	s.h.countSub(s, sb.typ, sb.engine, name, -1)
}

func (s *session) signin(req pusherwire.Signin) error {
	if err := pusherwire.VerifyUserAuth(s.app.Key, s.app.Secret, s.id, req); err != nil {
		return s.close(pusherwire.CodeUnauthorized, err.Error())
	}
	ud, err := pusherwire.ParseUserData(req.UserData)
	if err != nil {
		return s.close(pusherwire.CodeUnauthorized, err.Error())
	}
	if len(ud.ID) > s.app.MaxUserIDBytes {
		return s.close(pusherwire.CodeUnauthorized, "Invalid user_data: id is longer than "+strconv.Itoa(s.app.MaxUserIDBytes)+" bytes")
	}
	watchlist, err := ud.WatchlistIDs()
	switch {
	case errors.Is(err, pusherwire.ErrWatchlistLimit):
		s.sendError(pusherwire.CodeWatchlistLimit, "Watchlist limit exceeded: at most "+strconv.Itoa(pusherwire.MaxWatchlist)+" user ids")
		return nil
	case err != nil:
		return s.close(pusherwire.CodeUnauthorized, "Invalid user_data: watchlist must be an array of user ids")
	}
	s.mu.Lock()
	prev := s.user
	if prev != nil && prev.ID != ud.ID {
		s.mu.Unlock()
		return s.close(pusherwire.CodeUnauthorized, "This socket is signed in as another user already")
	}
	s.user = &ud
	userChan := pusherwire.ServerToUserChannel(ud.ID)
	engineName := s.app.EngineChannel(userChan)
	fresh := s.subs[userChan] == nil
	if fresh {
		s.subs[userChan] = &sub{typ: pusherwire.ClassifyChannel(userChan), engine: engineName, active: true}
	}
	s.mu.Unlock()
	if fresh {
		// The user channel is an engine channel of its own, so that
		// sendToUser and terminate_connections reach every socket of the
		// user (on every node).
		if err := s.h.engine.SubscribeWith(s.ctx, s.pc, engineName, presence.Subscription{}); err != nil {
			s.log.Debug("user channel", "err", err)
		}
	}
	s.authorized()
	s.send(pusherwire.AppendSigninSuccess(nil, req.UserData))
	if fresh {
		s.h.watchSignin(s, watchlist)
	}
	return nil
}

func (s *session) clientEvent(cf *pusherwire.ClientFrame) {
	reject := func(why string) {
		s.sendError(pusherwire.CodeClientEventRejected, "Client event rejected: "+why)
	}
	if !s.limit.Allow(time.Now()) {
		s.h.counters.RateLimited.Add(1)
		if s.limit.ShouldWarn() {
			reject("more than " + strconv.FormatFloat(s.app.ClientEventsPerSecond, 'f', -1, 64) + " per second (rate limit)")
		}
		return
	}
	name := cf.Channel
	typ := pusherwire.ClassifyChannel(name)
	switch {
	case !s.app.ClientEvents:
		reject("client events are not enabled for this app")
		return
	case !typ.Kind.AcceptsClientEvents():
		reject("client events are only allowed on private and presence channels, not on " + typ.Kind.String() + " channel " + strconv.Quote(name))
		return
	case len(cf.Event) > pusherwire.DefaultMaxEventNameLength:
		reject("event name is longer than " + strconv.Itoa(pusherwire.DefaultMaxEventNameLength) + " characters")
		return
	case len(cf.Data) > s.app.MaxEventBytes:
		reject("data is larger than " + strconv.Itoa(s.app.MaxEventBytes) + " bytes")
		return
	}
	s.mu.Lock()
	sb := s.subs[name]
	s.mu.Unlock()
	if sb == nil {
		reject("not subscribed to " + strconv.Quote(name))
		return
	}
	text := eventText(cf.Data)
	err := s.h.engine.PublishMessage(s.ctx, s.pc, sb.engine, presence.Message{Name: cf.Event, Data: []byte(text), Except: s.id})
	if err != nil {
		var pe *presence.Error
		if errors.As(err, &pe) && pe.Text != "" {
			reject(pe.Text)
		} else if !errors.Is(err, presence.ErrClosed) {
			reject(err.Error())
		}
		return
	}
	s.h.counters.Publishes.Add(1)
	s.h.webhook(s.app, pusherwire.WebhookEvent{Name: pusherwire.WebhookClientEvent, Channel: name, Event: cf.Event, Data: text, SocketID: s.id, UserID: sb.userID})
}

// eventText is a client event's data as the engine carries it, a string: a
// JSON string's content, or any other JSON value as its text. Pusher
// clients get it back as a data string, which pusher-js parses as JSON.
func eventText(data json.RawMessage) string {
	if len(data) == 0 {
		return "null"
	}
	if data[0] == '"' {
		var str string
		if json.Unmarshal(data, &str) == nil {
			return str
		}
	}
	return string(data)
}

// terminate closes the session for terminate_connections.
func (s *session) terminate() {
	s.sendError(pusherwire.CodeUnauthorized, "Connection terminated: the server ended this user's connections")
	s.tc.Close(ws.StatusCode(pusherwire.CodeUnauthorized), "terminated")
}
