package client

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// fromConn matches frames received on one connection.
func fromConn(fc *fconn, pred func(frame) bool) func(frame) bool {
	return func(f frame) bool { return f.from == fc && pred(f) }
}

func TestRepeatedSessionJoinsOnce(t *testing.T) {
	s := newFake(t, false)
	s.doubleSession = true
	r := newRecorder()
	a := dial(t, s.url, r, Options{Name: "alice"})
	fc := s.nextConn(t)
	s.waitFrame(t, "member@new", fromConn(fc, method(sgcwire.MethodNewMember)))
	// Anything the client sends after handling both session frames comes
	// after a second member@new, if there were one.
	if _, err := a.GetMembers(ctxT(t), ""); err != nil {
		t.Fatal(err)
	}
	f := s.waitFrame(t, "a second member@new or get@members", fromConn(fc, func(f frame) bool {
		return f.m.Method == sgcwire.MethodNewMember || f.m.Method == sgcwire.MethodGetMembers
	}))
	if f.m.Method != sgcwire.MethodGetMembers {
		t.Fatalf("client joined twice on one connection: %s", f.raw)
	}
	r.next(t, "session", nil)
	r.next(t, "connect", nil)
}

func TestAcknowledgesServerFrames(t *testing.T) {
	bothEncodings(t, func(t *testing.T, b64 bool) {
		s := newFake(t, b64)
		s.frameIDs = true
		r := newRecorder()
		a := dial(t, s.url, r, Options{Name: "alice", EncodeBase64: b64}) // own acks disabled
		fc := s.nextConn(t)
		ctx := ctxT(t)
		if err := a.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
		if err := a.Publish(ctx, "room", "hi"); err != nil {
			t.Fatal(err)
		}
		r.next(t, "publish", nil)

		// The session frame is acknowledged before the client reacts to it.
		sessionID := <-s.sentIDs
		f := s.waitFrame(t, "first frame", fromConn(fc, func(frame) bool { return true }))
		if f.m.Method != sgcwire.MethodAcknowledgment || f.m.ID != sessionID {
			t.Fatalf("first frame after the session is %s, want its ack %s", f.raw, sessionID)
		}
		if f.raw != `{"jsonrpc":"2.0","method":"sgc@presence@acknowledgment","id":"`+sessionID+`"}` {
			t.Fatalf("ack frame %s is not plain", f.raw)
		}
		// Every other server frame (join echo, subscribe echo, message) is acked.
		want := map[string]bool{}
		for len(s.sentIDs) > 0 {
			want[<-s.sentIDs] = true
		}
		if len(want) < 3 {
			t.Fatalf("server sent only %d frames with ids", len(want))
		}
		for len(want) > 0 {
			f := s.waitFrame(t, "acks", fromConn(fc, method(sgcwire.MethodAcknowledgment)))
			delete(want, f.m.ID)
		}
		// Client frames carry no id: its own acks are disabled.
		if strings.Contains(f.raw, `"id"`) && f.m.Method != sgcwire.MethodAcknowledgment {
			t.Fatalf("frame with id: %s", f.raw)
		}
	})
}

