package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

var sessionRE = regexp.MustCompile(`^[0-9A-F]{32}$`)

// bothEncodings runs f with plain values and with sgc@b64: values on both
// sides.
func bothEncodings(t *testing.T, f func(t *testing.T, b64 bool)) {
	for _, b64 := range []bool{false, true} {
		name := "plain"
		if b64 {
			name = "base64"
		}
		t.Run(name, func(t *testing.T) { f(t, b64) })
	}
}

func names(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name
	}
	return out
}

func wantServerError(t *testing.T, err error, code int) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want *Error with code %d", err, code)
	}
	if se.Code != code {
		t.Fatalf("got error code %d (%s), want %d", se.Code, se.Text, code)
	}
}

func TestDialJoins(t *testing.T) {
	bothEncodings(t, func(t *testing.T, b64 bool) {
		s := newFake(t, b64)
		ra := newRecorder()
		a := dial(t, s.url, ra, Options{Name: "alice", Info: "role=qa\r\n", EncodeBase64: b64})

		if !sessionRE.MatchString(a.Session()) {
			t.Fatalf("session %q is not 32 uppercase hex", a.Session())
		}
		if got, want := a.Member(), (Member{ID: a.Session(), Name: "alice", Info: "role=qa\r\n"}); got != want {
			t.Fatalf("Member() = %+v, want %+v", got, want)
		}
		// The join frame: member@new with id = session, name and info.
		f := s.waitFrame(t, "member@new", method(sgcwire.MethodNewMember))
		if f.m.Member != (sgcwire.Member{ID: a.Session(), Name: "alice", Info: "role=qa\r\n"}) {
			t.Fatalf("member@new member = %+v", f.m.Member)
		}
		if b64 != strings.Contains(f.raw, `"method":"sgc@b64:`) {
			t.Fatalf("b64=%v but join frame is %s", b64, f.raw)
		}
		// Events in order: session, own join, connect.
		if e := ra.next(t, "session", nil); e.session != a.Session() {
			t.Fatalf("OnSession(%q), want %q", e.session, a.Session())
		}
		if e := ra.next(t, "newmember", nil); e.member != a.Member() {
			t.Fatalf("OnNewMember(%+v), want own member", e.member)
		}
		if e := ra.next(t, "connect", nil); e.session != a.Session() {
			t.Fatalf("OnConnect(%q)", e.session)
		}

		rb := newRecorder()
		b := dial(t, s.url, rb, Options{Name: "bob", EncodeBase64: b64})
		if e := ra.next(t, "newmember", nil); e.member != b.Member() {
			t.Fatalf("alice saw %+v join, want bob %+v", e.member, b.Member())
		}
		b.Close()
		if e := ra.next(t, "removemember", nil); e.member.ID != b.Member().ID || e.member.Name != "bob" {
			t.Fatalf("alice saw %+v leave, want bob", e.member)
		}
		if e := rb.next(t, "disconnect", nil); e.code != int(websocket.StatusNormalClosure) {
			t.Fatalf("bob OnDisconnect(%d) after Close, want 1000", e.code)
		}
		select {
		case <-b.Done():
		default:
			t.Fatal("Done not closed after Close returned")
		}
	})
}

