package client

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// fakeServer is an in-test Presence server that follows spec §3 to the
// letter (plus rollcall's invitation response and the message object on
// publish errors). Knobs are set before clients connect.
type fakeServer struct {
	t   *testing.T
	hs  *httptest.Server
	url string
	enc sgcwire.Encoder

	doubleSession bool // send the session frame twice
	frameIDs      bool // give every server frame an acknowledgment id
	noAck         bool // do not acknowledge client frames
	ackBase64     bool // acknowledge with sgc@b64:-encoded ids
	denyMember    bool // veto every member@new (error 2)
	denyChannels  map[string]int
	// onFrame sees every decoded client frame first; true skips the default
	// handling.
	onFrame func(fc *fconn, m *sgcwire.Message, raw string) bool

	recv     chan frame  // every frame received, acks included
	accepted chan *fconn // every connection accepted
	sentIDs  chan string // ids put on server frames (frameIDs)

	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[*fconn]bool
	members  map[string]*fconn
	channels map[string][]string
	invites  map[[3]string]bool // inviter, invitee, channel
}

type fconn struct {
	s       *fakeServer
	ws      *websocket.Conn
	session string
	member  sgcwire.Member
	joined  bool
}

type frame struct {
	from *fconn
	raw  string
	m    *sgcwire.Message
}

func newFake(t *testing.T, base64 bool) *fakeServer {
	s := &fakeServer{
		t:            t,
		enc:          sgcwire.Encoder{Base64: base64},
		denyChannels: map[string]int{},
		recv:         make(chan frame, 10000),
		accepted:     make(chan *fconn, 100),
		sentIDs:      make(chan string, 10000),
		conns:        map[*fconn]bool{},
		members:      map[string]*fconn{},
		channels:     map[string][]string{},
		invites:      map[[3]string]bool{},
	}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serve))
	s.url = "ws" + strings.TrimPrefix(s.hs.URL, "http")
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) close() {
	s.mu.Lock()
	for fc := range s.conns {
		fc.ws.CloseNow()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.hs.Close()
}

func (s *fakeServer) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{sgcwire.Subprotocol}})
	if err != nil {
		return
	}
	s.wg.Add(1)
	defer s.wg.Done()
	fc := &fconn{s: s, ws: ws, session: sgcwire.NewID()}
	s.mu.Lock()
	s.conns[fc] = true
	s.mu.Unlock()
	s.accepted <- fc
	fc.send(&sgcwire.Message{Method: sgcwire.MethodSession, Text: fc.session})
	if s.doubleSession {
		fc.send(&sgcwire.Message{Method: sgcwire.MethodSession, Text: fc.session})
	}
	for {
		_, data, err := ws.Read(context.Background())
		if err != nil {
			break
		}
		m, err := sgcwire.Decode(data)
		s.recv <- frame{from: fc, raw: string(data), m: m}
		if err != nil {
			continue
		}
		if m.ID != "" && m.Method != sgcwire.MethodAcknowledgment && !s.noAck {
			id := m.ID
			if s.ackBase64 {
				id = sgcwire.EncodeValue(id)
			}
			fc.sendRaw(string(sgcwire.AppendAck(nil, id)))
		}
		if s.onFrame != nil && s.onFrame(fc, m, string(data)) {
			continue
		}
		s.handle(fc, m)
	}
	ws.CloseNow()
	s.mu.Lock()
	delete(s.conns, fc)
	s.mu.Unlock()
	s.removeMember(fc, "")
}

// send writes m to the connection, with a fresh id when frameIDs is set.
func (fc *fconn) send(m *sgcwire.Message) {
	m.ID = ""
	if fc.s.frameIDs && m.Method != sgcwire.MethodAcknowledgment {
		m.ID = sgcwire.NewID()
		fc.s.sentIDs <- m.ID
	}
	fc.sendRaw(string(fc.s.enc.Encode(m)))
}

func (fc *fconn) sendRaw(text string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = fc.ws.Write(ctx, websocket.MessageText, []byte(text))
}

func (fc *fconn) fail(code int, text, channel string, m sgcwire.Member) {
	fc.send(&sgcwire.Message{Method: sgcwire.MethodErrorMemberChannel, Error: sgcwire.Error{Code: code, Text: text}, Channel: channel, Member: m})
}

