package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// TestAppChosenMemberID: on an open server a page joins under an id of its
// own (sgc's newmember(id, name, info)) and every later frame may carry it,
// as sgc's browser client re-sends the member object; another connection
// can neither take the id (error 1) nor act for it (error 42); the session
// id still works, and a leave frees the id.
func TestAppChosenMemberID(t *testing.T) {
	srv, url := startServer(t, Options{})
	ann := sgcwire.Member{ID: "user-7", Name: "Ann", Info: "ops"}
	a := dial(t, url)
	a.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: ann})
	if m := a.expect(sgcwire.MethodNewMember, nil); m.Member != ann {
		t.Fatalf("join echo %+v, want %+v", m.Member, ann)
	}

	b := dial(t, url)
	// b cannot take the id...
	b.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: "user-7", Name: "Mallory"}})
	if e := b.expectError(sgcwire.CodeMemberExists); e.Member.ID != "user-7" {
		t.Fatalf("error frame member %+v", e.Member)
	}
	// ...nor act for it, joined or not.
	for _, m := range []*sgcwire.Message{
		{Method: sgcwire.MethodPublishMsg, Member: sgcwire.Member{ID: "user-7"}, Text: "spoof"},
		{Method: sgcwire.MethodRemoveMember, Member: sgcwire.Member{ID: "user-7"}},
		{Method: sgcwire.MethodNewChannelMember, Member: sgcwire.Member{ID: "user-7"}, Channel: "room"},
	} {
		b.send(m)
		b.expectError(sgcwire.CodeNotOwnMember)
	}
	// b joins under its session id; then it still cannot act for user-7.
	bob := b.join("Bob", "")
	a.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member == bob })
	b.send(&sgcwire.Message{Method: sgcwire.MethodRemoveMember, Member: sgcwire.Member{ID: "user-7"}})
	if e := b.expectError(sgcwire.CodeNotOwnMember); e.Member != bob {
		t.Fatalf("error frame member %+v", e.Member)
	}
	b.subscribe("room")
	if n := srv.Engine().MemberCount(); n != 2 {
		t.Fatalf("%d members, want 2", n)
	}

	// a acts under its chosen id, its session id, or none.
	a.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Member: ann, Channel: "room"})
	a.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool { return m.Member == ann })
	b.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool { return m.Member == ann })
	for i, id := range []string{"user-7", a.session, ""} {
		text := []string{"as user-7", "as the session", "as nobody in particular"}[i]
		a.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Member: sgcwire.Member{ID: id}, Channel: "room", Text: text})
		if m := b.expect(sgcwire.MethodPublishMsg, nil); m.Member != ann || m.Text != text {
			t.Fatalf("b heard %+v, want %q from %+v", m, text, ann)
		}
	}
	// but not for b
	a.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Member: sgcwire.Member{ID: b.session}, Channel: "room", Text: "spoof"})
	if e := a.expectError(sgcwire.CodeNotOwnMember); e.Member != ann {
		t.Fatalf("error frame member %+v", e.Member)
	}

	// A leave under the chosen id frees it for the next comer.
	a.send(&sgcwire.Message{Method: sgcwire.MethodRemoveMember, Member: sgcwire.Member{ID: "user-7"}})
	b.expect(sgcwire.MethodRemoveMember, func(m *sgcwire.Message) bool { return m.Member == ann })
	c := dial(t, url)
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: "user-7", Name: "Cid"}})
	c.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member.ID == "user-7" && m.Member.Name == "Cid" })
	// and a disconnect removes it, whatever the id
	c.conn.Close()
	b.expect(sgcwire.MethodRemoveMember, func(m *sgcwire.Message) bool { return m.Member.ID == "user-7" && m.Member.Name == "Cid" })
}

