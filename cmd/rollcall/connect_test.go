package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/internal/testkit"
	"github.com/rollcall/rollcall/server"
)

// lineSink collects what runConnect prints, line by line.
type lineSink struct {
	mu    sync.Mutex
	buf   []byte
	lines chan string
}

func newLineSink() *lineSink { return &lineSink{lines: make(chan string, 1000)} }

func (s *lineSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := strings.IndexByte(string(s.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		s.lines <- string(s.buf[:i])
		s.buf = s.buf[i+1:]
	}
}

// expect returns the next printed line containing want, skipping others.
func (s *lineSink) expect(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	var skipped []string
	for {
		select {
		case l := <-s.lines:
			if strings.Contains(l, want) {
				return l
			}
			skipped = append(skipped, l)
		case <-timeout:
			t.Fatalf("no output line containing %q; lines seen meanwhile: %q", want, skipped)
			return ""
		}
	}
}

func TestConnectSession(t *testing.T) {
	// The commands below ask for member lists faster than a person types
	// (/invite by name asks for one): lift the per-connection rate.
	srv, err := server.New(server.Options{Limits: server.Limits{MemberListsPerSecond: 1000}})
	if err != nil {
		t.Fatal(err)
	}
	hs := testkit.Serve(t, srv)
	url := testkit.WSURL(hs, "/")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// bob is a Go client: he refuses invitations to "room".
	msgs := make(chan string, 10)
	invites := make(chan *client.Invitation, 10)
	responses := make(chan client.InvitationResponse, 10)
	bob, err := client.Dial(ctx, url, client.Options{Name: "bob",
		OnPublishMsg:                func(text, ch string, from client.Member) { msgs <- ch + "|" + from.Name + "|" + text },
		OnChannelInvitation:         func(inv *client.Invitation) { invites <- inv },
		OnChannelInvitationResponse: func(r client.InvitationResponse) { responses <- r },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()

	stdin, typing := io.Pipe()
	defer typing.Close()
	out := newLineSink()
	done := make(chan error, 1)
	go func() {
		done <- runConnect(ctx, []string{url, "--name", "alice", "--channel", "room", "--info", "qa"}, stdin, out, io.Discard)
	}()
	send := func(line string) {
		t.Helper()
		if _, err := io.WriteString(typing, line+"\n"); err != nil {
			t.Fatal(err)
		}
	}

	l := out.expect(t, "connected as alice, session ")
	alice := l[strings.LastIndexByte(l, ' ')+1:]
	if len(alice) != 32 {
		t.Fatalf("session in %q", l)
	}
	out.expect(t, "[room] members (1): alice ("+alice+")")
	out.expect(t, "online (2): alice ("+alice+"), bob ("+bob.Session()+")")
	out.expect(t, "type /help")

	if err := bob.Subscribe(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	out.expect(t, "[room] bob joined")
	send("hi there")
	if got := testkit.Recv(t, msgs, testkit.Timeout, "message for bob"); got != "room|alice|hi there" {
		t.Fatalf("bob got %q", got)
	}
	out.expect(t, "[room] alice: hi there")
	if err := bob.Publish(ctx, "room", "yo"); err != nil {
		t.Fatal(err)
	}
	out.expect(t, "[room] bob: yo")
	if err := bob.Publish(ctx, "", "hello all"); err != nil {
		t.Fatal(err)
	}
	out.expect(t, "[everyone] bob: hello all")

	// An invitation, accepted: alice joins "side", which becomes current.
	if err := bob.Invite(ctx, "side", alice); err != nil {
		t.Fatal(err)
	}
	out.expect(t, "bob invites you to side — /accept or /refuse")
	send("/accept")
	out.expect(t, "[side] members (1): alice")
	if r := testkit.Recv(t, responses, testkit.Timeout, "invitation response"); !r.Accepted || r.Invitee.Name != "alice" || r.Channel != "side" {
		t.Fatalf("bob got %+v", r)
	}
	send("/refuse")
	out.expect(t, "no invitation to answer")

	// alice invites bob by id; he refuses.
	send("/invite lounge " + bob.Session())
	out.expect(t, "invited bob ("+bob.Session()+") to lounge")
	inv := testkit.Recv(t, invites, testkit.Timeout, "invitation for bob")
	if inv.From.Name != "alice" || inv.From.Info != "qa" || inv.Channel != "lounge" {
		t.Fatalf("bob was invited by %+v to %q", inv.From, inv.Channel)
	}
	if err := inv.Refuse(ctx, 7, "busy"); err != nil {
		t.Fatal(err)
	}
	out.expect(t, "bob refused your invitation to lounge: busy (7)")

	// By name; "invited" only once the server took it.
	send("/invite patio Bob")
	out.expect(t, "invited bob ("+bob.Session()+") to patio")
	if inv := testkit.Recv(t, invites, testkit.Timeout, "invitation by name"); inv.Channel != "patio" || inv.From.Name != "alice" {
		t.Fatalf("bob got %+v", inv)
	}
	send("/invite patio nobody")
	out.expect(t, `nobody named "nobody" (or with that id) is online`)
	// The server refuses a channel name over its limit (error 46): no
	// "invited", the refusal instead.
	long := strings.Repeat("x", 201)
	send("/invite " + long + " bob")
	if l := out.expect(t, "invite"); l != "could not invite bob to "+long+": Invalid channel name. (error 46)" {
		t.Fatalf("refused invitation reported as %q", l)
	}
	select {
	case inv := <-invites:
		t.Fatalf("bob was invited to %q", inv.Channel)
	default:
	}

	send("/join room")
	out.expect(t, "error 11: Subscription already exists. [room]")
	send("/members")
	out.expect(t, "online (2)")
	send("/leave")
	out.expect(t, "left side; talking to [room]")
	send("/leave nowhere")
	out.expect(t, "[nowhere]")
	send("/nope")
	out.expect(t, "unknown command /nope")
	send("/invite x")
	out.expect(t, "wrong arguments for /invite")
	send("/help")
	out.expect(t, "/members [CH]")

	bob.Close()
	out.expect(t, "* bob went offline")
	send("/quit")
	if err := testkit.Recv(t, done, testkit.Timeout, "return from runConnect"); err != nil {
		t.Fatalf("runConnect: %v", err)
	}
}

func TestConnectEOFQuits(t *testing.T) {
	srv, err := server.New(server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := testkit.Serve(t, srv)
	out := newLineSink()
	done := make(chan error, 1)
	// Flags before the URL work too; the base64 wire format is transparent.
	args := []string{"--base64", "--name", "carol", testkit.WSURL(hs, "")}
	go func() { done <- runConnect(context.Background(), args, strings.NewReader("hello\n"), out, io.Discard) }()
	out.expect(t, "online (1): carol")
	if err := testkit.Recv(t, done, testkit.Timeout, "return at end of input"); err != nil {
		t.Fatal(err)
	}
}

func TestConnectUsage(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		{"--name", "a"},
		{"ws://x/"},
		{"ftp://x/", "--name", "a"},
		{"ws://", "--name", "a"},
	} {
		err := runConnect(ctx, args, strings.NewReader(""), io.Discard, io.Discard)
		if !errors.As(err, new(usageError)) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
	if err := runConnect(ctx, []string{"-h"}, strings.NewReader(""), io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	// Flags after the URL are parsed: the dial is attempted (and fails).
	hs := httptest.NewServer(nil)
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	hs.Close()
	err := runConnect(ctx, []string{url, "--name", "a"}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.HasPrefix(err.Error(), "connect: ") {
		t.Errorf("got %v, want a dial error", err)
	}
}

// TestConnectCredentials: --user (password from ROLLCALL_PASSWORD) and
// --token reach an authenticating server, which names the member.
func TestConnectCredentials(t *testing.T) {
	srv, err := server.New(server.Options{Auth: server.Auth{
		Basic: func(_ context.Context, _ *http.Request, user, password string) (server.Identity, error) {
			if user != "dave" || password != "pw" {
				return server.Identity{}, errors.New("no")
			}
			return server.Identity{ID: "dave-id", Name: "Dave"}, nil
		},
		JWT: &server.JWTAuth{Secret: []byte("k")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	url := testkit.WSURL(testkit.Serve(t, srv), "")

	t.Setenv("ROLLCALL_PASSWORD", "pw")
	out := newLineSink()
	done := make(chan error, 1)
	go func() {
		done <- runConnect(context.Background(), []string{url, "--user", "dave"}, strings.NewReader(""), out, io.Discard)
	}()
	out.expect(t, "connected as Dave (id dave-id), session ")
	out.expect(t, "online (1): Dave (dave-id)")
	if err := testkit.Recv(t, done, testkit.Timeout, "return at end of input"); err != nil {
		t.Fatal(err)
	}

	// Without the variable, and not at a terminal: the error names it.
	os.Unsetenv("ROLLCALL_PASSWORD")
	err = runConnect(context.Background(), []string{url, "--user", "dave"}, strings.NewReader(""), io.Discard, io.Discard)
	if !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "set ROLLCALL_PASSWORD") {
		t.Fatalf("no password: %v", err)
	}

	t.Setenv("ROLLCALL_PASSWORD", "wrong")
	err = runConnect(context.Background(), []string{url, "--user", "dave"}, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "the server said: 401 Unauthorized: wrong user name or password") {
		t.Fatalf("wrong password: %v, want the server's reason", err)
	}
	if err := runConnect(context.Background(), []string{url, "--token", "not-a-jwt"}, strings.NewReader(""), io.Discard, io.Discard); err == nil {
		t.Fatal("bad token accepted")
	}
	if err := runConnect(context.Background(), []string{url, "--user", "a", "--token", "b"}, nil, io.Discard, io.Discard); !errors.As(err, new(usageError)) {
		t.Fatalf("both credentials: %v", err)
	}
}

// TestConnectPrompt: at a terminal the prompt, naming where a line goes,
// stays on its own line: output arriving while it is shown clears it,
// goes above it, and draws it again.
func TestConnectPrompt(t *testing.T) {
	var b strings.Builder
	tm := &term{out: &b, prompt: true}
	tm.showPrompt()
	tm.printf("[room] bob: %s", "yo")
	if got, want := b.String(), "[everyone]> \r\x1b[K[room] bob: yo\n[everyone]> "; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
	b.Reset()
	tm.typed() // Enter: the terminal is on a new line
	tm.setJoined("room", true)
	tm.println("left x")
	tm.showPrompt()
	tm.showPrompt()
	if got, want := b.String(), "left x\n[room]> "; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
	// Not at a terminal (tests, pipes): no prompt at all.
	b.Reset()
	plain := &term{out: &b}
	plain.showPrompt()
	plain.println("hi")
	if b.String() != "hi\n" {
		t.Fatalf("output %q", b.String())
	}
}

// TestServerURLs: a URL without a scheme gets ws://, http(s) becomes
// ws(s), each change is told; other schemes are refused with the fix.
func TestServerURLs(t *testing.T) {
	urls, notes, err := serverURLs([]string{"localhost:8080", "http://a:1/x,https://b:2", "ws://c:3/"})
	want := []string{"ws://localhost:8080/", "ws://a:1/x", "wss://b:2/", "ws://c:3/"}
	if err != nil || !slices.Equal(urls, want) {
		t.Fatalf("urls %q %v, want %q", urls, err, want)
	}
	if len(notes) != 3 || notes[0] != "using ws://localhost:8080/ for localhost:8080" {
		t.Fatalf("notes %q", notes)
	}
	_, _, err = serverURLs([]string{"ftp://h:1/p"})
	if err == nil || !strings.Contains(err.Error(), "use ws://h:1/p") {
		t.Fatalf("ftp: %v", err)
	}
}

// TestConnectFailoverAndReconnectLines: with several URLs the client
// connects to the first that answers; when its server goes away it prints
// one line per failed attempt, naming the URL and the attempt; Ctrl-C
// (the context's end) says it exits. The URL has no scheme: it is
// corrected, and the correction is printed.
func TestConnectFailoverAndReconnectLines(t *testing.T) {
	srv, err := server.New(server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	live := strings.TrimPrefix(hs.URL, "http://")
	dead := httptest.NewServer(nil)
	deadAddr := strings.TrimPrefix(dead.URL, "http://")
	dead.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := newLineSink()
	done := make(chan error, 1)
	stdin, stdinW := io.Pipe()
	defer stdinW.Close()
	go func() {
		done <- runConnect(ctx, []string{deadAddr + "," + live, "--name", "erin"}, stdin, out, io.Discard)
	}()
	out.expect(t, "using ws://"+deadAddr+"/ for "+deadAddr)
	out.expect(t, "could not connect to ws://"+deadAddr+"/")
	out.expect(t, "connected as erin")
	out.expect(t, "online (1): erin")

	// The server goes away: every attempt, to one URL then the other, is
	// one line.
	hs.CloseClientConnections()
	hs.Close()
	_ = srv.Shutdown(context.Background())
	out.expect(t, "disconnected (close code")
	first := out.expect(t, "reconnecting to ws://")
	if !strings.Contains(first, "(attempt 1): ") {
		t.Fatalf("first attempt: %q", first)
	}
	second := out.expect(t, "reconnecting to ws://")
	if !strings.Contains(second, "(attempt 2): ") {
		t.Fatalf("second attempt: %q", second)
	}
	cancel()
	out.expect(t, "interrupted: leaving and exiting")
	if err := testkit.Recv(t, done, testkit.Timeout, "return after Ctrl-C"); err != nil {
		t.Fatal(err)
	}
}
