package presence_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/rollcall/rollcall/presence"
)

// TestOverTwoNodes runs the engine's presence, publish, member list and
// invitation tests again with their connections spread over two engines
// joined by the fake network (connection i on node i%2): every event must
// arrive exactly where and as it does on one node.
func TestOverTwoNodes(t *testing.T) {
	tests := map[string]func(*testing.T){
		// (Not TestInviteDeliversOneEventToAllInvitees: invitees on two
		// nodes get an event each.)
		"InviteAndRespond": TestInviteAndRespond,
		"InviteRefused":    TestInviteRefused, "RespondInvitationToAnInviterWhoLeft": TestRespondInvitationToAnInviterWhoLeft,
		"JoinDeliversNewMemberToEveryMemberIncludingJoiner": TestJoinDeliversNewMemberToEveryMemberIncludingJoiner,
		"JoinRefused": TestJoinRefused, "JoinWithAppChosenID": TestJoinWithAppChosenID, "MemberEventsSelf": TestMemberEventsSelf,
		"Leave": TestLeave, "LeaveFreesEmptiedChannels": TestLeaveFreesEmptiedChannels, "LeaveRefused": TestLeaveRefused,
		"RejoinAfterLeave": TestRejoinAfterLeave, "Disconnect": TestDisconnect, "CallsAfterDisconnect": TestCallsAfterDisconnect,
		"SendMembers": TestSendMembers, "SendMembersRefused": TestSendMembersRefused,
		"MembersChannelsMemberCount": TestMembersChannelsMemberCount, "SendMembersListIsASnapshot": TestSendMembersListIsASnapshot,
		"PublishToChannel": TestPublishToChannel, "PublishToEveryone": TestPublishToEveryone, "PublishRefused": TestPublishRefused,
		"Broadcast": TestBroadcast,
		"SubscribeCreatesChannelAndTellsItsMembers":       TestSubscribeCreatesChannelAndTellsItsMembers,
		"SubscribeRefused":                                TestSubscribeRefused,
		"SubscribeLimitsAtTheBoundary":                    TestSubscribeLimitsAtTheBoundary,
		"UnsubscribeTellsEveryMemberAndFreesEmptyChannel": TestUnsubscribeTellsEveryMemberAndFreesEmptyChannel,
		"UnsubscribeKeepEmptyChannels":                    TestUnsubscribeKeepEmptyChannels,
		"UnsubscribeRefused":                              TestUnsubscribeRefused,
		"MembersAcrossTheIndexThreshold":                  TestMembersAcrossTheIndexThreshold,
	}
	harnessNodes = 2
	defer func() { harnessNodes = 1 }()
	for _, name := range slices.Sorted(mapKeys(tests)) {
		t.Run(name, tests[name])
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// twoNodes returns a harness of two nodes, and a client on each.
func twoNodes(t *testing.T, opts presence.Options) (*harness, *client, *client) {
	t.Helper()
	harnessNodes = 2
	defer func() { harnessNodes = 1 }()
	h := newHarness(t, opts)
	a, b := h.connect("alice"), h.connect("bob") // nodes b and a
	return h, a, b
}

// Each node derives the same channel and member lists from the entries.
func TestNodesAgree(t *testing.T) {
	h, a, b := twoNodes(t, presence.Options{})
	ctx := t.Context()
	for _, c := range []*client{a, b} {
		wantErr(t, h.e.Join(ctx, c.Conn, c.m), nil)
		wantErr(t, h.e.Subscribe(ctx, c.Conn, "room"), nil)
	}
	for i, e := range h.e.nodes {
		all, _ := e.Members("")
		room, _ := e.Members("room")
		if !equalMembers(all, members(a, b)) || !equalMembers(room, members(a, b)) {
			t.Errorf("node %d: members %v, room %v", i, all, room)
		}
		if chs := e.Channels(); len(chs) != 1 || chs[0] != (presence.ChannelInfo{Name: "room", Members: 2}) {
			t.Errorf("node %d: channels %+v", i, chs)
		}
	}
	// A member id is present once in the cluster.
	twin := h.e.ConnectOn(1, sessionID(99), &recorder{})
	wantErr(t, h.e.Join(ctx, twin, presence.Member{ID: sessionID(99)}), nil)
	h.drain()
	// A channel that lives on the other node is no unknown channel here.
	lone := h.connect("carol")
	wantErr(t, h.e.Join(ctx, lone.Conn, lone.m), nil)
	h.drain()
	wantErr(t, h.e.Unsubscribe(ctx, lone.Conn, "room"), presence.ErrSubscriptionNotExist)
	wantErr(t, h.e.Publish(ctx, lone.Conn, "room", "x"), presence.ErrSubscriptionNotExist)
	h.expectNothing()
}

// The members limit counts the members of every node.
func TestChannelFullAcrossNodes(t *testing.T) {
	h, a, b := twoNodes(t, presence.Options{MaxMembersPerChannel: 1})
	ctx := t.Context()
	for _, c := range []*client{a, b} {
		wantErr(t, h.e.Join(ctx, c.Conn, c.m), nil)
	}
	wantErr(t, h.e.Subscribe(ctx, a.Conn, "room"), nil)
	wantErr(t, h.e.Subscribe(ctx, b.Conn, "room"), presence.ErrChannelFull)
}

// A member present through connections on both nodes enters a channel once
// and leaves it once, with its last entry.
func TestMemberOnTwoNodes(t *testing.T) {
	h, a, b := twoNodes(t, presence.Options{})
	ctx := t.Context()
	watcher := h.connect("watcher")
	wantErr(t, h.e.Join(ctx, watcher.Conn, watcher.m), nil)
	wantErr(t, h.e.Subscribe(ctx, watcher.Conn, "room"), nil)
	h.drain()
	dana := presence.Member{ID: "u-dana", Name: "Dana"}
	for _, c := range []*client{a, b} {
		wantErr(t, h.e.of(c.Conn).SubscribeWith(ctx, c.Conn, "room", presence.Subscription{Member: &dana}), nil)
		h.e.settle()
	}
	h.expect(watcher, subscribed("room", dana))
	if got, _ := h.e.nodes[1].Members("room"); len(got) != 2 {
		t.Errorf("room on node b: %v, want watcher and dana once", got)
	}
	h.e.Disconnect(a.Conn)
	h.expect(watcher)
	h.e.Disconnect(b.Conn)
	h.expect(watcher, unsubscribed("room", dana))
}

// Forget turns a node's entries into leaves on the others; Sync repairs a
// replica that missed a change.
func TestForgetAndSync(t *testing.T) {
	h, a, b := twoNodes(t, presence.Options{})
	ctx := t.Context()
	// a is on node b, b on node a.
	for _, c := range []*client{a, b} {
		wantErr(t, h.e.Join(ctx, c.Conn, c.m), nil)
		wantErr(t, h.e.Subscribe(ctx, c.Conn, "room"), nil)
	}
	h.drain()
	nodeA, nodeB := h.e.nodes[0], h.e.nodes[1]

	// A change lost on the way: node b never hears that carol joined.
	carol := h.connectOn(0, "carol")
	h.e.net.mu.Lock()
	h.e.net.dropNext = true
	h.e.net.mu.Unlock()
	wantErr(t, h.e.Join(ctx, carol.Conn, carol.m), nil)
	h.expect(a)
	h.drain()
	if all, _ := nodeB.Members(""); len(all) != 2 {
		t.Fatalf("node b lists %v before the repair", all)
	}
	nodeB.Receiver().Sync("a", nodeA.Receiver().Entries())
	h.expect(a, joined(carol.m))
	if all, _ := nodeB.Members(""); !equalMembers(all, members(a, b, carol)) {
		t.Errorf("node b lists %v after the repair", all)
	}
	// A second snapshot with nothing new tells nobody anything.
	nodeB.Receiver().Sync("a", nodeA.Receiver().Entries())
	h.expect(a)

	// Node a dies: node b's client hears the leaves of b and carol, once
	// each: channels first, as a member leaves, then the server.
	nodeB.Receiver().Forget("a")
	got := plainAll(a.rec.take())
	if len(got) != 3 || !reflect.DeepEqual(got[0], unsubscribed("room", b.m)) ||
		!reflect.DeepEqual(got[1:], []ev{left(b.m), left(carol.m)}) && !reflect.DeepEqual(got[1:], []ev{left(carol.m), left(b.m)}) {
		t.Errorf("after Forget, a received:\n%s\nwant the room leave of bob, then the leaves of bob and carol", evList(got))
	}
	if all, _ := nodeB.Members(""); !equalMembers(all, members(a)) {
		t.Errorf("node b lists %v after Forget", all)
	}
	nodeB.Receiver().Forget("a")
	h.expect(a)
}

func equalMembers(got, want []presence.Member) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, w.Equal) {
			return false
		}
	}
	return true
}