func TestChannels(t *testing.T) {
	bothEncodings(t, func(t *testing.T, b64 bool) {
		s := newFake(t, b64)
		ra, rb := newRecorder(), newRecorder()
		a := dial(t, s.url, ra, Options{Name: "alice", EncodeBase64: b64})
		b := dial(t, s.url, rb, Options{Name: "bob", Info: "i", EncodeBase64: b64})
		ctx := ctxT(t)

		if err := a.Subscribe(ctx, "room"); err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		f := s.waitFrame(t, "subscribe", method(sgcwire.MethodNewChannelMember))
		if f.m.Channel != "room" || f.m.Member.ID != a.Session() {
			t.Fatalf("subscribe frame %s", f.raw)
		}
		if b64 && !strings.Contains(f.raw, `"name":"sgc@b64:cm9vbQ=="`) {
			t.Fatalf("channel name not base64 in %s", f.raw)
		}
		if e := ra.next(t, "newchannelmember", nil); e.channel != "room" || e.member != a.Member() {
			t.Fatalf("OnNewChannelMember %v", e)
		}
		if err := b.Subscribe(ctx, "room"); err != nil {
			t.Fatalf("bob Subscribe: %v", err)
		}
		if e := ra.next(t, "newchannelmember", nil); e.member != b.Member() {
			t.Fatalf("alice saw %v, want bob joining room", e)
		}
		if got := a.Subscriptions(); !slices.Equal(got, []string{"room"}) {
			t.Fatalf("Subscriptions() = %v", got)
		}

		// Channel publish reaches the channel with the stored sender.
		if err := b.Publish(ctx, "room", "hi \"all\" é\n"); err != nil {
			t.Fatal(err)
		}
		if e := ra.next(t, "publish", nil); e.text != "hi \"all\" é\n" || e.channel != "room" || e.member != b.Member() {
			t.Fatalf("OnPublishMsg %v", e)
		}
		// Publish to everyone.
		if err := a.Publish(ctx, "", "hello world"); err != nil {
			t.Fatal(err)
		}
		if e := rb.next(t, "publish", func(e event) bool { return e.channel == "" }); e.text != "hello world" || e.channel != "" || e.member.ID != a.Session() {
			t.Fatalf("bob OnPublishMsg %v", e)
		}

		ms, err := a.GetMembers(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(ms), []string{"alice", "bob"}) || ms[1] != b.Member() {
			t.Fatalf("GetMembers(room) = %+v", ms)
		}
		if e := ra.next(t, "getmembers", nil); e.channel != "room" || len(e.members) != 2 {
			t.Fatalf("OnGetMembers %v", e)
		}
		all, err := b.GetMembers(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(all), []string{"alice", "bob"}) {
			t.Fatalf("GetMembers(\"\") = %+v", all)
		}

		if err := b.Unsubscribe(ctx, "room"); err != nil {
			t.Fatalf("Unsubscribe: %v", err)
		}
		if e := ra.next(t, "removechannelmember", nil); e.channel != "room" || e.member != b.Member() {
			t.Fatalf("OnRemoveChannelMember %v", e)
		}
		if got := b.Subscriptions(); len(got) != 0 {
			t.Fatalf("bob still subscribed to %v", got)
		}
		ms, err = a.GetMembers(ctx, "room")
		if err != nil || !slices.Equal(names(ms), []string{"alice"}) {
			t.Fatalf("GetMembers after unsubscribe = %+v, %v", ms, err)
		}
	})
}

func TestServerErrors(t *testing.T) {
	bothEncodings(t, func(t *testing.T, b64 bool) {
		s := newFake(t, b64)
		s.denyChannels["vip"] = CodeSubscriptionDenied
		s.denyChannels["secret"] = CodeChannelDenied
		s.denyChannels["quiet"] = CodePublishDenied
		ra := newRecorder()
		a := dial(t, s.url, ra, Options{Name: "alice", EncodeBase64: b64})
		b := dial(t, s.url, newRecorder(), Options{Name: "bob", EncodeBase64: b64})
		ctx := ctxT(t)

		if err := a.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
		err := a.Subscribe(ctx, "room")
		wantServerError(t, err, CodeSubscriptionExists)
		if err.Error() != "presence error 11: Subscription already exists." {
			t.Fatalf("Error() = %q", err.Error())
		}
		e := ra.next(t, "errormemberchannel", nil)
		if e.srvError != (Error{CodeSubscriptionExists, "Subscription already exists."}) || e.channel != "room" || e.member != a.Member() {
			t.Fatalf("OnErrorMemberChannel %v", e)
		}
		wantServerError(t, a.Subscribe(ctx, "vip"), CodeSubscriptionDenied)
		wantServerError(t, a.Subscribe(ctx, "secret"), CodeChannelDenied)
		wantServerError(t, a.Unsubscribe(ctx, "nowhere"), CodeChannelNotExists)
		wantServerError(t, b.Unsubscribe(ctx, "room"), CodeSubscriptionNotExists)
		_, err = a.GetMembers(ctx, "nowhere")
		wantServerError(t, err, CodeChannelNotExists)
		if got := a.Subscriptions(); !slices.Equal(got, []string{"room"}) {
			t.Fatalf("Subscriptions() = %v after refusals", got)
		}

		// Publish errors carry the message and fire OnErrorPublishMsg.
		if err := a.Publish(ctx, "nowhere", "anyone?"); err != nil {
			t.Fatal(err)
		}
		e = ra.next(t, "errorpublish", nil)
		if e.srvError.Code != CodeChannelNotExists || e.text != "anyone?" {
			t.Fatalf("OnErrorPublishMsg %v", e)
		}
		if err := a.Subscribe(ctx, "quiet"); err != nil {
			t.Fatal(err)
		}
		if err := a.Publish(ctx, "quiet", "shh"); err != nil {
			t.Fatal(err)
		}
		e = ra.next(t, "errorpublish", nil)
		if e.srvError != (Error{CodePublishDenied, "Publish Message request has been denied."}) || e.text != "shh" || e.channel != "quiet" {
			t.Fatalf("OnErrorPublishMsg %v", e)
		}
	})
}

