package client

import (
	"slices"
	"strings"
)

// roster is the member map of one channel ("": the server) that a client
// keeps from the rollcall extension's member lists and diffs, and from its
// own confirmations. Guarded by Client.mu.
type roster struct {
	version uint64 // of the list or diff last applied
	members map[string]Member
}

// pages gathers the rollcall@members pages of one list on one connection.
type pages struct {
	version uint64
	members []Member
}

// change is one member change a list or a diff made to a roster.
type change struct {
	kind changeKind
	m    Member
}

type changeKind uint8

const (
	entered changeKind = iota + 1
	left
	updated
)

// applyList makes members (as of version) the roster of channel. The first
// list of a channel changes nothing the application was told of: it fires
// no events. A list for a channel that had a roster (after a reconnect)
// fires events for the differences only.
func (c *Client) applyList(channel string, version uint64, members []Member) func() {
	r := &roster{version: version, members: make(map[string]Member, len(members))}
	for _, m := range members {
		r.members[m.ID] = m
	}
	c.mu.Lock()
	old := c.rosters[channel]
	c.rosters[channel] = r
	c.mu.Unlock()
	if old == nil {
		return nil
	}
	var cs []change
	var gone []Member
	for id, m := range old.members {
		if _, ok := r.members[id]; !ok {
			gone = append(gone, m)
		}
	}
	slices.SortFunc(gone, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	for _, m := range gone {
		cs = append(cs, change{left, m})
	}
	for _, m := range members {
		switch was, ok := old.members[m.ID]; {
		case !ok:
			cs = append(cs, change{entered, m})
		case was != m:
			cs = append(cs, change{updated, m})
		}
	}
	return c.changeEvents(channel, cs)
}

// applyDiff applies a rollcall@diff to the roster of channel and returns
// the events of the changes it really made. A diff for a channel without
// a roster, or not newer than it, is ignored.
func (c *Client) applyDiff(channel string, version uint64, joined []Member, leftIDs []string, upd []Member) func() {
	c.mu.Lock()
	r := c.rosters[channel]
	if r == nil || version <= r.version {
		c.mu.Unlock()
		c.log.Debug("diff ignored", "channel", channel, "version", version)
		return nil
	}
	r.version = version
	var cs []change
	for _, id := range leftIDs {
		if m, ok := r.members[id]; ok {
			delete(r.members, id)
			cs = append(cs, change{left, m})
		}
	}
	for _, list := range [][]Member{joined, upd} {
		for _, m := range list {
			if ch, ok := r.put(m); ok {
				cs = append(cs, ch)
			}
		}
	}
	c.mu.Unlock()
	return c.changeEvents(channel, cs)
}

// put records m, saying how it changed the roster (ok false: not at all).
func (r *roster) put(m Member) (change, bool) {
	was, ok := r.members[m.ID]
	r.members[m.ID] = m
	switch {
	case !ok:
		return change{entered, m}, true
	case was != m:
		return change{updated, m}, true
	}
	return change{}, false
}

// noteEvent keeps the roster of channel (if any) in step with a per-event
// frame (the client's own confirmations, or a server that sends those).
func (c *Client) noteEvent(channel string, kind changeKind, m Member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.rosters[channel]
	if r == nil {
		return
	}
	if kind == left {
		delete(r.members, m.ID)
		return
	}
	r.put(m)
}

// dropRoster forgets the roster of channel.
func (c *Client) dropRoster(channel string) {
	c.mu.Lock()
	delete(c.rosters, channel)
	c.mu.Unlock()
}

// changeEvents returns the events that tell the application of cs, with
// the callbacks it has always had (channel "": the server's).
func (c *Client) changeEvents(channel string, cs []change) func() {
	if len(cs) == 0 {
		return nil
	}
	o := &c.opts
	return func() {
		for _, ch := range cs {
			switch {
			case channel == "" && ch.kind == entered && o.OnNewMember != nil:
				o.OnNewMember(ch.m)
			case channel == "" && ch.kind == left && o.OnRemoveMember != nil:
				o.OnRemoveMember(ch.m)
			case channel == "" && ch.kind == updated && o.OnMemberUpdate != nil:
				o.OnMemberUpdate(ch.m)
			case channel != "" && ch.kind == entered && o.OnNewChannelMember != nil:
				o.OnNewChannelMember(channel, ch.m)
			case channel != "" && ch.kind == left && o.OnRemoveChannelMember != nil:
				o.OnRemoveChannelMember(channel, ch.m)
			case channel != "" && ch.kind == updated && o.OnChannelMemberUpdate != nil:
				o.OnChannelMemberUpdate(channel, ch.m)
			}
		}
	}
}

// ChannelMembers returns the members of channel ("": every member of the
// server) as this client's member map has them, sorted by id, without
// asking the server; nil when the client keeps no map of the channel. The
// client keeps one for each channel it subscribed to while the server
// sends it diffs (see Options.PerEvent and Extensions), and for "" when
// the server also tells it every join (its MemberEvents "all").
func (c *Client) ChannelMembers(channel string) []Member {
	c.mu.Lock()
	r := c.rosters[channel]
	if r == nil {
		c.mu.Unlock()
		return nil
	}
	out := make([]Member, 0, len(r.members))
	for _, m := range r.members {
		out = append(out, m)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b Member) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// Extensions returns the extensions of the rollcall protocol that the
// server accepted on the current connection (sgcwire.ExtDiffs, ExtUpdates,
// ExtCounts), or nil: a server that does not speak them (an sgc server)
// never answers.
func (c *Client) Extensions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.exts)
}

func (c *Client) accepts(ext string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.exts, ext)
}
