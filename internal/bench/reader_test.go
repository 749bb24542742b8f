//go:build linux

package bench

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// The worker's reader puts frames back together across reads: a frame
// cut in three, a fragmented message, 16- and 64-bit lengths; it answers
// a ping and ends at the server's close frame.
func TestReaderFrames(t *testing.T) {
	client, srv := tcpPair(t)

	c := &wsConn{conn: client, done: make(chan struct{})}
	got := make(chan string, 16)
	failed := make(chan error, 1)
	c.start(func(b []byte) { got <- string(b) }, func(err error) { failed <- err })
	if !c.polled {
		t.Fatal("connection not on the epoll reader")
	}

	frame := func(op ws.OpCode, fin bool, p []byte) []byte {
		b, err := ws.CompileFrame(ws.NewFrame(op, fin, p))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	send := func(parts ...[]byte) {
		for _, p := range parts {
			if _, err := srv.Write(p); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	expect := func(want string) {
		t.Helper()
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("got %.40q (%d bytes), want %.40q (%d bytes)", g, len(g), want, len(want))
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("no frame; want %.40q", want)
		}
	}

	cut := frame(ws.OpText, true, []byte("cut in three"))
	send(cut[:1], cut[1:5], cut[5:])
	expect("cut in three")

	send(append(frame(ws.OpText, false, []byte("frag")), frame(ws.OpContinuation, true, []byte("ment"))...))
	expect("fragment")

	mid := bytes.Repeat([]byte("m"), 300)
	big := bytes.Repeat([]byte("b"), 70000)
	send(append(frame(ws.OpText, true, mid), frame(ws.OpText, true, big)...))
	expect(string(mid))
	expect(string(big))

	send(frame(ws.OpPing, true, []byte("p")))
	_ = srv.SetReadDeadline(time.Now().Add(2 * time.Second))
	h, err := ws.ReadHeader(srv)
	if err != nil || h.OpCode != ws.OpPong || !h.Masked || h.Length != 1 {
		t.Fatalf("pong header %+v %v", h, err)
	}
	p := make([]byte, 1)
	if _, err := io.ReadFull(srv, p); err != nil {
		t.Fatal(err)
	}
	ws.Cipher(p, h.Mask, 0)
	if string(p) != "p" {
		t.Fatalf("pong payload %q", p)
	}

	send(frame(ws.OpClose, true, ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	select {
	case err := <-failed:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("ended with %v, want EOF", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("close frame did not end the connection")
	}
	<-c.done
	if err := c.close(); err != nil && !errors.Is(err, net.ErrClosed) {
		t.Logf("close: %v", err)
	}
}

// Closing a polled connection from this side ends it at once, with no
// error reported.
func TestReaderClose(t *testing.T) {
	client, _ := tcpPair(t)
	c := &wsConn{conn: client, done: make(chan struct{})}
	failed := make(chan error, 1)
	c.start(func([]byte) {}, func(err error) { failed <- err })
	done := make(chan struct{})
	go func() { _ = c.close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("close hung")
	}
	if err := <-failed; err != nil {
		t.Fatalf("fail(%v) after close, want nil", err)
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, srv net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	srv, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return client, srv
}
