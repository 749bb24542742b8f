package presence

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxGhosts is Options.MaxGhosts when zero.
const DefaultMaxGhosts = 10_000

// ResumeLinger is how long a ghost's entries stay once another connection
// took it over (Resume, or a join of the same identity): long enough for
// the new connection to subscribe again to its channels, which then see
// nothing; a channel it does not come back to hears the leave after it.
const ResumeLinger = 2 * time.Second

// claimTimeout bounds the wait for another node's answer to a takeover.
const claimTimeout = 2 * time.Second

// ghost is a connection lost without a leave under Options.Grace: its
// presence entries stay, nobody is told, until the grace passes or
// another connection takes it over.
type ghost struct {
	c        *Conn
	timer    *time.Timer
	claimed  bool
	expiring bool // its entries are going: too late to take it over
}

// graceState is the engine's ghosts and the takeovers it waits for.
type graceState struct {
	mu      sync.Mutex
	ghosts  map[string]*ghost      // by session id
	waiting map[string]chan *Event // takeovers asked of another node, by the asker's session id
	gone    chan struct{}          // closed when the last ghost goes (Drain)
	refused atomic.Uint64          // lost connections that left at once, over MaxGhosts
}

// resumeToken is a connection's takeover secret, given to it at its join.
type resumeToken struct {
	token string   // what the client gets
	hash  [32]byte // sha256 of the secret part
}

func newResumeToken(node, conn string) *resumeToken {
	var secret [16]byte
	_, _ = rand.Read(secret[:])
	s := base64.RawURLEncoding.EncodeToString(secret[:])
	return &resumeToken{token: s + "." + conn + "." + node, hash: sha256.Sum256([]byte(s))}
}

