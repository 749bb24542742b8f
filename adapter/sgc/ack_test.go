package sgc

import (
	"bufio"
	"encoding/json"
	"errors"
	"math"
	"net"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gobwas/ws/wsutil"

	"github.com/rollcall/rollcall/adapter"
	"github.com/rollcall/rollcall/presence"
	"github.com/rollcall/rollcall/protocol/sgcwire"
	"github.com/rollcall/rollcall/transport"
)

// received is one frame the client read, and when (since the bubble began).
type received struct {
	at    time.Duration
	frame string
}

// ackClient is the client end of one sgc connection served over net.Pipe
// without a Poller, so that the whole connection lives on the bubble's
// clock: a goroutine reads every frame the server writes as soon as it is
// written.
type ackClient struct {
	t      *testing.T
	start  time.Time
	conn   net.Conn
	frames chan received
	ended  chan struct{}
	err    error // why the reading ended, once ended is closed
}

func serveAckClient(t *testing.T, h *Handler) *ackClient {
	start := time.Now()
	client, server := net.Pipe()
	c := &ackClient{t: t, start: start, conn: client, frames: make(chan received, 64), ended: make(chan struct{})}
	go func() {
		defer close(c.ended)
		rw := bufio.NewReadWriter(bufio.NewReader(client), bufio.NewWriter(client))
		for {
			p, err := wsutil.ReadServerText(rw)
			if err != nil {
				c.err = err
				close(c.frames)
				return
			}
			c.frames <- received{time.Since(c.start), string(p)}
		}
	}()
	h.Serve(transport.New(server, nil, transport.Options{}), adapter.Peer{Subprotocol: sgcwire.Subprotocol})
	return c
}

func (c *ackClient) write(frame string) {
	c.t.Helper()
	if err := wsutil.WriteClientText(c.conn, []byte(frame)); err != nil {
		c.t.Fatal(err)
	}
}

// next returns the frame the server has written, once every goroutine of
// the bubble is idle; it fails when there is none.
func (c *ackClient) next() received {
	c.t.Helper()
	synctest.Wait()
	select {
	case r := <-c.frames:
		return r
	default:
		c.t.Fatal("no frame from the server")
		return received{}
	}
}

// none fails if the server has written a frame that was not taken.
func (c *ackClient) none(when string) {
	c.t.Helper()
	synctest.Wait()
	select {
	case r := <-c.frames:
		c.t.Fatalf("%s: frame at %v: %s", when, r.at, r.frame)
	default:
	}
}

// idOf returns the acknowledgment id of a frame from the server.
func idOf(t *testing.T, frame string) string {
	t.Helper()
	var m struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(frame), &m); err != nil || m.ID == "" {
		t.Fatalf("frame without an id (%v): %s", err, frame)
	}
	return m.ID
}

