package bench

// roster is a client's view of one channel's members kept from what a
// server that sends diffs tells it: a versioned member list, then diffs,
// each of which applies to the list of its From version or of any later
// one up to its own. It is not safe for concurrent use.
type roster struct {
	members map[uint64]struct{} // the members' keys (key)
	version uint64
	listed  bool       // the list has arrived
	held    []heldDiff // diffs that came before the list
	gaps    int        // diffs that began after the view's version
}

// heldDiff is a diff waiting for the list.
type heldDiff struct {
	from, version uint64
	joined, left  []uint64
}

// newRoster returns an empty view with room for size members.
func newRoster(size int) *roster { return &roster{members: make(map[uint64]struct{}, size)} }

// add puts id in the view: the client's own join, which the server
// confirms as an event whatever the mode.
func (r *roster) add(id string) { r.members[key(id)] = struct{}{} }

// list applies the member list of version, then the diffs held for it.
// Members already in the view stay (the client's own join, confirmed
// before a list that predates it; a later diff names it).
func (r *roster) list(version uint64, keys []uint64) {
	for _, k := range keys {
		r.members[k] = struct{}{}
	}
	r.version, r.listed = version, true
	held := r.held
	r.held = nil
	for _, d := range held {
		r.diff(d.from, d.version, d.joined, d.left)
	}
}

// diff applies the changes from version from to version: before the list
// it is held; one not newer than the view is stale and ignored; one that
// begins after the view's version is applied and counted as a gap.
func (r *roster) diff(from, version uint64, joined, left []uint64) {
	if !r.listed {
		r.held = append(r.held, heldDiff{from, version, joined, left})
		return
	}
	if version <= r.version {
		return
	}
	if from > r.version {
		r.gaps++
	}
	for _, k := range left {
		delete(r.members, k)
	}
	for _, k := range joined {
		r.members[k] = struct{}{}
	}
	r.version = version
}