func (fc *fconn) failPublish(code int, text, msg, channel string, m sgcwire.Member) {
	fc.send(&sgcwire.Message{Method: sgcwire.MethodErrorMemberChannel, Error: sgcwire.Error{Code: code, Text: text},
		HasText: true, Text: msg, Channel: channel, Member: m})
}

// toAll sends m to every joined member; toChannel to a channel's members.
func (s *fakeServer) toAll(m sgcwire.Message) {
	for _, fc := range s.members {
		mm := m
		fc.send(&mm)
	}
}

func (s *fakeServer) toChannel(ch string, m sgcwire.Message) {
	for _, id := range s.channels[ch] {
		mm := m
		s.members[id].send(&mm)
	}
}

// broadcast is the server's Broadcast(text, channel): publish@msg with an
// empty member.
func (s *fakeServer) broadcast(text, channel string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := sgcwire.Message{Method: sgcwire.MethodPublishMsg, Text: text, Channel: channel}
	if channel == "" {
		s.toAll(m)
	} else {
		s.toChannel(channel, m)
	}
}

func (s *fakeServer) handle(fc *fconn, m *sgcwire.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch m.Method {
	case sgcwire.MethodNewMember:
		if old, ok := s.members[m.Member.ID]; ok {
			fc.fail(CodeMemberExists, "Member already exists.", "", old.member)
			return
		}
		if s.denyMember {
			fc.fail(CodeMemberDenied, "Create New Member request has been denied.", "", m.Member)
			return
		}
		fc.member, fc.joined = m.Member, true
		s.members[m.Member.ID] = fc
		s.toAll(sgcwire.Message{Method: sgcwire.MethodNewMember, Member: m.Member})

	case sgcwire.MethodRemoveMember:
		s.mu.Unlock()
		s.removeMember(fc, m.Member.ID)
		s.mu.Lock()

	case sgcwire.MethodNewChannelMember:
		mem, ok := s.members[m.Member.ID]
		if !ok {
			fc.fail(CodeMemberNotExists, "Member not exists.", "", sgcwire.Member{})
			return
		}
		ch := m.Channel
		if _, exists := s.channels[ch]; !exists {
			if code := s.denyChannels[ch]; code == CodeChannelDenied {
				fc.fail(code, "Create New Channel request has been denied.", ch, mem.member)
				return
			}
			s.channels[ch] = nil
		}
		if slices.Contains(s.channels[ch], mem.member.ID) {
			fc.fail(CodeSubscriptionExists, "Subscription already exists.", ch, mem.member)
			return
		}
		if code := s.denyChannels[ch]; code == CodeSubscriptionDenied {
			fc.fail(code, "Create Subscription request has been denied.", ch, mem.member)
			return
		}
		s.channels[ch] = append(s.channels[ch], mem.member.ID)
		s.toChannel(ch, sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Member: mem.member, Channel: ch})

	case sgcwire.MethodRemoveChannelMember:
		id := m.Member.ID
		if id == "" {
			id = fc.member.ID
		}
		ids, exists := s.channels[m.Channel]
		if !exists {
			fc.fail(CodeChannelNotExists, "Channel not exists", m.Channel, sgcwire.Member{})
			return
		}
		mem := s.members[id]
		if mem == nil || !slices.Contains(ids, id) {
			var stored sgcwire.Member
			if mem != nil {
				stored = mem.member
			}
			fc.fail(CodeSubscriptionNotExists, "Subscription not exists.", m.Channel, stored)
			return
		}
		s.channels[m.Channel] = slices.DeleteFunc(ids, func(x string) bool { return x == id })
		// sgc quirk: the removal goes to every global member.
		s.toAll(sgcwire.Message{Method: sgcwire.MethodRemoveChannelMember, Member: mem.member, Channel: m.Channel})

	case sgcwire.MethodPublishMsg:
		mem, ok := s.members[m.Member.ID]
		if !ok {
			fc.failPublish(CodeMemberNotExists, "Member not exists.", m.Text, "", sgcwire.Member{})
			return
		}
		if m.Channel == "" {
			s.toAll(sgcwire.Message{Method: sgcwire.MethodPublishMsg, Text: m.Text, Member: m.Member})
			return
		}
		ids, exists := s.channels[m.Channel]
		switch {
		case !exists:
			fc.failPublish(CodeChannelNotExists, "Channel not exists", m.Text, "", mem.member)
		case !slices.Contains(ids, mem.member.ID):
			fc.failPublish(CodeSubscriptionNotExists, "Subscription not exists.", m.Text, m.Channel, mem.member)
		case s.denyChannels[m.Channel] == CodePublishDenied:
			fc.failPublish(CodePublishDenied, "Publish Message request has been denied.", m.Text, m.Channel, mem.member)
		default:
			s.toChannel(m.Channel, sgcwire.Message{Method: sgcwire.MethodPublishMsg, Text: m.Text, Channel: m.Channel, Member: mem.member})
		}

	case sgcwire.MethodGetMembers:
		mem, ok := s.members[m.Member.ID]
		if !ok {
			fc.fail(CodeMemberNotExists, "Member not exists.", "", m.Member)
			return
		}
		var list []sgcwire.Member
		if m.Channel == "" {
			for _, x := range s.members {
				list = append(list, x.member)
			}
		} else {
			ids, exists := s.channels[m.Channel]
			if !exists {
				fc.fail(CodeChannelNotExists, "Channel not exists", m.Channel, mem.member)
				return
			}
			for _, id := range ids {
				list = append(list, s.members[id].member)
			}
		}
		slices.SortFunc(list, func(a, b sgcwire.Member) int { return strings.Compare(a.Name, b.Name) })
		fc.send(&sgcwire.Message{Method: sgcwire.MethodSendMembers, Channel: m.Channel, Member: mem.member, Members: list})

	case sgcwire.MethodChannelInvitation:
		inviter, ok := s.members[m.Member.ID]
		if !ok {
			return
		}
		for _, x := range m.Members {
			if to, ok := s.members[x.ID]; ok {
				s.invites[[3]string{inviter.member.ID, x.ID, m.Channel}] = true
				to.send(&sgcwire.Message{Method: sgcwire.MethodChannelInvitation, Channel: m.Channel, Member: inviter.member, Members: []sgcwire.Member{}})
			}
		}

	case sgcwire.MethodInvitationResponse:
		invitee, ok := s.members[m.Member.ID]
		if !ok || len(m.Members) == 0 {
			return
		}
		key := [3]string{m.Members[0].ID, invitee.member.ID, m.Channel}
		inviter := s.members[key[0]]
		if !s.invites[key] || inviter == nil {
			fc.fail(CodeNoSuchInvitation, "No such invitation.", m.Channel, invitee.member)
			return
		}
		delete(s.invites, key)
		inviter.send(&sgcwire.Message{Method: sgcwire.MethodInvitationResponse, Channel: m.Channel, Member: invitee.member,
			Members: []sgcwire.Member{inviter.member}, Error: m.Error})
	}
}

