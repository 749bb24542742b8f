package pusher

import (
	"encoding/json"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// The identity mapping between the two protocols (docs/pusher.md):
//
//   - A Pusher user is the engine member {ID: user_id, Name: user_info.name
//     (when user_info is an object with a string name, else ""), Info: the
//     user_info JSON as sent}. sgc clients see id = user_id, name, and info =
//     the user_info JSON text.
//   - An sgc member appears to Pusher clients with user_id = its id and
//     user_info {"name": name, "info": info text}.
//
// Which of the two a member is, is told by its Info: a Pusher member's Info
// is valid JSON whose name (as above) is the member's Name, or empty with an
// empty Name. An sgc member whose info happens to be such JSON is shown with
// it as user_info as it is, which says the same.

// memberOf returns the engine member of a Pusher user.
func memberOf(userID string, info json.RawMessage) presence.Member {
	m := presence.Member{ID: userID}
	if len(info) > 0 && string(info) != "null" {
		m.Info = info
		m.Name = infoName(info)
	}
	return m
}

// infoName is user_info.name when user_info is an object with a string
// name, else "".
func infoName(info []byte) string {
	if len(info) == 0 || info[0] != '{' {
		return ""
	}
	var v struct {
		Name *string `json:"name"`
	}
	if json.Unmarshal(info, &v) != nil || v.Name == nil {
		return ""
	}
	return *v.Name
}

// userInfo returns what Pusher clients get as a member's user_info.
func userInfo(m presence.Member) json.RawMessage {
	if len(m.Info) == 0 && m.Name == "" {
		return nil
	}
	if len(m.Info) > 0 && json.Valid(m.Info) && infoName(m.Info) == m.Name {
		return m.Info
	}
	b, _ := json.Marshal(struct {
		Name string `json:"name"`
		Info string `json:"info"`
	}{m.Name, string(m.Info)})
	return b
}

func wireMembers(ms []presence.Member) []pusherwire.Member {
	out := make([]pusherwire.Member, len(ms))
	for i, m := range ms {
		out[i] = pusherwire.Member{ID: m.ID, Info: userInfo(m)}
	}
	return out
}

// MemberUpdatedEvent is the event Pusher clients in a presence channel get
// when a member's name or info changes there, with data {"user_id",
// "user_info"} as pusher_internal:member_added has it. pusher-js passes
// it to whoever binds it, and leaves channel.members as it was.
const MemberUpdatedEvent = "rollcall:member_updated"

// memberUpdatedFrame encodes MemberUpdatedEvent for m on channel.
func memberUpdatedFrame(channel string, m presence.Member) []byte {
	uid, _ := json.Marshal(m.ID)
	info := userInfo(m)
	data := make([]byte, 0, 32+len(uid)+len(info))
	data = append(data, `{"user_id":`...)
	data = append(data, uid...)
	if len(info) > 0 {
		data = append(data, `,"user_info":`...)
		data = append(data, info...)
	}
	data = append(data, '}')
	return pusherwire.AppendChannelEvent(nil, channel, MemberUpdatedEvent, string(data))
}
