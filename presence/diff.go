package presence

import "time"

// Mode says how a subscriber hears the member changes of a channel.
type Mode uint8

const (
	// ModeEvents: one event per member that enters, leaves or changes
	// (KindNewChannelMember, …). What sgc and Pusher clients get.
	ModeEvents Mode = iota
	// ModeDiffs: a versioned member list (KindList) when it subscribes,
	// then the changes of each window folded into one KindDiff per
	// channel, encoded once and shared by every recipient. A connection
	// chooses it for all its channels with Conn.UseDiffs.
	ModeDiffs
	// ModeCounts: the channel's member count (KindCount), at most once per
	// Options.CountInterval, instead of member events; chosen per
	// subscription (Subscription.Counts).
	ModeCounts
)

// DefaultDiffWindow is how long the changes that follow a diff are merged
// before the next one goes out (Options.DiffWindow).
const DefaultDiffWindow = 100 * time.Millisecond

// Diff is the change of a channel's members between two versions: the
// members that entered (with their name and info at To), the ids of those
// that left, and the members present at both whose name or info changed.
// A member that entered and left between the two versions is in neither
// list. Applying a diff to the member list of version From gives the list
// of the event's Version; so does applying it to the list of any version
// in between (every member it names is told in its final state).
type Diff struct {
	From    uint64
	Joined  []Member
	Left    []string
	Updated []Member
}

// diffState is the diff of a channel being gathered for its ModeDiffs
// subscribers: it exists while the channel has one. Guarded by the
// channel's mu.
type diffState struct {
	// base is the version of the last diff sent: what a new subscriber's
	// list reflects (see channel.baseList), and the next diff's From.
	// Changes that cancelled out leave it: the members are as they were.
	base    uint64
	touched map[string]*touch
	order   []string // touched ids, in order of first change
	// open is set while a window runs: changes wait for its end. The
	// first change of a quiet channel goes out at once and opens one.
	open  bool
	held  bool // open without a window: a batch is applied (channel.hold)
	timer *time.Timer
	list  *Event // the member list at base, once built, until base moves
}

// touch is one member's state before the window's first change of it
// and after its last (nil: not present).
type touch struct{ before, after *Member }

// UseDiffs makes c hear the member changes of every channel it subscribes
// to, and of the server (with MemberEventsAll), as ModeDiffs: a versioned
// member list when it subscribes (joins), then diffs. Its own joins, leaves
// and updates still reach it as events too, so that it can tell its
// requests were done. It must be called before c joins or subscribes
// (ErrDiffsTooLate).
func (c *Conn) UseDiffs() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.member != nil || len(c.subs) > 0 {
		return ErrDiffsTooLate
	}
	c.mode = ModeDiffs
	return nil
}

// Mode returns how c hears member changes: ModeDiffs after UseDiffs,
// ModeEvents otherwise.
func (c *Conn) Mode() Mode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mode
}

// modeIn returns how c hears ch's member changes; c.mu must be held and c
// subscribed to ch (or ch is Everyone).
func (e *Engine) modeIn(ch *channel, c *Conn) Mode {
	if ch == e.everyone {
		if e.opts.MemberEvents == MemberEventsAll {
			return c.mode
		}
		return ModeEvents
	}
	if i := c.subIndex(ch.name); i >= 0 {
		return c.subs[i].mode
	}
	return ModeEvents
}

// window returns the diff window; a negative Options.DiffWindow sends
// every change at once.
func (e *Engine) window() time.Duration {
	if e.opts.DiffWindow == 0 {
		return DefaultDiffWindow
	}
	return max(e.opts.DiffWindow, 0)
}

// noteDiffSub counts a ModeDiffs subscriber in or out (delta ±1), starting
// or ending the channel's diff. ch.mu must be held.
func (ch *channel) noteDiffSub(delta int) {
	ch.diffSubs += delta
	switch {
	case ch.diffSubs > 0 && ch.diff == nil:
		ch.diff = &diffState{base: ch.version}
	case ch.diffSubs == 0 && ch.diff != nil:
		if ch.diff.timer != nil {
			ch.diff.timer.Stop()
		}
		ch.diff = nil
	}
}

