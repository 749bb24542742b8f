// Package sgc serves the sgcWebSockets Presence protocol
// (presence.esegece.com) over one transport connection per client: it
// decodes what a client sends into engine calls and encodes what the engine
// delivers into sgc frames, with acknowledgments and the rate limit. The
// server does the upgrade and the authentication and hands each connection
// to Handler.Serve (adapter.Handler).
package sgc

import (
	"bytes"
	"log/slog"
	"sync"
	"time"
	"unsafe"

	"github.com/rollcall/rollcall/adapter"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/transport"
)

// Acknowledgment configures acknowledged delivery (sgc's Acknowledgment
// option). When Enabled, every frame the server sends gets an id; a frame
// not acknowledged within Timeout is re-sent byte-identical with the same
// id, checked every Interval, at most MaxRetries times, to a connection
// that has acknowledged at least once (sent an acknowledgment or a frame
// with an id). A connection that never acknowledges, as sgc's browser
// client, gets each frame once; nor does a connection while frames wait in
// its outbound queue. A connection may have at most MaxPending frames
// (DefaultMaxPending) of MaxPendingBytes in all (DefaultMaxPendingBytes)
// unacknowledged; past either it is closed with 1008.
type Acknowledgment struct {
	Enabled         bool
	Interval        time.Duration
	Timeout         time.Duration
	MaxRetries      int
	MaxPending      int
	MaxPendingBytes int64
}

// Defaults for Config fields left zero.
const (
	DefaultMaxPending           = 4096
	DefaultMaxPendingBytes      = 8 << 20
	DefaultMemberListsPerSecond = 10
	DefaultMaxInvitees          = 100
	DefaultListPageSize         = 1000
)

// memberListBurst is how many member-list requests may come at once: five
// seconds' worth, and at least 50.
func memberListBurst(rate float64) float64 { return max(5*rate, 50) }

// Config configures a Handler. Every field but Engine may be zero.
type Config struct {
	Engine *presence.Engine
	// EncodeBase64 writes every value as sgc@b64:.
	EncodeBase64   bool
	Acknowledgment Acknowledgment
	// MessagesPerSecond and Burst limit the frames of one connection
	// (error 45); a rate of +Inf means no limit.
	MessagesPerSecond float64
	Burst             int
	// MemberListsPerSecond limits a connection's member-list requests
	// (get@members) apart from its other frames, since each answer can be
	// large; a burst of memberListBurst(rate) may come at once (a client
	// listing each of its channels after it subscribed them). Over it the request is
	// answered with error 45. Zero is DefaultMemberListsPerSecond; +Inf
	// means no limit.
	MemberListsPerSecond float64
	// MaxInvitees caps the distinct invitees of one invitation (error 40);
	// each counts against the sender's MessagesPerSecond. Zero is
	// DefaultMaxInvitees.
	MaxInvitees int
	// ListPageSize caps the members of one rollcall@members page (the
	// rollcall extension's member lists). Zero is DefaultListPageSize.
	ListPageSize int
	// Strict closes the connection (1002) on a frame that is not JSON,
	// whose "jsonrpc" is not "2.0" or that has no method, and answers an
	// unknown method with error 41. Otherwise the connection stays open
	// (sgc's browser client sends invalid JSON for any text holding a "):
	// a frame that is not JSON or has the wrong "jsonrpc" is answered with
	// error 40, one without a method or with an unknown method is ignored,
	// as sgc's server ignores them.
	Strict bool
	// Poller parks idle connections (nil: a reader goroutine each).
	Poller   *transport.Poller
	Counters *adapter.Counters
	// Host hears when each connection begins and ends (nil: nobody).
	Host   adapter.Host
	Logger *slog.Logger
}

// Handler serves the sgc connections of one server.
type Handler struct {
	cfg      Config
	log      *slog.Logger
	enc      sgcwire.Encoder
	counters *adapter.Counters

	mu       sync.Mutex
	sessions map[*session]struct{}
	stop     chan struct{}
	done     chan struct{}
}

// envelopeKey names the enveloped variant of a handler's frames in the
// Event.Frame cache.
type envelopeKey struct{ h *Handler }

// New returns a handler; Close stops its background work.
func New(cfg Config) *Handler {
	h := &Handler{
		cfg:      cfg,
		log:      cfg.Logger,
		enc:      sgcwire.Encoder{Base64: cfg.EncodeBase64},
		counters: cfg.Counters,
		sessions: make(map[*session]struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.cfg.MemberListsPerSecond <= 0 {
		h.cfg.MemberListsPerSecond = DefaultMemberListsPerSecond
	}
	if h.cfg.MaxInvitees <= 0 {
		h.cfg.MaxInvitees = DefaultMaxInvitees
	}
	if h.cfg.ListPageSize <= 0 {
		h.cfg.ListPageSize = DefaultListPageSize
	}
	if ack := &h.cfg.Acknowledgment; ack.MaxPending <= 0 {
		ack.MaxPending = DefaultMaxPending
	}
	if ack := &h.cfg.Acknowledgment; ack.MaxPendingBytes <= 0 {
		ack.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if h.counters == nil {
		h.counters = new(adapter.Counters)
	}
	if cfg.Acknowledgment.Enabled {
		go h.resendLoop()
	} else {
		close(h.done)
	}
	return h
}

// Close stops the re-sending of unacknowledged frames. The connections
// are the server's to close.
func (h *Handler) Close() {
	h.mu.Lock()
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	h.mu.Unlock()
	<-h.done
}

// PendingAcks returns how many frames sent to the open connections await
// their acknowledgment.
func (h *Handler) PendingAcks() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for sess := range h.sessions {
		n += sess.acks.Len()
	}
	return n
}

func (h *Handler) forget(sess *session) {
	h.mu.Lock()
	delete(h.sessions, sess)
	h.mu.Unlock()
}

// resendLoop re-sends unacknowledged frames every Acknowledgment.Interval.
func (h *Handler) resendLoop() {
	defer close(h.done)
	t := time.NewTicker(h.cfg.Acknowledgment.Interval)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.mu.Lock()
			live := make([]*session, 0, len(h.sessions))
			for sess := range h.sessions {
				live = append(live, sess)
			}
			h.mu.Unlock()
			for _, sess := range live {
				sess.acks.resend(now)
			}
		}
	}
}

