package transport

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/rollcall/rollcall/internal/testkit"
)

// ended is how a served connection ended.
type ended struct {
	code   ws.StatusCode
	reason string
}

// served is the server side of one TCP connection run by Serve.
type served struct {
	c    *Conn
	msgs chan string
	end  chan ended
}

// serveOne accepts one connection from ln and serves it with p (nil: a
// goroutine per connection), echoing each message back.
func serveOne(t *testing.T, ln net.Listener, p *Poller, opts Options) *served {
	t.Helper()
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return serveConn(nc, p, opts)
}

// serveConn serves nc as serveOne does.
func serveConn(nc net.Conn, p *Poller, opts Options) *served {
	s := &served{c: New(nc, nil, opts), msgs: make(chan string, 16), end: make(chan ended, 1)}
	s.c.Serve(p, func(m []byte) error {
		s.msgs <- string(m)
		return s.c.Send(m)
	}, func(code ws.StatusCode, reason string) {
		s.end <- ended{code, reason}
	})
	return s
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func dial(t *testing.T, ln net.Listener) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func newPoller(t *testing.T) *Poller {
	t.Helper()
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// pollers runs f with a Poller and without one.
func pollers(t *testing.T, f func(t *testing.T, p func(*testing.T) *Poller)) {
	t.Run("poller", func(t *testing.T) { f(t, newPoller) })
	t.Run("goroutine", func(t *testing.T) { f(t, func(*testing.T) *Poller { return nil }) })
}

func writeText(t *testing.T, conn net.Conn, fin bool, op ws.OpCode, p string) {
	t.Helper()
	f := ws.NewFrame(op, fin, []byte(p))
	if err := ws.WriteFrame(conn, ws.MaskFrame(f)); err != nil {
		t.Fatal(err)
	}
}

// stream reads conn through a buffer and writes control-frame replies to
// it, as wsutil's readers want.
func stream(conn net.Conn) io.ReadWriter {
	return struct {
		io.Reader
		io.Writer
	}{bufio.NewReader(conn), conn}
}

func readText(t *testing.T, br io.ReadWriter) string {
	t.Helper()
	b, err := wsutil.ReadServerText(br)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(b)
}

func waitEnd(t *testing.T, s *served, within time.Duration) ended {
	t.Helper()
	return testkit.Recv(t, s.end, within, "the connection to end")
}

// An idle connection served with a Poller holds no goroutine; it wakes for
// the next message, and every connection ends with its close code.
func TestServeParksIdleConnections(t *testing.T) {
	const n = 200
	p := newPoller(t)
	ln := listen(t)
	base := runtime.NumGoroutine()
	conns := make([]net.Conn, n)
	brs := make([]io.ReadWriter, n)
	srvs := make([]*served, n)
	for i := range n {
		conns[i] = dial(t, ln)
		brs[i] = stream(conns[i])
		srvs[i] = serveOne(t, ln, p, Options{})
		writeText(t, conns[i], true, ws.OpText, "hello")
		if got := readText(t, brs[i]); got != "hello" {
			t.Fatalf("echo %q", got)
		}
	}
	// Every reader parks once its message is handled; writers end too.
	testkit.Poll(t, testkit.Timeout, func() error {
		if g := runtime.NumGoroutine(); g > base+2 {
			return fmt.Errorf("%d goroutines for %d idle connections (%d before)", g, n, base)
		}
		return nil
	})
	for i := range n {
		writeText(t, conns[i], true, ws.OpText, "again")
	}
	for i := range n {
		if got := readText(t, brs[i]); got != "again" {
			t.Fatalf("conn %d: echo %q", i, got)
		}
		if got := <-srvs[i].msgs + <-srvs[i].msgs; got != "helloagain" {
			t.Fatalf("conn %d: handler saw %q", i, got)
		}
	}
	for i := range n {
		if i%2 == 0 {
			_ = ws.WriteFrame(conns[i], ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "bye"))))
		} else {
			conns[i].Close()
		}
	}
	for i := range n {
		e := waitEnd(t, srvs[i], 5*time.Second)
		want := ended{CloseNormal, ""} // the close reply this side sent
		if i%2 == 1 {
			want = ended{CloseAbnormal, ""}
		}
		if e != want {
			t.Errorf("conn %d ended %v, want %v", i, e, want)
		}
	}
}

