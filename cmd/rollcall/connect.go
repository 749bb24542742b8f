package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/protocol/sgcwire"
)

const connectHelp = `Lines you type are published to the current channel (the last one joined,
or everyone when you are in none). Commands:
  /join CH         join channel CH and make it current
  /leave [CH]      leave CH (default: the current channel)
  /members [CH]    list who is in CH, or everyone online
  /invite CH WHO   invite a member to CH, by name or id
  /accept          accept the latest invitation
  /refuse          refuse the latest invitation
  /quit            leave (Ctrl-D works too)
  /help            this text`

// commandTimeout bounds one command's round trip to the server.
const commandTimeout = 10 * time.Second

// runConnect implements `rollcall connect URL --name NAME [--info TEXT]
// [--channel CH] [--base64]`: an interactive terminal client.
func runConnect(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rollcall connect", flag.ContinueOnError)
	name := fs.String("name", "", "your member name (required)")
	info := fs.String("info", "", "your member info")
	channel := fs.String("channel", "", "channel to join at start")
	b64 := fs.Bool("base64", false, "send values sgc@b64:-encoded")
	user := fs.String("user", "", "user name for HTTP Basic authentication; the password comes from ROLLCALL_PASSWORD, or is asked for at a terminal")
	token := fs.String("token", os.Getenv("ROLLCALL_TOKEN"), "bearer token (JWT) for an authenticating server (env ROLLCALL_TOKEN)")
	fs.Usage = func() {
		stderr := fs.Output()
		fmt.Fprintln(stderr, "Usage: rollcall connect URL[,URL...] --name NAME [--info TEXT] [--channel CH] [--base64] [--user USER | --token JWT]")
		fs.PrintDefaults()
		fmt.Fprintln(stderr, "\n"+connectHelp)
	}
	// Flags may come before or after the URL.
	var positional []string
	for rest := args; ; {
		if err := parseFlags(fs, rest, stderr); err != nil {
			return err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		positional, rest = append(positional, rest[0]), rest[1:]
	}
	switch {
	case *name == "" && *user == "" && *token == "":
		return usageError{"connect: --name is required (or credentials: --user or --token)"}
	case *user != "" && *token != "":
		return usageError{"connect: use --user or --token, not both"}
	}
	urls, notes, err := serverURLs(positional)
	if err != nil {
		return err
	}
	header := http.Header{}
	switch {
	case *user != "":
		pw, err := password(*user, stdin, stderr)
		if err != nil {
			return err
		}
		r := &http.Request{Header: header}
		r.SetBasicAuth(*user, pw)
		if *name == "" {
			*name = *user
		}
	case *token != "":
		header.Set("Authorization", "Bearer "+*token)
	}

	t := &term{out: stdout, greeted: make(chan struct{}), listed: make(chan struct{}, 1), prompt: isTerminal(stdin) && isTerminal(stdout)}
	for _, n := range notes {
		t.println(n)
	}
	c, err := dialAny(ctx, t, urls, t.options(client.Options{Name: *name, Info: *info, EncodeBase64: *b64, HTTPHeader: header}))
	if err != nil {
		return err
	}
	t.c = c
	defer c.Close()
	// OnConnect runs on the client's event goroutine; wait for its greeting
	// so that it comes before the member lists printed below.
	select {
	case <-t.greeted:
	case <-ctx.Done():
		t.println("interrupted: exiting")
		return nil
	}

	if *channel != "" {
		t.join(ctx, *channel)
	}
	t.members(ctx, "")
	t.println("type /help for commands")
	t.showPrompt()

	lines := make(chan string)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-done:
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			t.mu.Lock()
			t.quitting = true
			t.mu.Unlock()
			t.println("interrupted: leaving and exiting")
			return nil
		case line, ok := <-lines:
			t.typed()
			if !ok || !t.command(ctx, line) {
				t.mu.Lock()
				t.quitting = true
				t.mu.Unlock()
				return nil
			}
			t.showPrompt()
		}
	}
}

