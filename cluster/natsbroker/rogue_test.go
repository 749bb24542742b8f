package natsbroker

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// logLines is a nats-server Logger that keeps the lines and wakes waiters.
type logLines struct {
	mu    sync.Mutex
	lines []string
	wake  chan struct{}
}

func newLogLines() *logLines { return &logLines{wake: make(chan struct{})} }

func (l *logLines) add(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, v...))
	close(l.wake)
	l.wake = make(chan struct{})
}

func (l *logLines) Noticef(format string, v ...any) { l.add(format, v...) }
func (l *logLines) Warnf(format string, v ...any)   { l.add(format, v...) }
func (l *logLines) Fatalf(format string, v ...any)  { l.add(format, v...) }
func (l *logLines) Errorf(format string, v ...any)  { l.add(format, v...) }
func (l *logLines) Debugf(format string, v ...any)  { l.add(format, v...) }
func (l *logLines) Tracef(format string, v ...any)  { l.add(format, v...) }

// wait returns the first line matching re, failing the test after timeout.
func (l *logLines) wait(t *testing.T, re *regexp.Regexp, timeout time.Duration) string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for _, s := range l.lines {
			if re.MatchString(s) {
				l.mu.Unlock()
				return s
			}
		}
		wake := l.wake
		l.mu.Unlock()
		select {
		case <-wake:
		case <-deadline.C:
			l.mu.Lock()
			defer l.mu.Unlock()
			t.Fatalf("timed out after %v waiting for a log line matching %s; log:\n%s", timeout, re, strings.Join(l.lines, "\n"))
		}
	}
}

// rogue is a plain nats-server (no rollcall node) routing to a node, with
// a client listener a test can publish through.
type rogue struct {
	srv  *server.Server
	logs *logLines
}

// startRogue starts a nats-server named name with a route to routeTo
// (host:port), presenting user and password when user is set.
func startRogue(t *testing.T, name, routeTo, user, password string, tweak func(*server.Options)) *rogue {
	t.Helper()
	u := &url.URL{Scheme: "nats-route", Host: routeTo}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	so := &server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       server.RANDOM_PORT,
		NoSigs:     true,
		Cluster: server.ClusterOpts{
			Name: defaultClusterName, Host: "127.0.0.1", Port: server.RANDOM_PORT,
			Username: user, Password: password,
		},
		Routes: []*url.URL{u},
	}
	if tweak != nil {
		tweak(so)
	}
	srv, err := server.NewServer(so)
	if err != nil {
		t.Fatal(err)
	}
	r := &rogue{srv: srv, logs: newLogLines()}
	srv.SetLogger(r.logs, true, false)
	srv.Start()
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("rogue nats-server did not start")
	}
	return r
}

// connect returns a NATS client of the rogue server.
func (r *rogue) connect(t *testing.T) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(r.srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func rx(s string) *regexp.Regexp { return regexp.MustCompile(s) }
