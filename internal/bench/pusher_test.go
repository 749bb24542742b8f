package bench

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/protocol/pusherwire"
	"github.com/rollcall/rollcall/server"
)

// The Pusher driver against a real server: two members join a channel,
// one publishes, the other receives the payload (the sender does not).
func TestPusherDriver(t *testing.T) {
	srv, err := server.New(server.Options{Pusher: server.PusherOptions{Apps: []pusher.App{{
		ID: PusherAppID, Key: PusherAppKey, Secret: PusherAppSecret, ClientEvents: true, ClientEventsPerSecond: 1e9,
	}}}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	defer srv.Shutdown(context.Background())
	target := "ws://" + strings.TrimPrefix(hs.URL, "http://") + "/"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	joined := make(chan string, 8)
	got := make(chan string, 8)
	h := func() *Handler {
		return &Handler{
			Join:    func(channel, member string) { joined <- channel + " " + member },
			Message: func(channel string, payload []byte) { got <- channel + " " + string(payload) },
			Error:   func(err error) { t.Error(err) },
		}
	}
	a, err := Pusher{}.Dial(ctx, target, nil, "a", h())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Pusher{}.Dial(ctx, target, nil, "b", h())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.Join("fan-0"); err != nil {
		t.Fatal(err)
	}
	if j := <-joined; j != "fan-0 "+a.ID() {
		t.Fatalf("join %q", j)
	}
	if err := b.Join("fan-0"); err != nil {
		t.Fatal(err)
	}
	for range 2 { // b's own, and b at a
		if j := <-joined; j != "fan-0 "+b.ID() {
			t.Fatalf("join %q", j)
		}
	}
	payload := string(appendPayload(nil, time.Now(), 1, 2, 60))
	if err := a.Publish("fan-0", []byte(payload)); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != "fan-0 "+payload {
		t.Fatalf("message %q", m)
	}
	select {
	case m := <-got:
		t.Fatalf("a second message %q (the sender's own?)", m)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestFastClientEvent(t *testing.T) {
	frame := pusherwire.AppendChannelEvent(nil, "presence-fan-3", pusherEvent, "0000000001|000002|000000000003|....")
	frame = append(frame[:len(frame)-1], `,"user_id":"1.2"}`...)
	ch, data, ok := fastClientEvent(frame)
	if !ok || ch != "fan-3" || string(data) != "0000000001|000002|000000000003|...." {
		t.Fatalf("fastClientEvent(%s) = %q %q %v", frame, ch, data, ok)
	}
	if _, _, ok := fastClientEvent(pusherwire.AppendChannelEvent(nil, "presence-c", pusherEvent, `a "quoted" text`)); ok {
		t.Error("accepted escapes")
	}
	if _, _, ok := fastClientEvent(pusherwire.AppendMemberAdded(nil, "presence-c", "1", nil)); ok {
		t.Error("accepted another event")
	}
}
