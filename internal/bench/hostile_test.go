package bench

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rollcall/rollcall/adapter/pusher"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/server"
)

// The hostile scenario, tiny, against a server in this process with small
// budgets and a low rate (10 frames a second, for a loaded machine that
// sends few): the clients that never read, and the one that stops
// acknowledging, are closed with 1008 for their budget; the member-list
// spammer and the Pusher re-subscriber are answered with rate-limit
// errors; the witness in the busy channel gets every publish; and every
// hostile connection is gone from the server at the end. (No RSS: the
// process is the test's own.)
func TestHostileScenario(t *testing.T) {
	const budget = 64 << 10
	srv, err := server.New(server.Options{
		APIKey:         "k",
		Acknowledgment: server.Acknowledgment{Enabled: true, Interval: 100 * time.Millisecond, Timeout: time.Second, MaxPendingBytes: budget},
		Limits:         server.Limits{MaxQueueBytes: budget, MessagesPerSecond: 10, Burst: 10},
		Pusher: server.PusherOptions{Apps: []pusher.App{{
			ID: PusherAppID, Key: PusherAppKey, Secret: PusherAppSecret,
		}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := testkit.Serve(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var table strings.Builder
	res, err := RunHostile(ctx, HostileParams{
		Target: testkit.WSURL(hs, "/"), APIKey: "k",
		Members: 8, ChannelSize: 4, PerKind: 2,
		Duration: time.Second, HostileRate: 300, PublishRate: 100, Payload: 2048,
		Budget: 2 * budget, Quiet: 500 * time.Millisecond, Timeout: 20 * time.Second,
		Log: io.Discard,
	}, &table)
	t.Log("\n" + table.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range res.Kinds {
		if k.Clients != 2 {
			t.Errorf("%s: %d clients, want 2", k.Kind, k.Clients)
		}
		switch k.Kind {
		case kindSlow, kindAckOnce:
			for end, n := range k.Ends {
				if !strings.HasPrefix(end, "1008 ") {
					t.Errorf("%s: %d ended %q, want closed with 1008 for a budget", k.Kind, n, end)
				}
			}
		case kindMembers, kindResub:
			if k.Limited == 0 || k.Sent < 30 {
				t.Errorf("%s: sent %d frames, read %d rate-limit errors; want many frames and some errors", k.Kind, k.Sent, k.Limited)
			}
		}
	}
	if res.Published == 0 || res.Witnessed != res.Published {
		t.Errorf("the witness received %d of %d publishes", res.Witnessed, res.Published)
	}
	if res.SlowConsumers == 0 {
		t.Error("no slow-consumer close counted")
	}
	testkit.Eventually(t, 10*time.Second, "every connection closed", func() bool { return srv.Stats().Connections == 0 })
}

// The run fails when the RSS after the hostile clients closed is over the
// tolerance, and not without RSS figures.
func TestHostileCheck(t *testing.T) {
	r := HostileResult{BaselineRSS: 100 << 20, AfterRSS: 111 << 20}
	if err := r.check(0.10); err == nil {
		t.Error("11% over the baseline passed a 10% tolerance")
	}
	r.AfterRSS = 109 << 20
	if err := r.check(0.10); err != nil {
		t.Errorf("9%% over: %v", err)
	}
	if err := (&HostileResult{AfterRSS: 1 << 30}).check(0.10); err != nil {
		t.Errorf("no baseline: %v", err)
	}
}