// Group broadcasts reach the groups of every node: by pattern, and by name.
func TestGroupBroadcastAcrossNodes(t *testing.T) {
	h, a, b := twoNodes(t, presence.Options{}) // a on node b, b on node a
	nodeA, nodeB := h.e.nodes[0], h.e.nodes[1]
	if err := nodeB.Groups().Add("sales/eu", a.Conn); err != nil {
		t.Fatal(err)
	}
	if err := nodeA.Groups().Add("sales/us", b.Conn); err != nil {
		t.Fatal(err)
	}
	c := h.connectOn(0, "carol")
	if err := nodeA.Groups().Add("sales/eu", c.Conn); err != nil {
		t.Fatal(err)
	}
	h.drain()

	n, err := nodeA.Groups().Broadcast("sales/*", "deal")
	h.e.settle()
	if err != nil || n != 2 {
		t.Fatalf("Broadcast(sales/*) on node a = %d, %v; want its 2 connections", n, err)
	}
	h.expect(a, groupMsg("sales/eu", "deal"))
	h.expect(b, groupMsg("sales/us", "deal"))
	h.expect(c, groupMsg("sales/eu", "deal"))

	// A group by name: this node's and the other's of that name.
	if err := nodeA.Groups().Group("sales/eu").Broadcast("eu only"); err != nil {
		t.Fatal(err)
	}
	h.e.settle()
	h.expect(a, groupMsg("sales/eu", "eu only"))
	h.expect(c, groupMsg("sales/eu", "eu only"))
	h.expect(b)

	// A plain name that lives only on the other node.
	if n, err := nodeB.Groups().Broadcast("sales/us", "us"); err != nil || n != 0 {
		t.Fatalf("Broadcast(sales/us) on node b = %d, %v; want 0 here", n, err)
	}
	h.e.settle()
	h.expect(b, groupMsg("sales/us", "us"))
	h.expectNothing(a, c)
}

