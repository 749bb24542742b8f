package transport

import (
	"bufio"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// A close frame with a code that may not be sent on the wire (RFC 6455
// §7.4) is answered with 1002; an allowed code is echoed.
func TestCloseCodeNotAllowedOnTheWire(t *testing.T) {
	for _, tc := range []struct {
		code, want ws.StatusCode
	}{
		{999, CloseProtocolError},
		{1004, CloseProtocolError},
		{1005, CloseProtocolError},
		{1006, CloseProtocolError},
		{1015, CloseProtocolError},
		{1016, CloseProtocolError},
		{2999, CloseProtocolError},
		{5000, CloseProtocolError},
		{1000, 1000},
		{1001, 1001},
		{1014, 1014},
		{3000, 3000},
		{4999, 4999},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			ln := listen(t)
			conn := dial(t, ln)
			s := serveOne(t, ln, nil, Options{})
			body := ws.NewCloseFrameBody(tc.code, "")
			if err := ws.WriteFrame(conn, ws.MaskFrame(ws.NewCloseFrame(body))); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			f, err := ws.ReadFrame(bufio.NewReader(conn))
			if err != nil {
				t.Fatal(err)
			}
			if f.Header.OpCode != ws.OpClose {
				t.Fatalf("got opcode %v, want a close frame", f.Header.OpCode)
			}
			got, why := ws.ParseCloseFrameData(f.Payload)
			if got != tc.want {
				t.Fatalf("close %d answered with %d %q, want %d", tc.code, got, why, tc.want)
			}
			conn.Close()
			waitEnd(t, s, 3*time.Second)
		})
	}
}

// A peer that does not read can make the connection hold at most
// MaxQueueBytes: past it the connection is closed with 1008 and a reason
// naming the budget, whatever QueueLength allows.
func TestQueueByteBudget(t *testing.T) {
	pollers(t, func(t *testing.T, p func(*testing.T) *Poller) {
		const budget = 64 << 10
		ln := listen(t)
		conn := dial(t, ln)
		s := serveOne(t, ln, p(t), Options{QueueLength: 1 << 20, MaxQueueBytes: budget})
		frame := make([]byte, 1000)
		for i := range frame {
			frame[i] = 'x'
		}
		var err error
		// The socket buffers take a few MB before the queue grows; 100 MB
		// is far more than they hold.
		for i := 0; i < 100_000 && err == nil; i++ {
			err = s.c.Send(frame)
			if _, b := s.c.Queued(); b > budget {
				t.Fatalf("%d bytes queued, over the budget of %d", b, budget)
			}
		}
		if !errors.Is(err, ErrSlowConsumer) {
			t.Fatalf("Send: %v", err)
		}
		want := fmt.Sprintf("slow consumer: outbound queue over %d bytes", budget)
		if code, why := s.c.CloseStatus(); code != ClosePolicyViolation || why != want {
			t.Fatalf("closed with %d %q, want 1008 %q", code, why, want)
		}
		conn.Close()
		if e := waitEnd(t, s, 3*time.Second); e.code != ClosePolicyViolation || e.reason != want {
			t.Fatalf("ended %v", e)
		}
	})
}

// SendJoined writes head, body and tail as one frame, and all three count
// against the budget.
func TestSendJoined(t *testing.T) {
	ln := listen(t)
	conn := dial(t, ln)
	s := serveOne(t, ln, nil, Options{MaxQueueBytes: 100})
	if err := s.c.SendJoined([]byte(`{"a":`), []byte(`1`), []byte(`}`)); err != nil {
		t.Fatal(err)
	}
	if got := readText(t, stream(conn)); got != `{"a":1}` {
		t.Fatalf("read %q", got)
	}
	if err := s.c.SendJoined(make([]byte, 40), make([]byte, 40), make([]byte, 40)); !errors.Is(err, ErrSlowConsumer) {
		t.Fatalf("SendJoined over the budget: %v", err)
	}
	conn.Close()
	waitEnd(t, s, 3*time.Second)
}
