package sgc

import (
	"slices"

	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

// The extensions a session accepted, besides diffs, as bits of
// session.exts (one word per connection, not one per extension).
const (
	extUpdates uint32 = 1 << iota
	extCounts
	extResume
)

// accepted reports whether the session accepted the extension ext.
func (sess *session) accepted(ext uint32) bool { return sess.exts.Load()&ext != 0 }

// hello answers a rollcall@hello: it turns on the extensions the session
// asks for and knows, and answers with those it accepted (unknown names
// are left out). Diffs asked for after the join are refused with
// ErrDiffsTooLate (after the answer, which then leaves them out): the
// connection stays per-event. A token in the hello takes over the
// presence of the lost connection it was given to (Engine.Resume); the
// answer then says "resumed", and a refused token is answered with
// ErrResumeRefused after it (the connection joins as a new member).
func (sess *session) hello(m *sgcwire.Message) error {
	var accepted []string
	var err error
	resumed := false
	if m.Token != "" {
		if err = sess.h.cfg.Engine.Resume(sess.ctx, sess.pc, m.Token); err == nil {
			resumed = true
		}
		sess.log.Debug("resume", "resumed", resumed, "err", err)
	}
	for _, name := range m.Extensions {
		if slices.Contains(accepted, name) {
			continue
		}
		switch name {
		case sgcwire.ExtDiffs:
			if e := sess.pc.UseDiffs(); e != nil {
				err = e
				continue
			}
		case sgcwire.ExtUpdates:
			sess.exts.Or(extUpdates)
		case sgcwire.ExtCounts:
			sess.exts.Or(extCounts)
		case sgcwire.ExtResume:
			if sess.h.cfg.Engine.Grace() <= 0 {
				continue // no lost presence waits: no token to give
			}
			sess.exts.Or(extResume)
		default:
			continue
		}
		accepted = append(accepted, name)
	}
	sess.log.Debug("rollcall extensions", "asked", m.Extensions, "accepted", accepted)
	sess.send(sess.h.enc.Encode(&sgcwire.Message{Method: sgcwire.MethodHello, Extensions: accepted, Resumed: resumed}))
	return err
}

// join joins the session's member and, when the session accepted the
// resume extension, gives it the connection's resume token.
func (sess *session) join(m *sgcwire.Message) error {
	if err := sess.h.cfg.Engine.Join(sess.ctx, sess.pc, presence.Member{ID: m.Member.ID, Name: m.Member.Name, Info: []byte(m.Member.Info)}); err != nil {
		return err
	}
	if token := sess.pc.ResumeToken(); token != "" && sess.accepted(extResume) {
		sess.send(sess.h.enc.Encode(&sgcwire.Message{Method: sgcwire.MethodResume, Token: token}))
	}
	return nil
}

// subscribeCounts subscribes the session's member to channel as a
// counts-only subscription (presence.ModeCounts).
func (sess *session) subscribeCounts(channel string) error {
	own, ok := sess.pc.Member()
	if !ok {
		return presence.ErrMemberNotExists
	}
	return sess.h.cfg.Engine.SubscribeWith(sess.ctx, sess.pc, channel, presence.Subscription{Member: &own, Counts: true})
}

// update changes the session's member's name and info.
func (sess *session) update(m *sgcwire.Message) error {
	// The id was checked (CheckMemberID); the engine names the member.
	return sess.h.cfg.Engine.Update(sess.ctx, sess.pc, presence.Member{Name: m.Member.Name, Info: []byte(m.Member.Info)})
}

// pageKey names one page of a handler's rollcall@members frames in the
// Event.Frame cache of presence.Event.List.
type pageKey struct {
	h *Handler
	i int
}

// sendPages sends a KindList as rollcall@members pages of at most
// Config.ListPageSize members, each with the list's version, "more" set on
// all but the last. Every page is encoded once per list and shared by
// every recipient of that list.
func (sess *session) sendPages(ev *presence.Event) {
	l := ev.List
	if l == nil {
		l = ev
	}
	size := sess.h.cfg.ListPageSize
	n := max(1, (len(l.Members)+size-1)/size)
	for i := range n {
		sess.sendJoined(nil, l.Frame(pageKey{sess.h, i}, func(l *presence.Event) []byte {
			ms := l.Members[i*size : min((i+1)*size, len(l.Members))]
			m := sgcwire.Message{Method: sgcwire.MethodList, Channel: l.Channel, Version: l.Version, Members: wireMembers(ms), More: i < n-1}
			return sess.h.enc.Encode(&m)
		}))
	}
}

func wireMembers(ms []presence.Member) []sgcwire.Member {
	if len(ms) == 0 {
		return nil
	}
	out := make([]sgcwire.Member, len(ms))
	for i, m := range ms {
		out[i] = wireMember(m)
	}
	return out
}

// diffMessage fills in a KindDiff's frame.
func diffMessage(m *sgcwire.Message, ev *presence.Event) {
	m.Version = ev.Version
	if d := ev.Diff; d != nil {
		m.From = d.From
		m.Joined = wireMembers(d.Joined)
		m.Left = d.Left
		m.Updated = wireMembers(d.Updated)
	}
}