// A broadcast to a group by name reaches the group of that very name on the
// other nodes, also a name with characters special to patterns, and no
// group that the name would match as a pattern.
func TestGroupBroadcastByNameAcrossNodes(t *testing.T) {
	h, exact, b := twoNodes(t, presence.Options{}) // exact on node b, b on node a
	nodeA, nodeB := h.e.nodes[0], h.e.nodes[1]
	decoy := h.connectOn(1, "decoy")
	for name, asPattern := range map[string]string{`x*`: "xx", `x?`: "xa", `[x]`: "x", `x\y`: "xy", `x/*`: "x/y"} {
		for _, add := range []struct {
			e     *presence.Engine
			group string
			c     *client
		}{{nodeA, name, b}, {nodeB, name, exact}, {nodeB, asPattern, decoy}} {
			if err := add.e.Groups().Add(add.group, add.c.Conn); err != nil {
				t.Fatal(err)
			}
		}
		h.drain()
		if err := nodeA.Groups().Group(name).Broadcast("to " + name); err != nil {
			t.Fatal(err)
		}
		h.e.settle()
		h.expect(b, groupMsg(name, "to "+name))
		h.expect(exact, groupMsg(name, "to "+name))
		h.expect(decoy)
	}
}

// Terminate reaches the subscribers of a channel on every node, and
// nobody else.
func TestTerminateAcrossNodes(t *testing.T) {
	cl := newCluster(2, presence.Options{})
	t.Cleanup(cl.close)
	nodeA, nodeB := cl.nodes[0], cl.nodes[1]
	ctx := t.Context()
	here, there, other := &recorder{}, &recorder{}, &recorder{}
	wantErr(t, nodeA.SubscribeWith(ctx, cl.ConnectOn(0, sessionID(1), here), "#user-ann", presence.Subscription{}), nil)
	wantErr(t, nodeB.SubscribeWith(ctx, cl.ConnectOn(1, sessionID(2), there), "#user-ann", presence.Subscription{}), nil)
	wantErr(t, nodeB.SubscribeWith(ctx, cl.ConnectOn(1, sessionID(3), other), "#user-bob", presence.Subscription{}), nil)
	cl.settle()
	wantErr(t, nodeA.Terminate("#user-ann"), nil)
	cl.settle()
	for name, r := range map[string]*recorder{"node a": here, "node b": there} {
		got := r.take()
		if len(got) != 1 || got[0].Kind != presence.KindTerminate || got[0].Channel != "#user-ann" {
			t.Errorf("%s's subscriber received %+v, want one KindTerminate", name, got)
		}
	}
	if got := other.take(); len(got) != 0 {
		t.Errorf("another channel's subscriber received %+v", got)
	}
	wantErr(t, nodeA.Terminate("#user-nobody"), presence.ErrChannelNotExists)
}