func TestPublishErrorToNonMember(t *testing.T) {
	s := newFake(t, false)
	rb := newRecorder()
	a := dial(t, s.url, newRecorder(), Options{Name: "alice"})
	b := dial(t, s.url, rb, Options{Name: "bob"})
	ctx := ctxT(t)
	if err := a.Subscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(ctx, "room", "let me in"); err != nil {
		t.Fatal(err)
	}
	e := rb.next(t, "errorpublish", nil)
	if e.srvError.Code != CodeSubscriptionNotExists || e.text != "let me in" || e.channel != "room" || e.member != b.Member() {
		t.Fatalf("OnErrorPublishMsg %v", e)
	}
}

func TestDialJoinRefused(t *testing.T) {
	s := newFake(t, false)
	s.denyMember = true
	r := newRecorder()
	_, err := Dial(ctxT(t), s.url, r.options(Options{Name: "alice"}))
	wantServerError(t, err, CodeMemberDenied)
}

func TestDialFailures(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		hs := httptest.NewServer(http.NotFoundHandler())
		url := "ws" + strings.TrimPrefix(hs.URL, "http")
		hs.Close()
		if _, err := Dial(ctxT(t), url, Options{}); err == nil {
			t.Fatal("Dial to a closed port succeeded")
		}
	})
	t.Run("no subprotocol", func(t *testing.T) {
		var wg sync.WaitGroup
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			wg.Add(1)
			defer wg.Done()
			ws, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			ws.Read(context.Background())
			ws.CloseNow()
		}))
		defer hs.Close()
		_, err := Dial(ctxT(t), "ws"+strings.TrimPrefix(hs.URL, "http"), Options{})
		if !errors.Is(err, ErrSubprotocol) {
			t.Fatalf("got %v, want ErrSubprotocol", err)
		}
		wg.Wait()
	})
	t.Run("no join echo before ctx ends", func(t *testing.T) {
		// A server that swallows member@new: Dial waits for the echo until ctx.
		s := newFake(t, false)
		s.onFrame = func(*fconn, *sgcwire.Message, string) bool { return true }
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := Dial(ctx, s.url, Options{})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestHTTPHeader(t *testing.T) {
	got := make(chan string, 1)
	s := newFake(t, false)
	inner := s.hs.Config.Handler
	s.hs.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- r.Header.Get("Authorization"):
		default:
		}
		inner.ServeHTTP(w, r)
	})
	dial(t, s.url, newRecorder(), Options{HTTPHeader: http.Header{"Authorization": {"Bearer t0k"}}})
	if h := <-got; h != "Bearer t0k" {
		t.Fatalf("Authorization = %q", h)
	}
}