// A message in fragments, and a frame cut in two, each with a pause
// between the parts: the reader parks between frames and blocks within one,
// and the handler sees the whole message once.
func TestServeSplitMessages(t *testing.T) {
	pollers(t, func(t *testing.T, poller func(*testing.T) *Poller) {
		ln := listen(t)
		conn := dial(t, ln)
		s := serveOne(t, ln, poller(t), Options{})
		// The pauses are the point: the parts come apart.
		writeText(t, conn, false, ws.OpText, "frag")
		time.Sleep(50 * time.Millisecond)
		writeText(t, conn, false, ws.OpContinuation, "men")
		time.Sleep(50 * time.Millisecond)
		writeText(t, conn, true, ws.OpContinuation, "ted")
		if got := <-s.msgs; got != "fragmented" {
			t.Fatalf("handler saw %q", got)
		}
		frame, err := ws.CompileFrame(ws.MaskFrame(ws.NewTextFrame([]byte("cut in two"))))
		if err != nil {
			t.Fatal(err)
		}
		for _, part := range [][]byte{frame[:3], frame[3:9], frame[9:]} {
			if _, err := conn.Write(part); err != nil {
				t.Fatal(err)
			}
			time.Sleep(30 * time.Millisecond) // the parts come apart, the point
		}
		if got := <-s.msgs; got != "cut in two" {
			t.Fatalf("handler saw %q", got)
		}
		conn.Close()
		waitEnd(t, s, 5*time.Second)
	})
}

// A silent peer is closed with 1001 "idle timeout", parked or not. Without
// a Poller the connection lives on timers and goroutines alone, so that case
// runs in a synctest bubble, over net.Pipe, on the bubble's clock.
func TestServeIdleTimeout(t *testing.T) {
	opts := Options{IdleTimeout: 300 * time.Millisecond}
	t.Run("poller", func(t *testing.T) {
		ln := listen(t)
		conn := dial(t, ln)
		start := time.Now()
		testIdleTimeout(t, start, conn, serveOne(t, ln, newPoller(t), opts))
	})
	t.Run("goroutine", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			conn := pipe(t)
			start := time.Now()
			testIdleTimeout(t, start, conn, serveConn(conn.peer, nil, opts))
		})
	})
}

func testIdleTimeout(t *testing.T, start time.Time, conn net.Conn, s *served) {
	t.Helper()
	// Activity postpones the timeout: the pause is the point, not a wait.
	time.Sleep(200 * time.Millisecond)
	writeText(t, conn, true, ws.OpText, "still here")
	<-s.msgs
	br := stream(conn)
	readText(t, br)
	_, err := wsutil.ReadServerText(br)
	var ce wsutil.ClosedError
	if !asClosedError(err, &ce) || ce.Code != CloseGoingAway || ce.Reason != "idle timeout" {
		t.Fatalf("want close 1001 idle timeout, got %v", err)
	}
	if d := time.Since(start); d < 450*time.Millisecond {
		t.Errorf("closed after %v: the message did not postpone the timeout", d)
	}
	_ = ws.WriteFrame(conn, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(CloseGoingAway, ""))))
	if e := waitEnd(t, s, 3*time.Second); e != (ended{CloseGoingAway, "idle timeout"}) {
		t.Fatalf("ended %v", e)
	}
}

// pipeConn is the client end of a net.Pipe; peer is the server's end.
type pipeConn struct {
	net.Conn
	peer net.Conn
}

// pipe returns both ends of an in-memory connection, closed at the end of
// the test. Inside a synctest bubble its deadlines run on the bubble's
// clock.
func pipe(t *testing.T) pipeConn {
	c, s := net.Pipe()
	t.Cleanup(func() {
		c.Close()
		s.Close()
	})
	return pipeConn{c, s}
}

// A silent peer is pinged after 3/4 to all of the ping interval of silence,
// and again after each of its pongs once its threshold has passed; pongs
// keep it open well past the idle timeout. On the bubble's clock, exactly.
func TestServePingsSilentPeer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval, idle = 400 * time.Millisecond, time.Second
		conn := pipe(t)
		start := time.Now()
		s := serveConn(conn.peer, nil, Options{PingInterval: interval, IdleTimeout: idle})
		br := bufio.NewReader(conn)
		var pings []time.Duration
		for len(pings) < 5 {
			h, err := ws.ReadHeader(br)
			if err != nil {
				t.Fatalf("after %d pings: %v", len(pings), err)
			}
			p := make([]byte, h.Length)
			if _, err := io.ReadFull(br, p); err != nil {
				t.Fatal(err)
			}
			if h.OpCode != ws.OpPing {
				t.Fatalf("frame %v, want a ping", h.OpCode)
			}
			pings = append(pings, time.Since(start))
			if err := ws.WriteFrame(conn, ws.MaskFrame(ws.NewPongFrame(p))); err != nil {
				t.Fatal(err)
			}
		}
		if first := pings[0]; first < interval*3/4 || first > interval {
			t.Fatalf("first ping after %v of silence, want 3/4 to all of %v", first, interval)
		}
		for i := 1; i < len(pings); i++ {
			if gap := pings[i] - pings[i-1]; gap != pings[0] {
				t.Fatalf("pings at %v: not one threshold apart", pings)
			}
		}
		if pings[len(pings)-1] <= idle {
			t.Fatalf("pings at %v: the test must outlast the idle timeout %v", pings, idle)
		}
		conn.Close()
		if e := waitEnd(t, s, time.Second); e != (ended{CloseAbnormal, ""}) {
			t.Fatalf("ended %v", e)
		}
	})
}