func TestToleratesOddFrames(t *testing.T) {
	s := newFake(t, true)
	r := newRecorder()
	a := dial(t, s.url, r, Options{Name: "alice"})
	fc := s.nextConn(t)
	// members[] left plain inside an otherwise base64 frame, as sgc writes it.
	s.onFrame = func(fc *fconn, m *sgcwire.Message, _ string) bool {
		if m.Method != sgcwire.MethodGetMembers {
			return false
		}
		frame := string(s.enc.Encode(&sgcwire.Message{Method: sgcwire.MethodSendMembers, Channel: m.Channel, Member: m.Member}))
		frame = strings.Replace(frame, `"members":[]`, `"members":[{"id":"B0B","name":"bob","info":"x"}]`, 1)
		fc.sendRaw(frame)
		return true
	}
	// Unknown methods are ignored, ack ids for nothing pending are ignored.
	fc.sendRaw(`{"jsonrpc":"2.0","method":"sgc@presence@something@new","member":{"id":"X","name":"","info":""}}`)
	fc.sendRaw(`{"jsonrpc":"2.0","method":"sgc@presence@acknowledgment","id":"0123"}`)
	ms, err := a.GetMembers(ctxT(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0] != (Member{ID: "B0B", Name: "bob", Info: "x"}) {
		t.Fatalf("members %+v", ms)
	}
	// An sgc@presence@error@publish@msg frame fires OnErrorPublishMsg.
	fc.sendRaw(`{"jsonrpc":"2.0","method":"sgc@presence@error@publish@msg","error":{"code":20,"text":"sgc@b64:bm8="},` +
		`"message":{"text":"hi"},"channel":{"name":"room"},"member":{"id":"A","name":"","info":""}}`)
	if e := r.next(t, "errorpublish", nil); e.srvError != (Error{20, "no"}) || e.text != "hi" || e.channel != "room" {
		t.Fatalf("OnErrorPublishMsg %v", e)
	}
	// Frames that are not Presence messages reach OnError.
	fc.sendRaw(`not json`)
	if e := r.next(t, "error", nil); !errors.Is(e.err, ErrBadFrame) {
		t.Fatalf("OnError(%v), want ErrBadFrame", e.err)
	}
	fc.ws.Write(ctxT(t), websocket.MessageBinary, []byte{1, 2})
	if e := r.next(t, "error", nil); !errors.Is(e.err, ErrBadFrame) {
		t.Fatalf("OnError(%v) for a binary frame", e.err)
	}
	// None of this broke the connection.
	if err := a.Subscribe(ctxT(t), "room"); err != nil {
		t.Fatal(err)
	}
}

func TestAckResendByteIdentical(t *testing.T) {
	bothEncodings(t, func(t *testing.T, b64 bool) {
		s := newFake(t, b64)
		s.noAck = true
		a := dial(t, s.url, newRecorder(), Options{Name: "alice", EncodeBase64: b64,
			Acknowledgment: AckOptions{Enabled: true, Interval: 10 * time.Millisecond, Timeout: 40 * time.Millisecond}})
		fc := s.nextConn(t)
		if err := a.Publish(ctxT(t), "", "hi"); err != nil {
			t.Fatal(err)
		}
		isHi := fromConn(fc, func(f frame) bool { return f.m.Method == sgcwire.MethodPublishMsg && f.m.Text == "hi" })
		first := s.waitFrame(t, "publish", isHi)
		if !sessionRE.MatchString(first.m.ID) {
			t.Fatalf("publish id %q is not 32 hex", first.m.ID)
		}
		if b64 != strings.Contains(first.raw, `"id":"sgc@b64:`) {
			t.Fatalf("b64=%v: id encoding in %s", b64, first.raw)
		}
		again := s.waitFrame(t, "re-sent publish", isHi)
		if again.raw != first.raw {
			t.Fatalf("re-sent frame differs:\n%s\n%s", first.raw, again.raw)
		}

		// Acknowledge it (the id decoded, as sgc does); it is then forgotten.
		fc.sendRaw(string(sgcwire.AppendAck(nil, first.m.ID)))
		waitNoPendingAck(t, a, first.m.ID)
		// Causality check: a later frame's re-send comes after any re-send of
		// the acked one would have.
		if err := a.Publish(ctxT(t), "", "later"); err != nil {
			t.Fatal(err)
		}
		isLater := fromConn(fc, func(f frame) bool { return f.m.Method == sgcwire.MethodPublishMsg && f.m.Text == "later" })
		s.waitFrame(t, "later", isLater)
		f := s.waitFrame(t, "re-sent later or hi", fromConn(fc, func(f frame) bool { return isLater(f) || isHi(f) }))
		if f.m.Text == "hi" && f.raw == first.raw {
			// Might have been in flight before the ack: one more chance.
			f = s.waitFrame(t, "re-sent later or hi", fromConn(fc, func(f frame) bool { return isLater(f) || isHi(f) }))
		}
		if f.m.Text != "later" {
			t.Fatalf("acknowledged frame re-sent: %s", f.raw)
		}
	})
}

func waitNoPendingAck(t *testing.T, c *Client, id string) {
	t.Helper()
	testkit.Eventually(t, waitFor, "frame "+id+" to have its ack", func() bool {
		c.mu.Lock()
		cn := c.cur
		c.mu.Unlock()
		cn.mu.Lock()
		_, pending := cn.acks[id]
		cn.mu.Unlock()
		return !pending
	})
}

func TestAckBase64IDFromServer(t *testing.T) {
	s := newFake(t, true)
	s.ackBase64 = true // the server echoes encoded ids
	a := dial(t, s.url, newRecorder(), Options{Name: "alice", EncodeBase64: true,
		Acknowledgment: AckOptions{Enabled: true, Interval: time.Hour, Timeout: time.Hour}})
	if err := a.Publish(ctxT(t), "", "hi"); err != nil {
		t.Fatal(err)
	}
	f := s.waitFrame(t, "publish", method(sgcwire.MethodPublishMsg))
	waitNoPendingAck(t, a, f.m.ID)
}

func TestAckMaxRetries(t *testing.T) {
	s := newFake(t, false)
	s.noAck = true
	r := newRecorder()
	a := dial(t, s.url, r, Options{Name: "alice",
		Acknowledgment: AckOptions{Enabled: true, Interval: 5 * time.Millisecond, Timeout: 20 * time.Millisecond, MaxRetries: 2}})
	fc := s.nextConn(t)
	s.onFrame = func(*fconn, *sgcwire.Message, string) bool { return true } // server goes quiet
	if err := a.Publish(ctxT(t), "", "hi"); err != nil {
		t.Fatal(err)
	}
	isHi := fromConn(fc, func(f frame) bool { return f.m.Method == sgcwire.MethodPublishMsg && f.m.Text == "hi" })
	first := s.waitFrame(t, "publish", isHi)
	for i := range 2 {
		if f := s.waitFrame(t, "re-send", isHi); f.raw != first.raw {
			t.Fatalf("re-send %d differs", i+1)
		}
	}
	r.next(t, "error", func(e event) bool {
		return errors.Is(e.err, ErrNotAcknowledged) && strings.Contains(e.err.Error(), first.m.ID)
	})
	// The entry is gone: the frame after the error is not a fourth copy.
	if err := a.Publish(ctxT(t), "", "sentinel"); err != nil {
		t.Fatal(err)
	}
	f := s.waitFrame(t, "sentinel", fromConn(fc, method(sgcwire.MethodPublishMsg)))
	if f.m.Text != "sentinel" {
		t.Fatalf("frame re-sent more than MaxRetries times: %s", f.raw)
	}
}

func TestReconnectRestoresMemberAndSubscriptions(t *testing.T) {
	bothEncodings(t, func(t *testing.T, b64 bool) {
		s := newFake(t, b64)
		r := newRecorder()
		a := dial(t, s.url, r, Options{Name: "alice", Info: "i", EncodeBase64: b64,
			ReconnectMin: 10 * time.Millisecond, ReconnectMax: 50 * time.Millisecond})
		fc := s.nextConn(t)
		ctx := ctxT(t)
		for _, ch := range []string{"b-room", "a-room"} {
			if err := a.Subscribe(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
		old := a.Session()
		r.next(t, "connect", nil)

		fc.ws.Close(websocket.StatusGoingAway, "restart")
		if e := r.next(t, "disconnect", nil); e.code != int(websocket.StatusGoingAway) {
			t.Fatalf("OnDisconnect(%d), want 1001", e.code)
		}
		fc2 := s.nextConn(t)
		join := s.waitFrame(t, "re-join", fromConn(fc2, method(sgcwire.MethodNewMember)))
		if join.m.Member.ID == old || join.m.Member.ID != fc2.session || join.m.Member.Name != "alice" || join.m.Member.Info != "i" {
			t.Fatalf("re-join member %+v (old session %s, new %s)", join.m.Member, old, fc2.session)
		}
		var resubscribed []string
		for range 2 {
			f := s.waitFrame(t, "re-subscribe", fromConn(fc2, method(sgcwire.MethodNewChannelMember)))
			if f.m.Member.ID != fc2.session {
				t.Fatalf("re-subscribe as %q", f.m.Member.ID)
			}
			resubscribed = append(resubscribed, f.m.Channel)
		}
		if !slices.Equal(resubscribed, []string{"a-room", "b-room"}) {
			t.Fatalf("re-subscribed %v", resubscribed)
		}
		e := r.next(t, "connect", nil)
		if e.session != fc2.session || a.Session() != fc2.session {
			t.Fatalf("OnConnect(%q), Session() %q, want %q", e.session, a.Session(), fc2.session)
		}
		if got := a.Subscriptions(); !slices.Equal(got, []string{"a-room", "b-room"}) {
			t.Fatalf("Subscriptions() = %v", got)
		}
		ms, err := a.GetMembers(ctx, "a-room")
		if err != nil || len(ms) != 1 || ms[0] != a.Member() {
			t.Fatalf("after reconnect GetMembers = %+v, %v", ms, err)
		}
	})
}

func TestReconnectAfterAbnormalClose(t *testing.T) {
	s := newFake(t, false)
	r := newRecorder()
	a := dial(t, s.url, r, Options{Name: "alice", ReconnectMin: time.Millisecond, ReconnectMax: 5 * time.Millisecond})
	fc := s.nextConn(t)
	fc.ws.CloseNow()
	if e := r.next(t, "disconnect", nil); e.code != int(websocket.StatusAbnormalClosure) {
		t.Fatalf("OnDisconnect(%d), want 1006", e.code)
	}
	r.next(t, "connect", nil)
	if err := a.Publish(ctxT(t), "", "back"); err != nil {
		t.Fatal(err)
	}
	if e := r.next(t, "publish", nil); e.text != "back" {
		t.Fatalf("publish %v", e)
	}
}

func TestReconnectRetriesUntilServerIsBack(t *testing.T) {
	s := newFake(t, false)
	r := newRecorder()
	a := dial(t, s.url, r, Options{Name: "alice", ReconnectMin: time.Millisecond, ReconnectMax: 10 * time.Millisecond})
	fc := s.nextConn(t)
	s.denyMember = true // re-joins are refused for a while
	fc.ws.Close(websocket.StatusGoingAway, "")
	r.next(t, "disconnect", nil)
	e := r.next(t, "error", nil)
	var se *Error
	if !errors.As(e.err, &se) || se.Code != CodeMemberDenied {
		t.Fatalf("reconnect error %v, want *Error 2", e.err)
	}
	s.mu.Lock()
	s.denyMember = false
	s.mu.Unlock()
	r.next(t, "connect", nil)
	if err := a.Subscribe(ctxT(t), "room"); err != nil {
		t.Fatal(err)
	}
}

func TestNoReconnect(t *testing.T) {
	s := newFake(t, false)
	r := newRecorder()
	a := dial(t, s.url, r, Options{Name: "alice", NoReconnect: true})
	fc := s.nextConn(t)
	fc.ws.Close(websocket.StatusGoingAway, "")
	if e := r.next(t, "disconnect", nil); e.code != int(websocket.StatusGoingAway) {
		t.Fatalf("OnDisconnect(%d)", e.code)
	}
	testkit.Recv(t, a.Done(), waitFor, "Done closed after the connection was lost with NoReconnect")
	if err := a.Subscribe(ctxT(t), "room"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after loss: %v", err)
	}
}

// TestOnReconnectFailed: every failed attempt is reported once, with its
// URL and number, and not also to OnError.
func TestOnReconnectFailed(t *testing.T) {
	s := newFake(t, false)
	r := newRecorder()
	type failure struct {
		url     string
		attempt int
		err     error
	}
	failed := make(chan failure, 1000)
	errs := make(chan error, 1000)
	a := dial(t, s.url, r, Options{Name: "alice", ReconnectMin: time.Millisecond, ReconnectMax: 10 * time.Millisecond,
		OnReconnectFailed: func(url string, attempt int, err error) { failed <- failure{url, attempt, err} },
		OnError:           func(err error) { errs <- err }})
	fc := s.nextConn(t)
	s.denyMember = true
	fc.ws.Close(websocket.StatusGoingAway, "")
	r.next(t, "disconnect", nil)
	for want := 1; want <= 2; want++ {
		f := testkit.Recv(t, failed, waitFor, "a failed attempt")
		var se *Error
		if f.url != s.url || f.attempt != want || !errors.As(f.err, &se) || se.Code != CodeMemberDenied {
			t.Fatalf("failure %+v, want attempt %d at %s with error 2", f, want, s.url)
		}
	}
	s.mu.Lock()
	s.denyMember = false
	s.mu.Unlock()
	r.next(t, "connect", nil)
	if err := a.Subscribe(ctxT(t), "room"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errs:
		t.Fatalf("a reconnect failure reached OnError too: %v", err)
	default:
	}
}