func TestInvitations(t *testing.T) {
	bothEncodings(t, func(t *testing.T, b64 bool) {
		s := newFake(t, b64)
		ra, rb, rc := newRecorder(), newRecorder(), newRecorder()
		invitations := make(chan *Invitation, 10)
		a := dial(t, s.url, ra, Options{Name: "alice", EncodeBase64: b64})
		b := dial(t, s.url, rb, Options{Name: "bob", Info: "bi", EncodeBase64: b64,
			OnChannelInvitation: func(inv *Invitation) { invitations <- inv }})
		c := dial(t, s.url, rc, Options{Name: "carol", EncodeBase64: b64}) // no handler
		ctx := ctxT(t)
		if err := a.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}

		// Accepted from inside the handler goroutine's successor: the
		// application answers later, from another goroutine.
		if err := a.Invite(ctx, "room", b.Session()); err != nil {
			t.Fatal(err)
		}
		f := s.waitFrame(t, "invitation", method(sgcwire.MethodChannelInvitation))
		if len(f.m.Members) != 1 || f.m.Members[0].ID != b.Session() || f.m.Member != a.Member().wire() {
			t.Fatalf("invitation frame %s", f.raw)
		}
		inv := testkit.Recv(t, invitations, waitFor, "the invitation")
		if inv.Channel != "room" || inv.From != a.Member() {
			t.Fatalf("invitation %+v from %+v", inv.Channel, inv.From)
		}
		if err := inv.Accept(ctx); err != nil {
			t.Fatalf("Accept: %v", err)
		}
		if err := inv.Refuse(ctx, 1, "x"); !errors.Is(err, ErrAnswered) {
			t.Fatalf("second answer: %v", err)
		}
		if got := b.Subscriptions(); !slices.Equal(got, []string{"room"}) {
			t.Fatalf("after Accept bob is in %v", got)
		}
		e := ra.next(t, "invitationresponse", nil)
		if !e.resp.Accepted || e.resp.Channel != "room" || e.resp.Invitee != b.Member() || e.resp.Error != (Error{}) {
			t.Fatalf("OnChannelInvitationResponse %+v", e.resp)
		}

		// Refused with a reason.
		if err := a.Invite(ctx, "room", b.Session()); err != nil {
			t.Fatal(err)
		}
		inv = <-invitations
		if err := inv.Refuse(ctx, 7, "busy"); err != nil {
			t.Fatal(err)
		}
		e = ra.next(t, "invitationresponse", nil)
		if e.resp.Accepted || e.resp.Error != (Error{7, "busy"}) || e.resp.Invitee.ID != b.Session() {
			t.Fatalf("refusal %+v", e.resp)
		}

		// No handler: refused with code 100.
		if err := a.Invite(ctx, "room", c.Session()); err != nil {
			t.Fatal(err)
		}
		e = ra.next(t, "invitationresponse", nil)
		if e.resp.Accepted || e.resp.Error != (Error{CodeInvitationDeclined, TextInvitationDeclined}) || e.resp.Invitee != c.Member() {
			t.Fatalf("default refusal %+v", e.resp)
		}
		if got := c.Subscriptions(); len(got) != 0 {
			t.Fatalf("carol subscribed to %v", got)
		}
	})
}

func TestInvitationAcceptedInHandler(t *testing.T) {
	s := newFake(t, false)
	s.denyChannels["full"] = CodeSubscriptionDenied
	ra := newRecorder()
	a := dial(t, s.url, ra, Options{Name: "alice"})
	acceptErr := make(chan error, 2)
	b := dial(t, s.url, newRecorder(), Options{Name: "bob",
		OnChannelInvitation: func(inv *Invitation) { acceptErr <- inv.Accept(context.Background()) }})
	ctx := ctxT(t)
	if err := a.Invite(ctx, "room", b.Session()); err != nil {
		t.Fatal(err)
	}
	if err := <-acceptErr; err != nil {
		t.Fatalf("Accept inside the handler: %v", err)
	}
	if e := ra.next(t, "invitationresponse", nil); !e.resp.Accepted {
		t.Fatalf("response %+v", e.resp)
	}
	// The subscription is refused: Accept returns it and tells the inviter.
	if err := a.Invite(ctx, "full", b.Session()); err != nil {
		t.Fatal(err)
	}
	wantServerError(t, <-acceptErr, CodeSubscriptionDenied)
	if e := ra.next(t, "invitationresponse", nil); e.resp.Accepted || e.resp.Error.Code != CodeSubscriptionDenied {
		t.Fatalf("response %+v", e.resp)
	}
}

