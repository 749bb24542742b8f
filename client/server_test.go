package client

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/server"
)

// newRollcall starts the real rollcall server on a loopback port.
func newRollcall(t *testing.T, opts server.Options) string {
	t.Helper()
	srv, err := server.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.WSURL(testkit.Serve(t, srv), "")
}

// TestAgainstRollcallServer runs the client against package server, plain
// and base64, with acknowledgments on both sides.
func TestAgainstRollcallServer(t *testing.T) {
	bothEncodings(t, func(t *testing.T, b64 bool) {
		ack := server.Acknowledgment{Enabled: true, Interval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond}
		url := newRollcall(t, server.Options{EncodeBase64: b64, Acknowledgment: ack})
		copts := func(name string) Options {
			// Per event: this test hears every change, a join and a leave
			// within one diff window included (TestDiffsProperty covers diffs).
			return Options{Name: name, Info: name + " info", EncodeBase64: b64, PerEvent: true,
				Acknowledgment: AckOptions{Enabled: true, Interval: 50 * time.Millisecond, Timeout: 200 * time.Millisecond}}
		}
		ra, rb := newRecorder(), newRecorder()
		a := dial(t, url, ra, copts("alice"))
		bo := copts("bob")
		invitations := make(chan *Invitation, 4)
		bo.OnChannelInvitation = func(inv *Invitation) { invitations <- inv }
		b := dial(t, url, rb, bo)
		ctx := ctxT(t)

		if e := ra.next(t, "newmember", func(e event) bool { return e.member.Name == "bob" }); e.member != b.Member() {
			t.Fatalf("alice saw %+v join", e.member)
		}
		if err := a.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
		wantServerError(t, a.Subscribe(ctx, "room"), CodeSubscriptionExists)
		wantServerError(t, b.Unsubscribe(ctx, "room"), CodeSubscriptionNotExists)
		if _, err := a.GetMembers(ctx, "nowhere"); err == nil {
			t.Fatal("GetMembers of an unknown channel succeeded")
		}

		// Invitation accepted: bob ends up in the room, alice hears back.
		if err := a.Invite(ctx, "room", b.Session()); err != nil {
			t.Fatal(err)
		}
		inv := <-invitations
		if inv.From != a.Member() || inv.Channel != "room" {
			t.Fatalf("invitation from %+v to %q", inv.From, inv.Channel)
		}
		if err := inv.Accept(ctx); err != nil {
			t.Fatal(err)
		}
		if e := ra.next(t, "invitationresponse", nil); !e.resp.Accepted || e.resp.Invitee != b.Member() || e.resp.Channel != "room" {
			t.Fatalf("response %+v", e.resp)
		}
		ms, err := a.GetMembers(ctx, "room")
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ms, func(x, y Member) int { return strings.Compare(x.Name, y.Name) })
		if len(ms) != 2 || ms[0] != a.Member() || ms[1] != b.Member() {
			t.Fatalf("room members %+v", ms)
		}
		// Refused invitation.
		if err := a.Invite(ctx, "other", b.Session()); err != nil {
			t.Fatal(err)
		}
		if err := (<-invitations).Refuse(ctx, 7, "busy"); err != nil {
			t.Fatal(err)
		}
		if e := ra.next(t, "invitationresponse", nil); e.resp.Accepted || e.resp.Error != (Error{7, "busy"}) {
			t.Fatalf("refusal %+v", e.resp)
		}

		// Messages, in the channel and to everyone.
		if err := b.Publish(ctx, "room", "hi room"); err != nil {
			t.Fatal(err)
		}
		if e := ra.next(t, "publish", nil); e.text != "hi room" || e.channel != "room" || e.member.ID != b.Session() {
			t.Fatalf("publish %v", e)
		}
		if err := a.Publish(ctx, "", "to all"); err != nil {
			t.Fatal(err)
		}
		if e := rb.next(t, "publish", func(e event) bool { return e.channel == "" }); e.text != "to all" || e.member.ID != a.Session() {
			t.Fatalf("publish %v", e)
		}
		if err := a.Publish(ctx, "nowhere", "lost"); err != nil {
			t.Fatal(err)
		}
		if e := ra.next(t, "errorpublish", nil); e.text != "lost" || e.srvError.Code == 0 {
			t.Fatalf("publish error %v", e)
		}

		if err := b.Unsubscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
		if e := ra.next(t, "removechannelmember", nil); e.member.ID != b.Session() || e.channel != "room" {
			t.Fatalf("unsubscribe seen as %v", e)
		}
		b.Close()
		if e := ra.next(t, "removemember", nil); e.member.ID != b.Session() {
			t.Fatalf("leave seen as %v", e)
		}
	})
}

// TestReconnectToRestartedRollcall stops the server under a subscribed
// client and starts a new one on the same address: the client reports the
// 1001 close, re-joins under a new session and is back in its channel.
func TestReconnectToRestartedRollcall(t *testing.T) {
	start := func(addr string) (stop func()) {
		srv, err := server.New(server.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: srv}
		done := make(chan struct{})
		go func() { defer close(done); hs.Serve(ln) }()
		var once sync.Once
		stop = func() {
			once.Do(func() {
				ctx, cancel := context.WithTimeout(context.Background(), waitFor)
				defer cancel()
				srv.Shutdown(ctx)
				hs.Shutdown(ctx)
				<-done
			})
		}
		t.Cleanup(stop)
		return stop
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop := start(addr)

	r := newRecorder()
	a := dial(t, "ws://"+addr+"/", r, Options{Name: "alice", ReconnectMin: 5 * time.Millisecond, ReconnectMax: 20 * time.Millisecond})
	ctx := ctxT(t)
	if err := a.Subscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	old := a.Session()
	r.next(t, "connect", nil)

	stop()
	if e := r.next(t, "disconnect", nil); e.code != 1001 {
		t.Fatalf("OnDisconnect(%d), want 1001", e.code)
	}
	start(addr)
	e := r.next(t, "connect", nil)
	if e.session == old || e.session != a.Session() {
		t.Fatalf("reconnected as %q (old %q, Session() %q)", e.session, old, a.Session())
	}
	ms, err := a.GetMembers(ctx, "room")
	if err != nil || len(ms) != 1 || ms[0] != a.Member() {
		t.Fatalf("room after reconnect: %+v, %v", ms, err)
	}
}
