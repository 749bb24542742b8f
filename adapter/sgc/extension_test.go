package sgc_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gobwas/ws"

	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/server"
)

// raw is a client that writes frames by hand and reads exactly what the
// server writes.
type raw struct {
	t *testing.T
	c *testkit.WS
}

func dialRaw(t *testing.T, url string) *raw {
	r := &raw{t, testkit.DialWS(t, url, http.Header{}, sgcwire.Subprotocol)}
	if f := r.next(); !strings.Contains(f, sgcwire.MethodSession) {
		t.Fatalf("first frame %s", f)
	}
	return r
}

func (r *raw) send(frame string) {
	r.t.Helper()
	if err := r.c.WriteFrame(ws.NewTextFrame([]byte(frame))); err != nil {
		r.t.Fatal(err)
	}
}

func (r *raw) next() string {
	r.t.Helper()
	p, err := r.c.Next(testkit.Timeout)
	if err != nil {
		r.t.Fatalf("reading: %v", err)
	}
	return string(p)
}

// until reads frames up to the first that contains s, and returns them all.
func (r *raw) until(s string) []string {
	r.t.Helper()
	var out []string
	for {
		f := r.next()
		out = append(out, f)
		if strings.Contains(f, s) {
			return out
		}
	}
}

func start(t *testing.T) string {
	srv, err := server.New(server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return testkit.WSURL(testkit.Serve(t, srv), "")
}

const (
	join     = `{"jsonrpc":"2.0","method":"sgc@presence@member@new","member":{"id":"%s","name":"%s","info":""}}`
	hello    = `{"jsonrpc":"2.0","method":"rollcall@hello","extensions":[%s]}`
	sub      = `{"jsonrpc":"2.0","method":"sgc@presence@channel@member@new","member":{"id":"","name":"","info":""},"channel":{"name":"%s"}}`
	unsub    = `{"jsonrpc":"2.0","method":"sgc@presence@channel@member@remove","member":{"id":"","name":"","info":""},"channel":{"name":"%s"}}`
	publish  = `{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"%s"},"channel":{"name":"%s"},"member":{"id":"","name":"","info":""}}`
	update   = `{"jsonrpc":"2.0","method":"rollcall@member@update","member":{"id":"","name":"%s","info":"%s"}}`
	leave    = `{"jsonrpc":"2.0","method":"sgc@presence@member@remove","member":{"id":"","name":"","info":""}}`
	getMembs = `{"jsonrpc":"2.0","method":"sgc@presence@get@members","channel":{"name":"%s"},"member":{"id":"","name":"","info":""}}`
)

// fill puts args in the %s of format in turn (the frames hold no other %).
func fill(format string, args ...string) string {
	for _, a := range args {
		format = strings.Replace(format, "%s", a, 1)
	}
	return format
}

// TestThirdPartyFramesUnchanged: an sgc client that never says hello gets
// byte for byte the frames it got before the extension, whether the other
// member asked for the extension (diffs, updates, counts) or not: no
// rollcall@ frame, no new key. The other member's update shows only as
// its new name and info in the frames after it.
func TestThirdPartyFramesUnchanged(t *testing.T) {
	want := []string{
		`{"jsonrpc":"2.0","method":"sgc@presence@member@new","member":{"id":"obs","name":"olga","info":""}}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@channel@member@new","member":{"id":"obs","name":"olga","info":""},"channel":{"name":"room"}}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@member@new","member":{"id":"p1","name":"pat","info":""}}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@channel@member@new","member":{"id":"p1","name":"pat","info":""},"channel":{"name":"room"}}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"hi"},"channel":{"name":"room"},"member":{"id":"p1","name":"pat","info":""}}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@publish@msg","message":{"text":"after"},"channel":{"name":"room"},"member":{"id":"p1","name":"pia","info":"away"}}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@channel@member@remove","member":{"id":"p1","name":"pia","info":"away"},"channel":{"name":"room"}}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@member@remove","member":{"id":"p1","name":"pia","info":"away"}}`,
		`{"jsonrpc":"2.0","method":"sgc@presence@send@members","channel":{"name":""},"member":{"id":"obs","name":"olga","info":""},"members":[{"id":"obs","name":"olga","info":""}]}`,
	}
	for _, exts := range []string{"", `"diffs","updates","counts"`} {
		url := start(t)
		obs := dialRaw(t, url)
		obs.send(fill(join, "obs", "olga"))
		obs.send(fill(sub, "room"))
		got := obs.until("channel@member@new")
		p := dialRaw(t, url)
		if exts != "" {
			p.send(fill(hello, exts))
		}
		p.send(fill(join, "p1", "pat"))
		p.send(fill(sub, "room"))
		got = append(got, obs.until("channel@member@new")...)
		p.send(fill(publish, "hi", "room"))
		p.send(fill(update, "pia", "away"))
		p.send(fill(publish, "after", "room"))
		p.send(fill(unsub, "room"))
		p.send(leave)
		got = append(got, obs.until(`"method":"sgc@presence@member@remove"`)...)
		obs.send(fill(getMembs, ""))
		got = append(got, obs.until("send@members")...)
		if !slices.Equal(got, want) {
			t.Fatalf("other member's extensions [%s]: the sgc client got\n%s\nwant\n%s", exts, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestHello: the answer lists the known extensions asked for, once each;
// diffs asked for after the join are refused with error 50 and the
// connection stays per event.
func TestHello(t *testing.T) {
	url := start(t)
	a := dialRaw(t, url)
	a.send(fill(hello, `"diffs","telepathy","updates","diffs"`))
	if got, want := a.next(), `{"jsonrpc":"2.0","method":"rollcall@hello","extensions":["diffs","updates"]}`; got != want {
		t.Fatalf("answer %s, want %s", got, want)
	}

	b := dialRaw(t, url)
	b.send(fill(join, "bee", "b"))
	b.until("member@new")
	b.send(fill(hello, `"diffs","counts"`))
	if got, want := b.next(), `{"jsonrpc":"2.0","method":"rollcall@hello","extensions":["counts"]}`; got != want {
		t.Fatalf("late answer %s, want %s", got, want)
	}
	if got := b.next(); !strings.Contains(got, `"code":50`) {
		t.Fatalf("late diffs answered %s, want error 50", got)
	}
	b.send(fill(sub, "room"))
	c := dialRaw(t, url)
	c.send(fill(join, "cee", "c"))
	c.send(fill(sub, "room"))
	b.until(`"id":"cee","name":"c","info":""},"channel":{"name":"room"}`) // per event: the member's own frame
}

// TestExtensionBadFields: a field of the wrong type is error 40 naming it.
func TestExtensionBadFields(t *testing.T) {
	url := start(t)
	a := dialRaw(t, url)
	a.send(fill(join, "ann", "a"))
	a.until("member@new")
	for _, frame := range []string{
		`{"jsonrpc":"2.0","method":"sgc@presence@channel@member@new","channel":{"name":"x"},"counts":"yes"}`,
		`{"jsonrpc":"2.0","method":"rollcall@diff","left":[1]}`,
		`{"jsonrpc":"2.0","method":"rollcall@hello","extensions":[true]}`,
	} {
		a.send(frame)
		if got := a.next(); !strings.Contains(got, `"code":40`) {
			t.Fatalf("%s answered %s, want error 40", frame, got)
		}
	}
}

// TestUpdateOnlyToThoseWhoAsked: a per-event session that asked for
// updates gets the update frames; an sgc client gets nothing.
func TestUpdateOnlyToThoseWhoAsked(t *testing.T) {
	url := start(t)
	asked, plain, u := dialRaw(t, url), dialRaw(t, url), dialRaw(t, url)
	asked.send(fill(hello, `"updates"`))
	asked.next()
	asked.send(fill(join, "asker", "a"))
	plain.send(fill(join, "plain", "p"))
	u.send(fill(join, "upd", "u"))
	for _, r := range []*raw{asked, plain, u} {
		r.send(fill(sub, "room"))
		r.until(`"channel":{"name":"room"}`) // its own subscription's echo
	}
	u.send(fill(update, "new", "i"))
	u.send(fill(publish, "marker", "room"))
	got := asked.until("marker")
	if !slices.ContainsFunc(got, func(s string) bool {
		return s == `{"jsonrpc":"2.0","method":"rollcall@channel@member@update","member":{"id":"upd","name":"new","info":"i"},"channel":{"name":"room"}}`
	}) || !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, `"method":"rollcall@member@update"`) }) {
		t.Fatalf("the session that asked got\n%s", strings.Join(got, "\n"))
	}
	for _, s := range plain.until("marker") {
		if strings.Contains(s, "rollcall@") {
			t.Fatalf("an sgc client got %s", s)
		}
	}
}
