package server

import (
	"testing"

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
