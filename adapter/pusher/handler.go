// Package pusher serves the Pusher Channels protocol (version 7) over one
// transport connection per client, and the Pusher HTTP API, into the same
// presence engine as the sgc protocol: pusher-js, Laravel Echo and the
// `pusher` server SDKs work unchanged. The wire codec is protocol/pusherwire;
// this package translates it to engine calls and engine events to frames.
// The server does the upgrade and hands each connection to Handler.Serve
// (adapter.Handler); Handler.Routes adds the HTTP API under /apps/ to the
// server's mux.
package pusher

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rollcall/rollcall/adapter"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/transport"
)

// Defaults of Config fields left zero.
const (
	DefaultCacheTTL       = 30 * time.Minute
	DefaultWebhookQueue   = 10000
	DefaultWebhookBatch   = 50 * time.Millisecond
	DefaultWebhookRetries = 5
)

// Config configures a Handler. Engine and Apps are required.
type Config struct {
	Engine *presence.Engine
	Apps   []App
	// ActivityTimeout is the activity_timeout sent to clients, in seconds:
	// pusher-js pings after this much silence from the server.
	ActivityTimeout int
	// MaxConnections caps the Pusher connections of the whole server
	// (4100, over capacity: pusher-js retries after a back-off); 0 = none.
	MaxConnections int
	// CacheTTL is how long a cache channel keeps its last event.
	CacheTTL time.Duration
	// WebhookQueue is how many events wait per webhook URL; more are
	// dropped (and counted), so a dead endpoint costs bounded memory and
	// never slows delivery. WebhookBatch is how long events gather into
	// one POST; WebhookRetries how often a failed POST is retried, with
	// exponential back-off from 100 ms.
	WebhookQueue   int
	WebhookBatch   time.Duration
	WebhookRetries int
	WebhookClient  *http.Client
	// SubscriptionCountInterval is how often, at most, a channel of more
	// than 100 subscribers hears its subscription_count (apps with
	// App.SubscriptionCount); 0 means DefaultSubscriptionCountInterval.
	SubscriptionCountInterval time.Duration
	// MessagesPerSecond and Burst limit every frame of one connection, as
	// the sgc adapter's: a frame over the rate is dropped and answered,
	// at most once a second, with pusher:error 4301 (the connection stays
	// open). Zero or +Inf means no limit. Client events have their own
	// tighter limit besides (App.ClientEventsPerSecond).
	MessagesPerSecond float64
	Burst             int
	// Poller parks idle connections (nil: a reader goroutine each).
	Poller   *transport.Poller
	Counters *adapter.Counters
	// Host hears when each connection begins and ends (nil: nobody).
	Host   adapter.Host
	Logger *slog.Logger
	// SendsForLeavers reports whether this node sends the webhooks of the
	// channels that a node's death or departure vacated: every surviving
	// node sees the same change, and exactly one must send it (rollcall
	// serve: the live node with the lowest name). Nil: this node is alone,
	// and sends them.
	SendsForLeavers func() bool

	// SgcChannels are path.Match patterns of the channels only Pusher's
	// authorization opens (see Handler.ReservedReason) that authenticated
	// sgc clients may subscribe to, list and publish into, such as
	// "presence-team-*". They need the server's authentication (--auth):
	// server.New refuses them on an open server.
	SgcChannels []string
	// AuthorizeSgc decides for the other sgc connections (an open server's
	// too): nil lets c use the channel; a *presence.Error refuses with its
	// text; any other error refuses with the channel's reason. Nil: no
	// other sgc connection gets in.
	AuthorizeSgc func(ctx context.Context, c *presence.Conn, channel string, a presence.Access) error
}

// Handler serves the Pusher connections and HTTP API of one server.
type Handler struct {
	cfg      Config
	log      *slog.Logger
	engine   *presence.Engine
	counters *adapter.Counters
	apps     []*App
	byKey    map[string]*App
	byID     map[string]*App
	def      *App

	conns    atomic.Int64
	appConns map[*App]*atomic.Int64

	mu       sync.Mutex
	sessions map[string]*session // by socket id
	cache    map[string]cached   // engine channel -> last event
	hooks    map[*App][]*webhookSender
	counts   subCounts  // subscription_count (subcount.go)
	counting bool       // an app counts subscriptions
	watch    watchlists // watchlist events (watchlist.go)
	closed   bool
	stopOnce sync.Once
	stop     chan struct{}
	wg       sync.WaitGroup
}

// userKey names a user of an app.
type userKey struct {
	app *App
	id  string
}

type cached struct {
	name, data string
	at         time.Time
}