// parseToken splits a resume token into its secret, session and node.
func parseToken(t string) (secret, conn, node string, ok bool) {
	parts := strings.SplitN(t, ".", 3)
	if len(parts) != 3 || len(parts[0]) != 22 || len(parts[1]) == 0 || len(parts[1]) > 64 || len(t) > 256 {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// Grace returns how long a lost connection keeps its presence
// (Options.Grace); 0 means it leaves at once.
func (e *Engine) Grace() time.Duration { return e.opts.Grace }

// ResumeToken returns the secret by which another connection, on this
// node or another, may take over c's presence after c is lost (Resume),
// once, within Options.Grace; "" without a grace or before c joined. Give
// it to c's client alone.
func (c *Conn) ResumeToken() string {
	c.view.RLock()
	defer c.view.RUnlock()
	if c.takeover == nil || c.takeover.token == nil {
		return ""
	}
	return c.takeover.token.token
}

// Lost ends a connection lost without a leave. Without Options.Grace it is
// Disconnect. With one, c leaves its groups and stops hearing anything,
// but its member stays present in the server and in its channels, and
// nobody is told, until the grace passes (then it leaves as on a
// Disconnect) or another connection takes it over: one that presents its
// resume token (Resume), or joins as the same authenticated identity.
func (e *Engine) Lost(c *Conn) {
	if e.opts.Grace <= 0 {
		e.Disconnect(c)
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.member == nil && !slices.ContainsFunc(c.subs, func(s subscription) bool { return s.member != nil }) {
		c.mu.Unlock()
		e.Disconnect(c) // no presence to keep
		return
	}
	e.grace.mu.Lock()
	full := len(e.grace.ghosts) >= e.opts.MaxGhosts
	e.grace.mu.Unlock()
	if full {
		c.mu.Unlock()
		e.grace.refused.Add(1)
		e.log.Debug("lost connection leaves: too many kept already", "session", c.id, "max", e.opts.MaxGhosts)
		e.Disconnect(c)
		return
	}
	c.closed = true
	e.groups.disconnect(c)
	c.dropInvitations()
	for _, s := range c.subs {
		e.detach(s.channel, c)
	}
	if c.member != nil {
		e.detach(Everyone, c)
	}
	g := &ghost{c: c}
	e.grace.mu.Lock()
	if e.grace.ghosts == nil {
		e.grace.ghosts = make(map[string]*ghost)
	}
	e.grace.ghosts[c.id] = g
	g.timer = time.AfterFunc(e.opts.Grace, func() { e.expire(g) })
	e.grace.mu.Unlock()
	c.mu.Unlock()
}

// detach takes c out of channel's subscribers, leaving its entry: it stays
// one of the channel's subscriptions (Subscriptions) while it is a ghost.
// c.mu must be held.
func (e *Engine) detach(channel string, c *Conn) {
	ch, _ := e.lock(channel, false)
	if ch == nil {
		return
	}
	switch e.modeIn(ch, c) {
	case ModeDiffs:
		ch.noteDiffSub(-1)
	case ModeCounts:
		ch.noteCountSub(-1)
	}
	e.commit(ch, outcome{ds: []delivery{{op: removeSub, conn: c}}})
}

// expire ends ghost g: its entries go, telling whoever they concern, as
// on a Disconnect (the events included).
func (e *Engine) expire(g *ghost) {
	e.grace.mu.Lock()
	if g.expiring {
		e.grace.mu.Unlock()
		return
	}
	g.expiring = true
	e.grace.mu.Unlock()
	c := g.c
	c.mu.Lock()
	for len(c.subs) > 0 {
		s := c.subs[0]
		c.dropSub(s.channel)
		freed := e.dropGhostEntry(c, s.channel, s.member)
		if f := e.opts.Events.OnRemoveChannelMember; f != nil && s.member != nil {
			f(c, s.channel, *s.member)
		}
		if f := e.opts.Events.OnRemoveChannel; freed && f != nil {
			f(s.channel)
		}
	}
	if m := c.member; m != nil {
		c.setMember(nil)
		e.dropGhostEntry(c, Everyone, m)
		if f := e.opts.Events.OnRemoveMember; f != nil {
			f(c, *m)
		}
	}
	c.mu.Unlock()
	e.connMu.Lock()
	if e.conns[c.id] == c {
		delete(e.conns, c.id)
	}
	e.connMu.Unlock()
	e.grace.mu.Lock()
	delete(e.grace.ghosts, c.id)
	if len(e.grace.ghosts) == 0 && e.grace.gone != nil {
		close(e.grace.gone)
		e.grace.gone = nil
	}
	e.grace.mu.Unlock()
}

// dropGhostEntry removes a ghost's entry of channel (its subscription
// counted until now) and tells whoever hears of it, reporting whether the
// channel was freed. c.mu must be held.
func (e *Engine) dropGhostEntry(c *Conn, channel string, m *Member) bool {
	ch, _ := e.lock(channel, false)
	if ch == nil {
		return false
	}
	ch.localSubs--
	if ch.localSubs == 0 && ch != e.everyone {
		e.broker.Unsubscribe(ch.name)
	}
	return e.commit(ch, e.change(ch, "", OpRemove, c.id, m, nil, OriginLocal))
}

// GhostsRefused returns how many lost connections left at once because
// Options.MaxGhosts were kept already.
func (e *Engine) GhostsRefused() uint64 { return e.grace.refused.Load() }

// Ghosts returns how many lost connections keep their presence now.
func (e *Engine) Ghosts() int {
	e.grace.mu.Lock()
	defer e.grace.mu.Unlock()
	return len(e.grace.ghosts)
}

// Drain returns once no lost connection keeps its presence (each was taken
// over or its grace passed), or when ctx is done. A node that stops under
// a grace drains before it leaves the cluster, so that its clients can
// move to other nodes without anyone seeing them leave.
func (e *Engine) Drain(ctx context.Context) error {
	for {
		e.grace.mu.Lock()
		if len(e.grace.ghosts) == 0 {
			e.grace.mu.Unlock()
			return nil
		}
		if e.grace.gone == nil {
			e.grace.gone = make(chan struct{})
		}
		gone := e.grace.gone
		e.grace.mu.Unlock()
		select {
		case <-gone:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Resume takes over the presence of the lost connection whose resume
// token c presents, on this node or another, before c joins: c's Join then
// joins as that member, which nobody sees join (it never left), and each
// channel c subscribes to again sees nothing either. The lost connection's
// entries go ResumeLinger later; a channel c did not come back to hears
// the leave then. A token is good once, within the grace: a token that is
// malformed, unknown, used or past its grace gets ErrResumeRefused, and c
// joins as a new member.
func (e *Engine) Resume(ctx context.Context, c *Conn, token string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.member != nil || c.resumed() != nil {
		return ErrResumeRefused
	}
	secret, conn, node, ok := parseToken(token)
	if !ok {
		return ErrResumeRefused
	}
	m, err := e.claim(ctx, c, node, conn, secret, "")
	if err != nil {
		return err
	}
	c.takeoverState().resumed = &m
	return nil
}

// claimByIdentity takes over, for c about to join as its identity's id,
// a lost connection of the same identity that holds that id, on this node
// or another; it reports whether it did. c.mu must be held.
func (e *Engine) claimByIdentity(ctx context.Context, c *Conn, id string) bool {
	node, conn := "", ""
	e.grace.mu.Lock()
	for _, g := range e.grace.ghosts {
		if m, ok := g.c.Member(); ok && m.ID == id {
			node, conn = e.opts.Node, g.c.id
		}
	}
	e.grace.mu.Unlock()
	if conn == "" {
		e.nodeMu.Lock()
		for n, entries := range e.nodes {
			for k, m := range entries {
				if k.channel == Everyone && m.ID == id {
					node, conn = n, k.conn
				}
			}
		}
		e.nodeMu.Unlock()
	}
	if conn == "" {
		return false
	}
	m, err := e.claim(ctx, c, node, conn, "", c.ident.ID)
	if err != nil {
		return false
	}
	c.takeoverState().resumed = &m
	return true
}

// claim asks the node of ghost conn (this one or another) to give it up
// to c, proving it by the token's secret or by c's identity; it returns
// the ghost's member.
func (e *Engine) claim(ctx context.Context, c *Conn, node, conn, secret, identity string) (Member, error) {
	if node == e.opts.Node {
		return e.claimLocal(conn, secret, identity)
	}
	answer := make(chan *Event, 1)
	e.grace.mu.Lock()
	if e.grace.waiting == nil {
		e.grace.waiting = make(map[string]chan *Event)
	}
	e.grace.waiting[c.id] = answer
	e.grace.mu.Unlock()
	defer func() {
		e.grace.mu.Lock()
		delete(e.grace.waiting, c.id)
		e.grace.mu.Unlock()
	}()
	e.broker.SendTo(node, conn, &Event{Kind: KindClaim, Channel: e.opts.Node, Name: c.id, Data: []byte(secret), Member: Member{ID: identity}})
	t := time.NewTimer(claimTimeout)
	defer t.Stop()
	select {
	case ev := <-answer:
		if ev.Err != nil {
			return Member{}, ErrResumeRefused
		}
		return ev.Member, nil
	case <-t.C:
		return Member{}, ErrResumeRefused
	case <-ctx.Done():
		return Member{}, ctx.Err()
	}
}

// claimLocal gives up ghost conn of this node, if the secret (or the
// identity) is its own and nobody took it over yet.
func (e *Engine) claimLocal(conn, secret, identity string) (Member, error) {
	e.grace.mu.Lock()
	defer e.grace.mu.Unlock()
	g := e.grace.ghosts[conn]
	if g == nil || g.claimed || g.expiring {
		return Member{}, ErrResumeRefused
	}
	c := g.c
	c.view.RLock()
	defer c.view.RUnlock()
	switch {
	case c.member == nil:
		return Member{}, ErrResumeRefused
	case secret != "":
		h := sha256.Sum256([]byte(secret))
		if c.takeover == nil || c.takeover.token == nil || subtle.ConstantTimeCompare(h[:], c.takeover.token.hash[:]) != 1 {
			return Member{}, ErrResumeRefused
		}
	case c.ident == nil || c.ident.ID != identity:
		return Member{}, ErrResumeRefused
	}
	g.claimed = true
	g.timer.Reset(ResumeLinger)
	return *c.member, nil
}

// answerClaim answers another node's takeover of ghost conn (KindClaim).
func (e *Engine) answerClaim(conn string, ev *Event) {
	m, err := e.claimLocal(conn, string(ev.Data), ev.Member.ID)
	answer := &Event{Kind: KindClaimAnswer, Member: m}
	if err != nil {
		answer.Err = &Error{Reason: ErrResumeRefused}
	}
	e.broker.SendTo(ev.Channel, ev.Name, answer)
}

// claimAnswered hands another node's answer to the takeover c waits for.
func (e *Engine) claimAnswered(conn string, ev *Event) {
	e.grace.mu.Lock()
	answer := e.grace.waiting[conn]
	e.grace.mu.Unlock()
	if answer != nil {
		select {
		case answer <- ev:
		default:
		}
	}
}
