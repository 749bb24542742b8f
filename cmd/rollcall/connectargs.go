package main

import (
	"bufio"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"
)

// serverURLs turns the URLs given to connect (positional, or comma-separated)
// into WebSocket URLs: a URL without a scheme gets ws://, http:// becomes
// ws:// and https:// wss://, and a path defaults to /. notes say what was
// changed, for the person to see; another scheme is a usageError that
// says what to write.
func serverURLs(args []string) (urls, notes []string, err error) {
	for _, arg := range args {
		for _, raw := range strings.Split(arg, ",") {
			raw = strings.TrimSpace(raw)
			if raw == "" {
				continue
			}
			u, note, err := serverURL(raw)
			if err != nil {
				return nil, nil, err
			}
			urls = append(urls, u)
			if note != "" {
				notes = append(notes, note)
			}
		}
	}
	if len(urls) == 0 {
		return nil, nil, usageError{"connect: want a server URL, e.g. rollcall connect ws://localhost:8080/ --name alice"}
	}
	return urls, notes, nil
}

func serverURL(raw string) (string, string, error) {
	s := raw
	if !strings.Contains(s, "://") {
		s = "ws://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", "", usageError{fmt.Sprintf("connect: %q is not a server address: want ws://host:port/ (or wss://), e.g. ws://localhost:8080/", raw)}
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", "", usageError{fmt.Sprintf("connect: %q: the scheme %s is not WebSocket: use ws://%s%s (or wss:// with TLS)", raw, u.Scheme, u.Host, u.EscapedPath())}
	}
	if u.Path == "" {
		u.Path = "/"
	}
	out := u.String()
	if out == raw {
		return out, "", nil
	}
	return out, fmt.Sprintf("using %s for %s", out, raw), nil
}

// passwordEnv holds the password of connect --user.
const passwordEnv = "ROLLCALL_PASSWORD"

// password is the password of connect --user: $ROLLCALL_PASSWORD, or, at a
// terminal, typed without echo after a prompt on stderr.
func password(user string, stdin io.Reader, stderr io.Writer) (string, error) {
	if pw, ok := os.LookupEnv(passwordEnv); ok {
		return pw, nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return "", usageError{fmt.Sprintf("connect: --user %s needs a password: set %s (or run at a terminal to be asked for it)", user, passwordEnv)}
	}
	// Echo off with stty, so that no dependency is needed for it; stty
	// fails on a character device that is not a terminal (/dev/null).
	if err := stty(f, "-echo"); err != nil {
		return "", usageError{fmt.Sprintf("connect: --user %s needs a password: set %s (stdin is not a terminal to ask at)", user, passwordEnv)}
	}
	fmt.Fprintf(stderr, "password for %s: ", user)
	line, err := bufio.NewReader(f).ReadString('\n')
	_ = stty(f, "echo")
	fmt.Fprintln(stderr)
	if err != nil && line == "" {
		return "", fmt.Errorf("connect: read the password: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func stty(tty *os.File, arg string) error {
	cmd := exec.Command("stty", arg)
	cmd.Stdin = tty
	return cmd.Run()
}