// dialAny connects to the first of urls that answers, in order, saying so
// when one does not; each reconnection goes to the next of them (the Go
// client's Options.URLs).
func dialAny(ctx context.Context, t *term, urls []string, o client.Options) (*client.Client, error) {
	var errs []error
	for i, u := range urls {
		o.URLs = append(slices.Clone(urls[i+1:]), urls[:i]...)
		c, err := client.Dial(ctx, u, o)
		if err == nil {
			return c, nil
		}
		if why := handshakeRefusal(ctx, u, o.HTTPHeader); why != "" {
			err = fmt.Errorf("%w; the server said: %s", err, why)
		}
		if len(urls) == 1 {
			return nil, fmt.Errorf("connect: %w", err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", u, err))
		if i+1 < len(urls) && ctx.Err() == nil {
			t.printf("could not connect to %s: %v; trying %s", u, err, urls[i+1])
		}
	}
	return nil, fmt.Errorf("connect: no server answered: %w", errors.Join(errs...))
}

// term is the terminal client's state; mu also keeps output lines whole.
type term struct {
	out io.Writer
	c   *client.Client

	mu        sync.Mutex
	joined    []string // channels in the order joined; the last is current
	invites   []*client.Invitation
	session   string
	me        client.Member // the member the server confirmed on this connection
	connected bool
	greeted   chan struct{} // closed once the first connection is announced
	quitting  bool

	// Whole-server member lists asked for, and their replies seen by
	// OnGetMembers (on the client's event goroutine, after every event of
	// the frames before them); listed is signalled at each reply.
	listAsked, listSeen int
	listed              chan struct{}
	watch               *inviteWatch // the /invite waiting for the server's verdict

	// prompt is on when a person types at a terminal: the prompt stays on
	// its own line below the output (which clears it and draws it again).
	prompt      bool
	promptShown bool
}

// inviteWatch collects the refusals of one invitation: errors naming its
// channel.
type inviteWatch struct {
	channel string
	errs    []client.Error
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// clearPrompt erases a prompt shown on the current line, so that output
// goes above it; t.mu is held.
func (t *term) clearPrompt() {
	if t.promptShown {
		fmt.Fprint(t.out, "\r\x1b[K")
	}
}

// redrawPrompt shows the prompt again after output, if it was shown; t.mu
// is held.
func (t *term) redrawPrompt() {
	if t.promptShown {
		fmt.Fprint(t.out, t.promptText())
	}
}

// promptText names where a typed line goes; t.mu is held.
func (t *term) promptText() string {
	ch := ""
	if n := len(t.joined); n > 0 {
		ch = t.joined[n-1]
	}
	return where(ch) + "> "
}

// showPrompt draws the prompt when waiting for a line.
func (t *term) showPrompt() {
	if !t.prompt {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.promptShown {
		t.promptShown = true
		fmt.Fprint(t.out, t.promptText())
	}
}

// typed notes that the person ended a line: the terminal moved below the
// prompt.
func (t *term) typed() {
	t.mu.Lock()
	t.promptShown = false
	t.mu.Unlock()
}

func (t *term) println(a ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearPrompt()
	fmt.Fprintln(t.out, a...)
	t.redrawPrompt()
}

func (t *term) printf(format string, a ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clearPrompt()
	fmt.Fprintf(t.out, format+"\n", a...)
	t.redrawPrompt()
}

func display(m client.Member) string {
	switch {
	case m.ID == "" && m.Name == "":
		return "(server)"
	case m.Name == "":
		return m.ID
	}
	return m.Name
}

func where(channel string) string {
	if channel == "" {
		return "[everyone]"
	}
	return "[" + channel + "]"
}

// self reports whether m is this client (events may arrive before Dial
// returns, so the session comes from OnSession, not from t.c): its session
// id, or the id the server gave its member (an authenticating server names
// the member after the identity).
func (t *term) self(m client.Member) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return m.ID == t.session || (t.me.ID != "" && m.ID == t.me.ID)
}

func (t *term) options(o client.Options) client.Options {
	o.OnSession = func(session string) {
		t.mu.Lock()
		t.session = session
		t.me = client.Member{}
		t.mu.Unlock()
	}
	o.OnConnect = func(session string) {
		t.mu.Lock()
		again := t.connected
		t.connected = true
		me := t.me
		t.mu.Unlock()
		// The name (and id) the server gave the member, which an
		// authenticating server may have corrected.
		who := display(me)
		if me.ID != "" && me.ID != session {
			who += " (id " + me.ID + ")"
		}
		if again {
			t.printf("reconnected as %s, session %s", who, session)
		} else {
			t.printf("connected as %s, session %s", who, session)
			close(t.greeted)
		}
	}
	o.OnDisconnect = func(code int) {
		t.mu.Lock()
		quitting := t.quitting
		t.mu.Unlock()
		if !quitting {
			t.printf("disconnected (close code %d), reconnecting…", code)
		}
	}
	o.OnReconnectFailed = func(url string, attempt int, err error) {
		t.printf("reconnecting to %s (attempt %d): %v", url, attempt, err)
	}
	o.OnError = func(err error) { t.printf("error: %v", err) }
	o.OnException = func(err error) { t.printf("error: %v", err) }
	o.OnNewMember = func(m client.Member) {
		// A connection hears of nobody before it joined: the first
		// member@new after the session is its own.
		t.mu.Lock()
		own := t.me.ID == "" && t.session != ""
		if own {
			t.me = m
		}
		t.mu.Unlock()
		if !own && !t.self(m) {
			t.printf("* %s is online", display(m))
		}
	}
	o.OnGetMembers = func(ch string, _ []client.Member) {
		if ch != "" {
			return
		}
		t.mu.Lock()
		t.listSeen++
		t.mu.Unlock()
		select {
		case t.listed <- struct{}{}:
		default:
		}
	}
	o.OnRemoveMember = func(m client.Member) { t.printf("* %s went offline", display(m)) }
	o.OnNewChannelMember = func(ch string, m client.Member) {
		if !t.self(m) {
			t.printf("%s %s joined", where(ch), display(m))
		}
	}
	o.OnRemoveChannelMember = func(ch string, m client.Member) {
		if !t.self(m) {
			t.printf("%s %s left", where(ch), display(m))
		}
	}
	o.OnPublishMsg = func(text, ch string, from client.Member) {
		t.printf("%s %s: %s", where(ch), display(from), text)
	}
	o.OnChannelInvitation = func(inv *client.Invitation) {
		t.mu.Lock()
		t.invites = append(t.invites, inv)
		t.mu.Unlock()
		t.printf("%s invites you to %s — /accept or /refuse", display(inv.From), inv.Channel)
	}
	o.OnChannelInvitationResponse = func(r client.InvitationResponse) {
		if r.Accepted {
			t.printf("%s accepted your invitation to %s", display(r.Invitee), r.Channel)
		} else {
			t.printf("%s refused your invitation to %s: %s (%d)", display(r.Invitee), r.Channel, r.Error.Text, r.Error.Code)
		}
	}
	o.OnErrorMemberChannel = func(e client.Error, ch string, _ client.Member) {
		t.mu.Lock()
		w := t.watch
		watched := w != nil && ch == w.channel
		if watched {
			w.errs = append(w.errs, e)
		}
		t.mu.Unlock()
		if watched {
			return // the /invite command reports it
		}
		if ch != "" {
			t.printf("error %d: %s %s", e.Code, e.Text, where(ch))
		} else {
			t.printf("error %d: %s", e.Code, e.Text)
		}
	}
	o.OnErrorPublishMsg = func(e client.Error, text, ch string, _ client.Member) {
		t.printf("not delivered to %s: %q: %s (%d)", where(ch), text, e.Text, e.Code)
	}
	return o
}

// current is the channel lines go to: the last joined, or "" for everyone.
func (t *term) current() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.joined) == 0 {
		return ""
	}
	return t.joined[len(t.joined)-1]
}

func (t *term) setJoined(ch string, in bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.joined = slices.DeleteFunc(t.joined, func(x string) bool { return x == ch })
	if in {
		t.joined = append(t.joined, ch)
	}
}

// fail prints a command's error; server errors already reached
// OnErrorMemberChannel.
func (t *term) fail(what string, err error) {
	if !errors.As(err, new(*client.Error)) {
		t.printf("%s: %v", what, err)
	}
}

// command runs one input line; false means quit.
func (t *term) command(ctx context.Context, line string) bool {
	line = strings.TrimSpace(line)
	if line == "" {
		return true
	}
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	if !strings.HasPrefix(line, "/") {
		if err := t.c.Publish(ctx, t.current(), line); err != nil {
			t.fail("publish", err)
		}
		return true
	}
	f := strings.Fields(line)
	cmd, args := f[0], f[1:]
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch {
	case cmd == "/quit" || cmd == "/exit":
		return false
	case cmd == "/help":
		t.println(connectHelp)
	case cmd == "/join" && len(args) == 1:
		t.join(ctx, args[0])
	case cmd == "/leave" && len(args) <= 1:
		ch := arg(0)
		if ch == "" {
			ch = t.current()
		}
		if ch == "" {
			t.println("you are in no channel")
			break
		}
		if err := t.c.Unsubscribe(ctx, ch); err != nil {
			t.fail("leave "+ch, err)
			break
		}
		t.setJoined(ch, false)
		t.printf("left %s; talking to %s", ch, where(t.current()))
	case cmd == "/members" && len(args) <= 1:
		t.members(ctx, arg(0))
	case cmd == "/invite" && len(args) == 2:
		t.invite(ctx, args[0], args[1])
	case (cmd == "/accept" || cmd == "/refuse") && len(args) == 0:
		t.answer(ctx, cmd == "/accept")
	case cmd == "/join" || cmd == "/leave" || cmd == "/members" || cmd == "/invite" || cmd == "/accept" || cmd == "/refuse":
		t.printf("wrong arguments for %s; /help lists the commands", cmd)
	default:
		t.printf("unknown command %s; /help lists the commands", cmd)
	}
	return true
}

func (t *term) join(ctx context.Context, ch string) {
	if err := t.c.Subscribe(ctx, ch); err != nil {
		t.fail("join "+ch, err)
		return
	}
	t.setJoined(ch, true)
	t.members(ctx, ch)
}

// listMembers asks for every member online, counting the request so that
// afterListed can wait for its reply's event.
func (t *term) listMembers(ctx context.Context) ([]client.Member, error) {
	t.mu.Lock()
	t.listAsked++
	t.mu.Unlock()
	ms, err := t.c.GetMembers(ctx, "")
	if err != nil {
		t.mu.Lock()
		t.listAsked-- // no send@members came, so no OnGetMembers will
		t.mu.Unlock()
	}
	return ms, err
}

// afterListed waits until the client has run the events of every frame
// up to the reply to the last member list asked for.
func (t *term) afterListed(ctx context.Context) error {
	t.mu.Lock()
	want := t.listAsked
	t.mu.Unlock()
	for {
		t.mu.Lock()
		seen := t.listSeen
		t.mu.Unlock()
		if seen >= want {
			return nil
		}
		select {
		case <-t.listed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// resolveMember finds who (an id, or else a name) among ms; problem says
// why not.
func resolveMember(ms []client.Member, who string) (m client.Member, problem string) {
	for _, x := range ms {
		if x.ID == who {
			return x, ""
		}
	}
	var named []client.Member
	for _, x := range ms {
		if x.Name == who {
			named = append(named, x)
		}
	}
	if len(named) == 0 {
		for _, x := range ms {
			if strings.EqualFold(x.Name, who) {
				named = append(named, x)
			}
		}
	}
	switch len(named) {
	case 0:
		return m, fmt.Sprintf("nobody named %q (or with that id) is online; /members lists who is", who)
	case 1:
		return named[0], ""
	}
	ids := make([]string, len(named))
	for i, x := range named {
		ids[i] = x.ID
	}
	return m, fmt.Sprintf("%d members are named %q: %s; /invite CH ID picks one", len(named), who, strings.Join(ids, ", "))
}

// invite invites who (a name or an id) to ch, and reports success only
// once the server has taken the invitation: it answers an invitation only
// to refuse it, so a member list asked for after the invitation, whose
// reply comes after any such refusal, settles it.
func (t *term) invite(ctx context.Context, ch, who string) {
	ms, err := t.listMembers(ctx)
	if err != nil {
		t.fail("invite", err)
		return
	}
	target, problem := resolveMember(ms, who)
	if problem != "" {
		t.println(problem)
		return
	}
	w := &inviteWatch{channel: ch}
	t.mu.Lock()
	t.watch = w
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.watch = nil
		t.mu.Unlock()
	}()
	if err := t.c.Invite(ctx, ch, target.ID); err != nil {
		t.printf("invite: %v", err)
		return
	}
	if _, err := t.listMembers(ctx); err != nil {
		t.printf("invite: no answer from the server: %v", err)
		return
	}
	if err := t.afterListed(ctx); err != nil {
		t.printf("invite: no answer from the server: %v", err)
		return
	}
	t.mu.Lock()
	errs := w.errs
	t.mu.Unlock()
	if len(errs) > 0 {
		t.printf("could not invite %s to %s: %s (error %d)", display(target), ch, errs[0].Text, errs[0].Code)
		return
	}
	t.printf("invited %s (%s) to %s", display(target), target.ID, ch)
}

// members prints who is in ch, or everyone online when ch is empty.
func (t *term) members(ctx context.Context, ch string) {
	var ms []client.Member
	var err error
	if ch == "" {
		ms, err = t.listMembers(ctx)
	} else {
		ms, err = t.c.GetMembers(ctx, ch)
	}
	if err != nil {
		t.fail("members", err)
		return
	}
	slices.SortFunc(ms, func(a, b client.Member) int { return strings.Compare(display(a), display(b)) })
	list := make([]string, len(ms))
	for i, m := range ms {
		list[i] = display(m) + " (" + m.ID + ")"
	}
	label := "online"
	if ch != "" {
		label = where(ch) + " members"
	}
	t.printf("%s (%d): %s", label, len(ms), strings.Join(list, ", "))
}

// answer accepts or refuses the latest invitation.
func (t *term) answer(ctx context.Context, accept bool) {
	t.mu.Lock()
	var inv *client.Invitation
	if n := len(t.invites); n > 0 {
		inv = t.invites[n-1]
		t.invites = t.invites[:n-1]
	}
	t.mu.Unlock()
	if inv == nil {
		t.println("no invitation to answer")
		return
	}
	if !accept {
		if err := inv.Refuse(ctx, client.CodeInvitationDeclined, client.TextInvitationDeclined); err != nil {
			t.fail("refuse", err)
			return
		}
		t.printf("refused %s's invitation to %s", display(inv.From), inv.Channel)
		return
	}
	if err := inv.Accept(ctx); err != nil {
		t.fail("accept", err)
		return
	}
	t.setJoined(inv.Channel, true)
	t.members(ctx, inv.Channel)
}

// handshakeRefusal dials url once more to read why the server refused the
// handshake (rollcall answers 401 and 403 with the reason in the body);
// "" when it did not answer with an HTTP error.
func handshakeRefusal(ctx context.Context, url string, header http.Header) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header, Subprotocols: []string{sgcwire.Subprotocol}})
	if err == nil {
		c.CloseNow()
		return ""
	}
	if resp == nil || resp.StatusCode < 400 {
		return ""
	}
	var body []byte
	if resp.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(resp.Body, 512))
	}
	why := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(body)), "rollcall: "))
	if why == "" {
		return resp.Status
	}
	return resp.Status + ": " + why
}
