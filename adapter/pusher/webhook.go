package pusher

import (
	"bytes"
	"context"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/rollcall/rollcall/protocol/pusherwire"
)

// maxWebhookBatch is the most events one webhook POST carries.
const maxWebhookBatch = 100

// webhookSender delivers one app's events to one webhook URL: a bounded
// queue (full: the event is dropped and counted, never waited for), events
// gathered for WebhookBatch into one signed POST, a failed POST retried
// with exponential back-off.
type webhookSender struct {
	h       *Handler
	app     *App
	hook    Webhook
	q       chan queued
	dropped atomic.Uint64
	warned  atomic.Int64 // unix seconds of the last drop warning
}

// queued is one event waiting in a sender's queue.
type queued struct {
	ev pusherwire.WebhookEvent
	// leavers: a change that a node's death or departure made, sent only
	// if this node sends those (Config.SendsForLeavers). That is decided
	// when the event leaves the queue, on the sender's goroutine: the
	// engine tells of the change with the broker's locks held, and the
	// broker is what knows the live nodes.
	leavers bool
}

func newWebhookSender(h *Handler, app *App, w Webhook) *webhookSender {
	return &webhookSender{h: h, app: app, hook: w, q: make(chan queued, h.cfg.WebhookQueue)}
}

func (w *webhookSender) push(ev pusherwire.WebhookEvent, leavers bool) {
	if !w.hook.wants(ev.Name) {
		return
	}
	select {
	case w.q <- queued{ev, leavers}:
	default:
		w.drop(1, "queue full")
	}
}

// sends reports whether a queued event is this node's to send.
func (w *webhookSender) sends(q queued) bool {
	return !q.leavers || w.h.cfg.SendsForLeavers == nil || w.h.cfg.SendsForLeavers()
}

func (w *webhookSender) drop(n int, why string) {
	w.dropped.Add(uint64(n))
	now := time.Now().Unix()
	if last := w.warned.Load(); now-last >= 60 && w.warned.CompareAndSwap(last, now) {
		w.h.log.Warn("webhook events dropped", "app", w.app.ID, "url", w.hook.URL, "events", n, "why", why, "dropped_total", w.dropped.Load())
	}
}

func (w *webhookSender) run() {
	defer w.h.wg.Done()
	for {
		var first queued
		select {
		case <-w.h.stop:
			return
		case first = <-w.q:
		}
		if !w.sends(first) {
			continue
		}
		batch := []pusherwire.WebhookEvent{first.ev}
		t := time.NewTimer(w.h.cfg.WebhookBatch)
	gather:
		for len(batch) < maxWebhookBatch {
			select {
			case q := <-w.q:
				if w.sends(q) {
					batch = append(batch, q.ev)
				}
			case <-t.C:
				break gather
			case <-w.h.stop:
				t.Stop()
				return
			}
		}
		t.Stop()
		w.deliver(pusherwire.AppendWebhookBody(nil, time.Now().UnixMilli(), batch), len(batch))
	}
}

// deliver POSTs one body, retrying failures (a network error or a status
// other than 2xx) with back-off 100 ms, 200 ms, … up to 10 s.
func (w *webhookSender) deliver(body []byte, n int) {
	sig := pusherwire.SignWebhook(w.app.Secret, body)
	wait := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		ok := w.post(body, sig)
		if ok {
			return
		}
		if attempt >= w.h.cfg.WebhookRetries {
			w.drop(n, "endpoint kept failing")
			return
		}
		select {
		case <-w.h.stop:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

func (w *webhookSender) post(body []byte, sig string) bool {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-w.h.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.hook.URL, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", pusherwire.WebhookContentType)
	req.Header.Set(pusherwire.HeaderWebhookKey, w.app.Key)
	req.Header.Set(pusherwire.HeaderWebhookSignature, sig)
	resp, err := w.h.cfg.WebhookClient.Do(req)
	if err != nil {
		w.h.log.Debug("webhook failed", "url", w.hook.URL, "err", err)
		return false
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		w.h.log.Debug("webhook refused", "url", w.hook.URL, "status", resp.StatusCode)
		return false
	}
	return true
}
