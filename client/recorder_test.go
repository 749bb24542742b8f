package client

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rollcall/rollcall/internal/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor bounds every wait in these tests; nothing is asserted by sleeping.
const waitFor = testkit.Timeout

// event is one handler call, recorded in order.
type event struct {
	kind     string
	session  string
	code     int
	err      error
	member   Member
	channel  string
	text     string
	members  []Member
	resp     InvitationResponse
	inv      *Invitation
	srvError Error
}

func (e event) String() string {
	type plain event // without the String method
	return fmt.Sprintf("%s %+v", e.kind, plain(e))
}

// recorder records every event of one client in order.
type recorder struct {
	ch chan event
}

func newRecorder() *recorder { return &recorder{ch: make(chan event, 10000)} }

// options returns o with every unset handler (but OnChannelInvitation and
// OnRawMessage, whose presence changes behaviour) recording into r.
func (r *recorder) options(o Options) Options {
	rec := func(e event) { r.ch <- e }
	if o.OnConnect == nil {
		o.OnConnect = func(s string) { rec(event{kind: "connect", session: s}) }
	}
	if o.OnDisconnect == nil {
		o.OnDisconnect = func(code int) { rec(event{kind: "disconnect", code: code}) }
	}
	if o.OnError == nil {
		o.OnError = func(err error) { rec(event{kind: "error", err: err}) }
	}
	if o.OnSession == nil {
		o.OnSession = func(s string) { rec(event{kind: "session", session: s}) }
	}
	if o.OnNewMember == nil {
		o.OnNewMember = func(m Member) { rec(event{kind: "newmember", member: m}) }
	}
	if o.OnRemoveMember == nil {
		o.OnRemoveMember = func(m Member) { rec(event{kind: "removemember", member: m}) }
	}
	if o.OnNewChannelMember == nil {
		o.OnNewChannelMember = func(ch string, m Member) { rec(event{kind: "newchannelmember", channel: ch, member: m}) }
	}
	if o.OnRemoveChannelMember == nil {
		o.OnRemoveChannelMember = func(ch string, m Member) { rec(event{kind: "removechannelmember", channel: ch, member: m}) }
	}
	if o.OnPublishMsg == nil {
		o.OnPublishMsg = func(text, ch string, m Member) { rec(event{kind: "publish", text: text, channel: ch, member: m}) }
	}
	if o.OnChannelInvitationResponse == nil {
		o.OnChannelInvitationResponse = func(resp InvitationResponse) { rec(event{kind: "invitationresponse", resp: resp}) }
	}
	if o.OnGetMembers == nil {
		o.OnGetMembers = func(ch string, ms []Member) { rec(event{kind: "getmembers", channel: ch, members: ms}) }
	}
	if o.OnErrorMemberChannel == nil {
		o.OnErrorMemberChannel = func(e Error, ch string, m Member) {
			rec(event{kind: "errormemberchannel", srvError: e, channel: ch, member: m})
		}
	}
	if o.OnErrorPublishMsg == nil {
		o.OnErrorPublishMsg = func(e Error, text, ch string, m Member) {
			rec(event{kind: "errorpublish", srvError: e, text: text, channel: ch, member: m})
		}
	}
	if o.OnException == nil {
		o.OnException = func(err error) { rec(event{kind: "exception", err: err}) }
	}
	return o
}

// next returns the next event of kind ("": any) that satisfies pred (nil:
// any), skipping the others.
func (r *recorder) next(t *testing.T, kind string, pred func(event) bool) event {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case e := <-r.ch:
			if (kind == "" || e.kind == kind) && (pred == nil || pred(e)) {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event", kind)
			return event{}
		}
	}
}

// dial connects a client to url with the recorder's handlers and closes it
// at the end of the test.
func dial(t *testing.T, url string, r *recorder, o Options) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := Dial(ctx, url, r.options(o))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	t.Cleanup(cancel)
	return ctx
}