// New returns a handler for the apps of cfg; Close stops its webhooks.
func New(cfg Config) (*Handler, error) {
	if err := checkApps(cfg.Apps); err != nil {
		return nil, err
	}
	for _, p := range cfg.SgcChannels {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("pusher: sgc channel pattern %q: %w", p, err)
		}
	}
	if cfg.ActivityTimeout <= 0 {
		cfg.ActivityTimeout = DefaultActivityTimeout
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.WebhookQueue <= 0 {
		cfg.WebhookQueue = DefaultWebhookQueue
	}
	if cfg.WebhookBatch <= 0 {
		cfg.WebhookBatch = DefaultWebhookBatch
	}
	if cfg.WebhookRetries <= 0 {
		cfg.WebhookRetries = DefaultWebhookRetries
	}
	if cfg.WebhookClient == nil {
		cfg.WebhookClient = &http.Client{Timeout: 10 * time.Second}
	}
	h := &Handler{
		cfg:      cfg,
		log:      cfg.Logger,
		engine:   cfg.Engine,
		counters: cfg.Counters,
		byKey:    make(map[string]*App),
		byID:     make(map[string]*App),
		appConns: make(map[*App]*atomic.Int64),
		sessions: make(map[string]*session),
		cache:    make(map[string]cached),
		hooks:    make(map[*App][]*webhookSender),
		stop:     make(chan struct{}),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.counters == nil {
		h.counters = new(adapter.Counters)
	}
	for i := range cfg.Apps {
		a := cfg.Apps[i] // a copy: the handler owns its apps
		a.setDefaults()
		app := &a
		h.apps = append(h.apps, app)
		h.byKey[app.Key], h.byID[app.ID] = app, app
		h.appConns[app] = new(atomic.Int64)
		if app.Default {
			h.def = app
		}
		for _, w := range app.Webhooks {
			ws := newWebhookSender(h, app, w)
			h.hooks[app] = append(h.hooks[app], ws)
			h.wg.Add(1)
			go ws.run()
		}
	}
	if len(h.hooks) > 0 {
		h.engine.OnOccupancy(h.occupancy)
		h.engine.OnMemberLeft(h.memberLeft)
	}
	h.counting = h.countsAny()
	h.engine.OnSubscriptions(h.subscriptions)
	return h, nil
}

// Close stops the webhook senders (events still queued are dropped). The
// connections are the server's to close.
func (h *Handler) Close() {
	h.stopOnce.Do(func() {
		if len(h.hooks) > 0 {
			h.engine.OnOccupancy(nil)
			h.engine.OnMemberLeft(nil)
		}
		h.engine.OnSubscriptions(nil)
		close(h.stop)
	})
	h.stopCounts()
	h.wg.Wait()
}

// WebhookDrops returns how many webhook events were dropped because an
// endpoint's queue was full or it kept failing.
func (h *Handler) WebhookDrops() uint64 {
	var n uint64
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ws := range h.hooks {
		for _, w := range ws {
			n += w.dropped.Load()
		}
	}
	return n
}

// sgcChannels reports whether a pattern of Config.SgcChannels matches
// channel.
func (h *Handler) sgcChannels(channel string) bool {
	for _, p := range h.cfg.SgcChannels {
		if ok, _ := path.Match(p, channel); ok {
			return true
		}
	}
	return false
}

// forget drops an ended session.
func (h *Handler) forget(s *session) {
	h.mu.Lock()
	delete(h.sessions, s.id)
	h.mu.Unlock()
	h.appConns[s.app].Add(-1)
	h.conns.Add(-1)
}

// occupancy fires channel_occupied / channel_vacated when a channel's
// subscriptions over the whole cluster go from none to one and back
// (presence.Engine.OnOccupancy, with the channel's lock held: it only
// queues). Once per cluster: the node whose connection made the change
// sends it, and a change that a node's death or departure made is sent by
// the one node SendsForLeavers names.
func (h *Handler) occupancy(engineName string, occupied bool, from presence.Origin) {
	if from == presence.OriginReplica {
		return
	}
	app, name := h.appChannel(engineName)
	if app == nil {
		return
	}
	ev := pusherwire.WebhookEvent{Name: pusherwire.WebhookChannelVacated, Channel: name}
	if occupied {
		ev.Name = pusherwire.WebhookChannelOccupied
	}
	for _, w := range h.hooks[app] {
		w.push(ev, from == presence.OriginForgotten)
	}
}

// subscriptions hears every change of a channel's subscription count over
// the cluster (presence.Engine.OnSubscriptions, with the channel's lock
// held: what it calls only records and queues). A user channel's count
// says whether the user is online (watchlist.go); another channel's goes
// to the subscription counts of the apps that want them (subcount.go).
func (h *Handler) subscriptions(engineName string, n int, from presence.Origin) {
	if app, id, ok := h.userChannel(engineName); ok {
		h.watchedChanged(app, id, n)
		return
	}
	if h.counting {
		h.countsChanged(engineName, n, from)
	}
}

// memberLeft fires member_removed for the users of a presence channel that
// a node's death or departure took away (presence.Engine.OnMemberLeft):
// the node whose connection left sends its own (session.memberGone), and
// SendsForLeavers names the one node that sends a dead node's.
func (h *Handler) memberLeft(engineName string, m presence.Member, from presence.Origin) {
	if from != presence.OriginForgotten {
		return
	}
	app, name := h.appChannel(engineName)
	if app == nil || pusherwire.ClassifyChannel(name).Kind != pusherwire.Presence {
		return
	}
	for _, w := range h.hooks[app] {
		w.push(pusherwire.WebhookEvent{Name: pusherwire.WebhookMemberRemoved, Channel: name, UserID: m.ID}, true)
	}
}

// appChannel returns the app of an engine channel and the app's name of
// it, or nil for a user channel (#…) and for channels of no app.
func (h *Handler) appChannel(engineName string) (*App, string) {
	for _, app := range h.apps {
		name, ok := app.PusherChannel(engineName)
		if ok && name != "" && name[0] != '#' {
			return app, name
		}
	}
	return nil, ""
}

// cached returns the last event of a cache channel, if it is fresh.
func (h *Handler) cached(engineName string) (cached, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.cache[engineName]
	if ok && time.Since(c.at) > h.cfg.CacheTTL {
		delete(h.cache, engineName)
		return cached{}, false
	}
	return c, ok
}

func (h *Handler) setCached(engineName, name, data string) {
	h.mu.Lock()
	h.cache[engineName] = cached{name: name, data: data, at: time.Now()}
	h.mu.Unlock()
}

// webhook queues one event for the app's webhooks that want it; it never
// blocks.
func (h *Handler) webhook(app *App, ev pusherwire.WebhookEvent) {
	for _, w := range h.hooks[app] {
		w.push(ev, false)
	}
}

var timeSince = time.Since