// touch records that member id went from before to after (nil: absent),
// advancing the channel's version. ch.mu must be held.
func (ch *channel) touch(id string, before, after *Member) {
	ch.version++
	d := ch.diff
	if d == nil {
		return
	}
	t := d.touched[id]
	if t == nil {
		if d.touched == nil {
			d.touched = make(map[string]*touch)
		}
		t = &touch{before: before}
		d.touched[id] = t
		d.order = append(d.order, id)
	}
	t.after = after
}

// diffDue returns the diff to send now, if a change waits and no window
// runs, opening one; ok is false when there is nothing to send. ch.mu must
// be held.
func (e *Engine) diffDue(ch *channel) (delivery, bool) {
	d := ch.diff
	if d == nil || d.open || len(d.order) == 0 {
		return delivery{}, false
	}
	dl, ok := ch.takeDiff()
	if w := e.window(); w > 0 {
		d.open = true
		if d.timer == nil {
			d.timer = time.AfterFunc(w, func() { e.windowEnd(ch, d) })
		} else {
			d.timer.Reset(w)
		}
	}
	return dl, ok
}

// windowEnd sends what gathered during d's window, and opens another if
// it sent anything.
func (e *Engine) windowEnd(ch *channel, d *diffState) {
	ch.mu.Lock()
	if ch.dead || ch.diff != d {
		ch.mu.Unlock()
		return
	}
	dl, ok := ch.takeDiff()
	if !ok {
		d.open = false
		ch.mu.Unlock()
		return
	}
	d.timer.Reset(e.window())
	t := ch.out.push(dl)
	ch.mu.Unlock()
	ch.out.flush(t)
}

// takeDiff folds the gathered changes into a KindDiff for the channel's
// ModeDiffs subscribers and starts gathering anew from the current
// version; ok is false when the changes cancelled out. ch.mu must be held.
func (ch *channel) takeDiff() (dl delivery, ok bool) {
	d := ch.diff
	diff := &Diff{From: d.base}
	for _, id := range d.order {
		t := d.touched[id]
		switch {
		case t.before == nil && t.after != nil:
			diff.Joined = append(diff.Joined, *t.after)
		case t.before != nil && t.after == nil:
			diff.Left = append(diff.Left, id)
		case t.before != nil && !t.before.Equal(*t.after):
			diff.Updated = append(diff.Updated, *t.after)
		}
	}
	clear(d.touched)
	d.order = d.order[:0]
	d.list = nil
	if len(diff.Joined)+len(diff.Left)+len(diff.Updated) == 0 {
		// The members are as they were at base: the next diff starts
		// there still, as do the lists given meanwhile.
		return delivery{}, false
	}
	d.base = ch.version
	ev := &Event{Kind: KindDiff, Channel: ch.wireName(), Version: ch.version, Diff: diff}
	return delivery{op: deliverAll, to: toDiffs, ev: ev}, true
}

// baseList returns the member list a new ModeDiffs subscriber starts from:
// the list at the version of the last diff sent, so that the next diff
// applies to it exactly, with that version. It is the current list when
// nothing waits, and is built once per window otherwise (or once after
// changes that cancelled out: the members are the current ones, the
// version the base). ch.mu must be held.
func (ch *channel) baseList() *Event {
	d := ch.diff
	if d == nil || (len(d.order) == 0 && d.base == ch.version) {
		return ch.memberList()
	}
	if d.list != nil {
		return d.list
	}
	ms := make([]Member, 0, len(ch.members))
	for _, p := range ch.members {
		switch t := d.touched[p.member.ID]; {
		case t == nil:
			ms = append(ms, *p.member)
		case t.before != nil:
			ms = append(ms, *t.before)
		}
	}
	for _, id := range d.order {
		if t := d.touched[id]; t.before != nil && t.after == nil {
			ms = append(ms, *t.before)
		}
	}
	d.list = &Event{Kind: KindList, Channel: ch.wireName(), Members: ms, Version: d.base}
	return d.list
}

// listFor returns the KindList event that starts c's diffs of ch. ch.mu
// must be held.
// The list's Version is the recipient's, and List.Version the same.
func (ch *channel) listFor(c *Conn, who Member) delivery {
	l := ch.baseList()
	return delivery{op: deliverOne, conn: c, ev: &Event{Kind: KindList, Channel: l.Channel, Member: who, Members: l.Members, Version: l.Version, List: l}}
}

// wireName is the channel's name as events carry it: "" for Everyone.
func (ch *channel) wireName() string {
	if ch.name == Everyone {
		return ""
	}
	return ch.name
}