func TestServerBroadcast(t *testing.T) {
	s := newFake(t, false)
	ra := newRecorder()
	a := dial(t, s.url, ra, Options{Name: "alice"})
	if err := a.Subscribe(ctxT(t), "room"); err != nil {
		t.Fatal(err)
	}
	s.broadcast("maintenance at noon", "")
	if e := ra.next(t, "publish", nil); e.text != "maintenance at noon" || e.channel != "" || e.member != (Member{}) {
		t.Fatalf("broadcast %v", e)
	}
	s.broadcast("room only", "room")
	if e := ra.next(t, "publish", nil); e.text != "room only" || e.channel != "room" || e.member != (Member{}) {
		t.Fatalf("channel broadcast %v", e)
	}
}

func TestConcurrentIdenticalRequests(t *testing.T) {
	s := newFake(t, false)
	a := dial(t, s.url, newRecorder(), Options{Name: "alice"})
	ctx := ctxT(t)
	errs := make(chan error, 2)
	for range 2 {
		go func() { errs <- a.Subscribe(ctx, "room") }()
	}
	e1, e2 := <-errs, <-errs
	if e1 != nil && e2 != nil || e1 == nil && e2 == nil {
		t.Fatalf("want one success and one refusal, got %v and %v", e1, e2)
	}
	wantServerError(t, errors.Join(e1, e2), CodeSubscriptionExists)

	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms, err := a.GetMembers(ctx, "room")
			if err != nil || len(ms) != 1 {
				t.Errorf("GetMembers = %v, %v", ms, err)
			}
		}()
	}
	wg.Wait()
}

func TestPendingRequestFailsWhenConnectionDrops(t *testing.T) {
	s := newFake(t, false)
	swallowed := make(chan *fconn, 1)
	s.onFrame = func(fc *fconn, m *sgcwire.Message, _ string) bool {
		if m.Method == sgcwire.MethodGetMembers {
			swallowed <- fc
			return true
		}
		return false
	}
	r := newRecorder()
	a := dial(t, s.url, r, Options{Name: "alice", NoReconnect: true})
	go func() {
		fc := <-swallowed
		fc.ws.Close(websocket.StatusGoingAway, "bye")
	}()
	_, err := a.GetMembers(ctxT(t), "")
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("got %v, want ErrConnectionLost", err)
	}
}

func TestMethodsAfterClose(t *testing.T) {
	s := newFake(t, false)
	a := dial(t, s.url, newRecorder(), Options{Name: "alice"})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx := ctxT(t)
	for name, err := range map[string]error{
		"Subscribe":   a.Subscribe(ctx, "x"),
		"Unsubscribe": a.Unsubscribe(ctx, "x"),
		"Publish":     a.Publish(ctx, "", "x"),
		"Invite":      a.Invite(ctx, "x", "y"),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v", name, err)
		}
	}
	if _, err := a.GetMembers(ctx, ""); !errors.Is(err, ErrClosed) {
		t.Errorf("GetMembers after Close: %v", err)
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{opts: Options{ReconnectMin: 100 * time.Millisecond, ReconnectMax: 5 * time.Second}}
	for attempt := range 100 {
		d := c.backoff(attempt)
		ceil := min(100*time.Millisecond<<min(attempt, 20), 5*time.Second)
		if d < 100*time.Millisecond || d > ceil {
			t.Fatalf("attempt %d: backoff %v outside [100ms, %v]", attempt, d, ceil)
		}
	}
	if d := c.backoff(200); d < 2500*time.Millisecond {
		t.Fatalf("late backoff %v below half the maximum", d)
	}
}
