package server

import (
	"testing"

	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// TestListPageSize: Limits.ListPageSize sizes the rollcall@members pages
// a diff client gets.
func TestListPageSize(t *testing.T) {
	_, u := startServer(t, Options{Limits: Limits{ListPageSize: 2}})
	for i := range 5 { // the list is the room before "me" enters it
		c := dial(t, u)
		c.join("m"+string(rune('a'+i)), "")
		c.subscribe("room")
	}
	c := dial(t, u)
	c.send(&sgcwire.Message{Method: sgcwire.MethodHello, Extensions: []string{sgcwire.ExtDiffs}})
	c.expect(sgcwire.MethodHello, nil)
	c.join("me", "")
	c.send(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: "room"})
	var sizes []int
	for more := true; more; {
		p := c.expect(sgcwire.MethodList, func(m *sgcwire.Message) bool { return m.Channel == "room" })
		sizes, more = append(sizes, len(p.Members)), p.More
	}
	if len(sizes) != 3 || sizes[0] != 2 || sizes[1] != 2 || sizes[2] != 1 {
		t.Fatalf("pages of %v members, want [2 2 1]", sizes)
	}
}