// Close and Terminate reach a parked connection: the close handshake is
// read by a reader started for it, and onEnd runs.
func TestServeCloseParked(t *testing.T) {
	p := newPoller(t)
	ln := listen(t)

	conn := dial(t, ln)
	s := serveOne(t, ln, p, Options{})
	waitParked(t, s.c)
	s.c.Close(CloseNormal, "bye")
	br := stream(conn)
	_, err := wsutil.ReadServerText(br)
	var ce wsutil.ClosedError
	if !asClosedError(err, &ce) || ce.Code != CloseNormal || ce.Reason != "bye" {
		t.Fatalf("want close 1000 bye, got %v", err)
	}
	_ = ws.WriteFrame(conn, ws.MaskFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(CloseNormal, ""))))
	if e := waitEnd(t, s, 3*time.Second); e != (ended{CloseNormal, "bye"}) {
		t.Fatalf("ended %v", e)
	}

	conn2 := dial(t, ln)
	s2 := serveOne(t, ln, p, Options{})
	waitParked(t, s2.c)
	s2.c.Terminate()
	if e := waitEnd(t, s2, time.Second); e != (ended{CloseAbnormal, ""}) {
		t.Fatalf("ended %v", e)
	}
	_ = conn2.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := conn2.Read(make([]byte, 1)); err == nil {
		t.Fatal("socket still open after Terminate")
	}
}

// Bad input on a woken connection is refused as it is without a Poller.
func TestServeProtocolError(t *testing.T) {
	p := newPoller(t)
	ln := listen(t)
	conn := dial(t, ln)
	s := serveOne(t, ln, p, Options{})
	waitParked(t, s.c)
	if err := ws.WriteFrame(conn, ws.NewTextFrame([]byte("unmasked"))); err != nil {
		t.Fatal(err)
	}
	_, err := wsutil.ReadServerText(stream(conn))
	var ce wsutil.ClosedError
	if !asClosedError(err, &ce) || ce.Code != CloseProtocolError {
		t.Fatalf("want close 1002, got %v", err)
	}
	conn.Close()
	if e := waitEnd(t, s, 3*time.Second); e.code != CloseProtocolError {
		t.Fatalf("ended %v", e)
	}
}

// Many connections woken at once by messages from many peers: every
// message arrives exactly once and in order per connection.
func TestServeConcurrentWakeups(t *testing.T) {
	const conns, msgs = 50, 40
	p := newPoller(t)
	ln := listen(t)
	var wg sync.WaitGroup
	for range conns {
		conn := dial(t, ln)
		s := serveOne(t, ln, p, Options{})
		wg.Go(func() {
			br := stream(conn)
			for i := range msgs {
				want := string(rune('A' + i%26))
				writeText(t, conn, true, ws.OpText, want)
				if got := readText(t, br); got != want {
					t.Errorf("echo %q, want %q", got, want)
					return
				}
				if got := <-s.msgs; got != want {
					t.Errorf("handler %q, want %q", got, want)
					return
				}
			}
			conn.Close()
			waitEnd(t, s, 5*time.Second)
		})
	}
	wg.Wait()
}

func waitParked(t *testing.T, c *Conn) {
	t.Helper()
	testkit.Eventually(t, 2*time.Second, "the reader to park", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.reading
	})
}

func asClosedError(err error, ce *wsutil.ClosedError) bool {
	c, ok := err.(wsutil.ClosedError)
	if ok {
		*ce = c
	}
	return ok
}

// A socket the Poller cannot take (here: the Poller is already closed) is
// read by a goroutine of its own, as without a Poller.
func TestServeFallsBackWhenArmingFails(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	conn := dial(t, ln)
	s := serveOne(t, ln, p, Options{})
	br := stream(conn)
	for _, m := range []string{"one", "two"} {
		writeText(t, conn, true, ws.OpText, m)
		if got := readText(t, br); got != m {
			t.Fatalf("echo %q, want %q", got, m)
		}
		time.Sleep(20 * time.Millisecond) // a pause between messages, the point
	}
	conn.Close()
	if e := waitEnd(t, s, 3*time.Second); e != (ended{CloseAbnormal, ""}) {
		t.Fatalf("ended %v", e)
	}
}