// TestAppMemberIDsAuthenticated: with Auth.AppMemberIDs an authenticated
// connection joins under an id of its own choosing, with the name and info
// it sends, first come, first served, as sgc's server keys members by the
// id the client sends; the connection keeps its identity and data (hooks
// see them, the join is logged with the user). Without the option the same
// join is error 42, and a join with no id takes the identity's id either
// way.
func TestAppMemberIDsAuthenticated(t *testing.T) {
	type user struct{ login string }
	basic := func(_ context.Context, _ *http.Request, login, password string) (Identity, error) {
		if password != "pw" {
			return Identity{}, errors.New("wrong password")
		}
		return Identity{Name: strings.ToUpper(login), Data: user{login}}, nil
	}
	ann := sgcwire.Member{ID: "user-7", Name: "Ann", Info: "ops"}

	t.Run("default", func(t *testing.T) {
		_, u := startServer(t, Options{Auth: Auth{Basic: basic}})
		a := dialAuth(t, u, basicHeader("alice", "pw"))
		a.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: ann})
		a.expectError(sgcwire.CodeNotOwnMember)
		if m := a.joinAs(""); m.ID != "alice" {
			t.Fatalf("joined as %+v, want alice", m)
		}
	})

	var logs logBuffer
	seen := make(chan string, 4) // "<member id> <identity id> <data>" of each join
	_, u := startServer(t, Options{
		Logger: logs.logger(slog.LevelDebug),
		Auth:   Auth{Basic: basic, AppMemberIDs: true},
		Events: presence.Events{OnNewMember: func(c *presence.Conn, m presence.Member) {
			id, _ := c.Identity()
			seen <- fmt.Sprintf("%s %s %v", m.ID, id.ID, c.Data())
		}},
	})
	joinSeen := func(want string) {
		t.Helper()
		select {
		case got := <-seen:
			if got != want {
				t.Fatalf("OnNewMember saw %q, want %q", got, want)
			}
		case <-time.After(testTimeout):
			t.Fatal("no OnNewMember")
		}
	}
	a := dialAuth(t, u, basicHeader("alice", "pw"))
	a.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: ann})
	if m := a.expect(sgcwire.MethodNewMember, nil); m.Member != ann {
		t.Fatalf("join echo %+v, want the app's member %+v", m.Member, ann)
	}
	joinSeen("user-7 alice {alice}")
	if len(logs.lines("session="+a.session, "user=alice", "member=user-7")) == 0 {
		t.Fatalf("the join under an app's id is not logged with the user:\n%s", logs.String())
	}

	b := dialAuth(t, u, basicHeader("bob", "pw"))
	b.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: "user-7", Name: "Mallory"}})
	b.expectError(sgcwire.CodeMemberExists)
	b.send(&sgcwire.Message{Method: sgcwire.MethodPublishMsg, Member: sgcwire.Member{ID: "user-7"}, Text: "spoof"})
	b.expectError(sgcwire.CodeNotOwnMember)
	if m := b.joinAs(""); m.ID != "bob" || m.Name != "BOB" {
		t.Fatalf("a join without an id: %+v, want the identity's", m)
	}
	joinSeen("bob bob {bob}")

	// alice acts under the id she chose; a leave frees it for the next comer.
	a.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Member: sgcwire.Member{ID: "user-7"}, Channel: "room"})
	a.expect(sgcwire.MethodNewChannelMember, func(m *sgcwire.Message) bool { return m.Member == ann })
	a.send(&sgcwire.Message{Method: sgcwire.MethodRemoveMember, Member: sgcwire.Member{ID: "user-7"}})
	b.expect(sgcwire.MethodRemoveMember, func(m *sgcwire.Message) bool { return m.Member == ann })
	c := dialAuth(t, u, basicHeader("carol", "pw"))
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: sgcwire.Member{ID: "user-7", Name: "Cid"}})
	c.expect(sgcwire.MethodNewMember, func(m *sgcwire.Message) bool { return m.Member.ID == "user-7" && m.Member.Name == "Cid" })
	joinSeen("user-7 carol {carol}")
}
