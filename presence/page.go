package presence

import "sort"

// Page is one page of a channel's members, in order of arrival.
type Page struct {
	Members []Member
	// Total is how many members the channel has now, over every node.
	Total int
	// Version is the channel's version the page was read at.
	Version uint64
	// Next is the cursor of the next page; zero when this page is the
	// last.
	Next uint64
}

// MembersPage returns at most limit members of a channel ("": every member
// of the server), starting at cursor (zero: the first page; then a Page's
// Next). Members keep their place while present, so paging through a
// channel that changes meanwhile returns every member present from the
// first page to the last exactly once; a member that enters meanwhile may
// or may not be on a page, and one that leaves is on none after it left.
// A limit of zero or less means no limit. No hook runs.
func (e *Engine) MembersPage(channel string, cursor uint64, limit int) (Page, error) {
	ch := e.rlock(scope(channel))
	if ch == nil {
		return Page{}, ErrChannelNotExists
	}
	defer ch.mu.RUnlock()
	i := sort.Search(len(ch.members), func(i int) bool { return ch.members[i].seq >= cursor })
	j := len(ch.members)
	if limit > 0 {
		j = min(j, i+limit)
	}
	p := Page{Members: make([]Member, 0, j-i), Total: len(ch.members), Version: ch.version}
	for _, m := range ch.members[i:j] {
		p.Members = append(p.Members, *m.member)
	}
	if j < len(ch.members) {
		p.Next = ch.members[j].seq
	}
	return p, nil
}

// MemberCountOf returns how many members a channel has over every node
// ("": the server), without copying them.
func (e *Engine) MemberCountOf(channel string) (int, error) {
	ch := e.rlock(scope(channel))
	if ch == nil {
		return 0, ErrChannelNotExists
	}
	defer ch.mu.RUnlock()
	return len(ch.members), nil
}