// An unacknowledged frame is re-sent byte-identical, with its id, on the
// first check at least Timeout after it was last sent, MaxRetries times,
// and then given up; an acknowledgment stops the re-sends of its frame. On
// the bubble's clock, so every time is exact: checks every 100 ms, a
// timeout of 250 ms, so a frame sent at 0 is re-sent at 300 ms and 600 ms
// and given up at 900 ms.
func TestAckResendTimes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		counters := new(adapter.Counters)
		h := New(Config{
			Engine:            presence.New(presence.Options{}),
			Counters:          counters,
			MessagesPerSecond: math.Inf(1),
			Acknowledgment: Acknowledgment{
				Enabled:    true,
				Interval:   100 * time.Millisecond,
				Timeout:    250 * time.Millisecond,
				MaxRetries: 2,
			},
		})
		defer h.Close()
		c := serveAckClient(t, h)

		session := c.next()
		if session.at != 0 {
			t.Fatalf("session frame at %v", session.at)
		}
		sid := idOf(t, session.frame)
		// An acknowledgment of no frame of ours makes the connection one
		// that acknowledges (only those get re-sends), and acknowledges
		// nothing.
		c.write(`{"jsonrpc":"2.0","method":"` + sgcwire.MethodAcknowledgment + `","id":"ABC"}`)

		for _, want := range []time.Duration{300 * time.Millisecond, 600 * time.Millisecond} {
			time.Sleep(want - time.Since(c.start))
			r := c.next()
			if r.at != want || r.frame != session.frame {
				t.Fatalf("re-send at %v of %s, want at %v the session frame %s", r.at, r.frame, want, session.frame)
			}
		}
		time.Sleep(2 * time.Second)
		c.none("after MaxRetries re-sends")
		if n := h.PendingAcks(); n != 0 {
			t.Fatalf("%d frames pending after the last retry, want the session frame given up", n)
		}
		if n := counters.AckResends.Load(); n != 2 {
			t.Fatalf("%d re-sends counted, want 2", n)
		}

		// A frame the client acknowledges after its first re-send is sent
		// no more. Not JSON: the answer is error 40, with an id.
		sent := time.Since(c.start)
		c.write(`not json`)
		e := c.next()
		if e.at != sent {
			t.Fatalf("error frame at %v, want at once (%v)", e.at, sent)
		}
		eid := idOf(t, e.frame)
		if eid == sid {
			t.Fatalf("error frame has the session frame's id %s", eid)
		}
		time.Sleep(300 * time.Millisecond)
		if r := c.next(); r.at != sent+300*time.Millisecond || r.frame != e.frame {
			t.Fatalf("re-send at %v of %s, want at %v the error frame", r.at, r.frame, sent+300*time.Millisecond)
		}
		c.write(`{"jsonrpc":"2.0","method":"` + sgcwire.MethodAcknowledgment + `","id":"` + eid + `"}`)
		synctest.Wait()
		if n := h.PendingAcks(); n != 0 {
			t.Fatalf("%d frames pending after the acknowledgment", n)
		}
		time.Sleep(2 * time.Second)
		c.none("after the acknowledgment")
		if n := counters.AckResends.Load(); n != 3 {
			t.Fatalf("%d re-sends counted, want 3", n)
		}

		c.conn.Close()
		<-c.ended
		synctest.Wait() // the session ends
	})
}

// A connection over its budget of unacknowledged frames is closed with
// 1008 once, and counted once as a slow consumer, however many frames the
// engine still delivers to it before it has gone.
func TestAckOverBudgetClosesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		counters := new(adapter.Counters)
		engine := presence.New(presence.Options{})
		h := New(Config{
			Engine:            engine,
			Counters:          counters,
			MessagesPerSecond: math.Inf(1),
			Acknowledgment: Acknowledgment{
				Enabled: true, Interval: time.Hour, Timeout: time.Hour, MaxPending: 8,
			},
		})
		defer h.Close()
		c := serveAckClient(t, h)
		// The session frame, never acknowledged, as every frame after it.
		session, err := sgcwire.Decode([]byte(c.next().frame))
		if err != nil {
			t.Fatal(err)
		}
		var enc sgcwire.Encoder
		me := sgcwire.Member{ID: session.Text}
		c.write(string(enc.Encode(&sgcwire.Message{Method: sgcwire.MethodNewMember, Member: me})))
		c.write(string(enc.Encode(&sgcwire.Message{Method: sgcwire.MethodNewChannelMember, Channel: "room", Member: me})))
		synctest.Wait()
		// Another connection publishes into the room: twenty frames for a
		// budget of eight, all delivered before the connection has ended.
		pub := engine.Connect("PUBLISHER", nopSink{})
		ctx := t.Context()
		if err := engine.Join(ctx, pub, presence.Member{ID: "PUBLISHER"}); err != nil {
			t.Fatal(err)
		}
		if err := engine.Subscribe(ctx, pub, "room"); err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if err := engine.Publish(ctx, pub, "room", "m"+strconv.Itoa(i)); err != nil {
				t.Fatal(err)
			}
		}
		for {
			if _, ok := <-c.frames; !ok {
				break
			}
		}
		<-c.ended
		var ce wsutil.ClosedError
		if !errors.As(c.err, &ce) || ce.Code != transport.ClosePolicyViolation || ce.Reason != "acknowledgments: over 8 frames unacknowledged" {
			t.Fatalf("the client's reading ended with %v, want close 1008 for the budget", c.err)
		}
		c.conn.Close()
		synctest.Wait()
		if n := counters.SlowConsumers.Load(); n != 1 {
			t.Fatalf("%d slow consumers counted, want 1", n)
		}
		engine.Disconnect(pub)
	})
}

type nopSink struct{}

func (nopSink) Deliver(*presence.Event) {}