// removeMember runs §3.8 for the member with id (or the connection's own).
func (s *fakeServer) removeMember(fc *fconn, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id == "" {
		id = fc.member.ID
	}
	mem, ok := s.members[id]
	if !ok {
		return
	}
	for ch, ids := range s.channels {
		if slices.Contains(ids, id) {
			s.channels[ch] = slices.DeleteFunc(ids, func(x string) bool { return x == id })
			s.toChannel(ch, sgcwire.Message{Method: sgcwire.MethodRemoveChannelMember, Member: mem.member, Channel: ch})
		}
	}
	delete(s.members, id)
	s.toAll(sgcwire.Message{Method: sgcwire.MethodRemoveMember, Member: mem.member})
}

// nextConn returns the next accepted connection.
func (s *fakeServer) nextConn(t *testing.T) *fconn {
	t.Helper()
	return testkit.Recv(t, s.accepted, waitFor, "an accepted connection")
}

// waitFrame returns the next received frame that satisfies pred, skipping
// the others.
func (s *fakeServer) waitFrame(t *testing.T, what string, pred func(frame) bool) frame {
	t.Helper()
	timeout := time.After(waitFor)
	for {
		select {
		case f := <-s.recv:
			if f.m != nil && pred(f) {
				return f
			}
		case <-timeout:
			t.Fatalf("server did not receive %s", what)
			return frame{}
		}
	}
}

func method(name string) func(frame) bool {
	return func(f frame) bool { return f.m.Method == name }
}