// frame returns the sgc frame of ev, encoded once per handler, in the
// envelope when asked: both variants come from the Event's cache.
func (h *Handler) frame(ev *presence.Event, enveloped bool) []byte {
	plain := ev.Frame(h, h.encodeEvent)
	if !enveloped {
		return plain
	}
	return ev.Frame(envelopeKey{h}, func(*presence.Event) []byte {
		return sgcwire.AppendEnvelope(make([]byte, 0, len(plain)+24), plain)
	})
}

// listKey names the shared part of a handler's member lists in the
// Event.Frame cache of presence.Event.List.
type listKey struct{ h *Handler }

// membersKey is where the "members" key starts in a send@members frame:
// only the key can hold this text, since a value's quotes are escaped.
var membersKey = []byte(`,"members":[`)

// listFrame returns the send@members frame of ev in two parts: a head of
// the requester's own (its channel and member), and the list, encoded once
// per channel state from ev.List and shared; head+tail is the frame Encode
// writes. The head is the caller's to extend.
func (h *Handler) listFrame(ev *presence.Event) (head, tail []byte) {
	tail = ev.List.Frame(listKey{h}, func(l *presence.Event) []byte {
		m := sgcwire.Message{Method: sgcwire.MethodSendMembers, Members: make([]sgcwire.Member, len(l.Members))}
		for i, mm := range l.Members {
			m.Members[i] = wireMember(mm)
		}
		full := h.enc.Encode(&m)
		return full[bytes.Index(full, membersKey):]
	})
	head = h.enc.Encode(&sgcwire.Message{Method: sgcwire.MethodSendMembers, Channel: ev.Channel, Member: wireMember(ev.Member)})
	return head[:len(head)-len(`,"members":[]}`)], tail
}

func (h *Handler) encodeEvent(ev *presence.Event) []byte {
	m := eventMessage(ev)
	return h.enc.Encode(&m)
}

// methods names the sgc method of each kind of engine event.
var methods = map[presence.Kind]string{
	presence.KindNewMember:           sgcwire.MethodNewMember,
	presence.KindRemoveMember:        sgcwire.MethodRemoveMember,
	presence.KindNewChannelMember:    sgcwire.MethodNewChannelMember,
	presence.KindRemoveChannelMember: sgcwire.MethodRemoveChannelMember,
	presence.KindPublish:             sgcwire.MethodPublishMsg,
	presence.KindMembers:             sgcwire.MethodSendMembers,
	presence.KindInvitation:          sgcwire.MethodChannelInvitation,
	presence.KindInvitationResponse:  sgcwire.MethodInvitationResponse,
	presence.KindUpdateMember:        sgcwire.MethodUpdateMember,
	presence.KindUpdateChannelMember: sgcwire.MethodUpdateChannelMember,
	presence.KindDiff:                sgcwire.MethodDiff,
	presence.KindCount:               sgcwire.MethodCount,
}

// eventMessage maps an engine event to its sgc frame.
func eventMessage(ev *presence.Event) sgcwire.Message {
	m := sgcwire.Message{Method: methods[ev.Kind], Member: wireMember(ev.Member), Channel: ev.Channel, Text: view(ev.Data)}
	switch {
	case ev.Kind == presence.KindInvitationResponse && ev.Err != nil:
		m.Error = wireError(ev.Err)
	case ev.Kind == presence.KindDiff:
		diffMessage(&m, ev)
	case ev.Kind == presence.KindCount:
		m.Count = int(ev.Count)
	}
	m.Members = make([]sgcwire.Member, len(ev.Members))
	for i, mm := range ev.Members {
		m.Members[i] = wireMember(mm)
	}
	return m
}

func wireMember(m presence.Member) sgcwire.Member {
	return sgcwire.Member{ID: m.ID, Name: m.Name, Info: view(m.Info)}
}

// view returns b as a string without copying it. The engine's Info and Data
// are read-only once given to it (see presence.Member and presence.Event),
// so the string cannot change under the encoder. A member list of N members
// would otherwise cost N allocations per list: in a 2,000-member join storm
// that was a quarter more server CPU (docs/benchmarks.md, joinstorm).
func view(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
