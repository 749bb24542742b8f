package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// cfWait bounds every wait of the comparator tests: generous, only a hung
// or broken run reaches it.
const cfWait = 60 * time.Second

// buildCentrifuge builds the comparator into the test's temporary
// directory and returns the binary.
func buildCentrifuge(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "centrifuge")
	build := exec.Command("go", "build", "-C", "../../bench/centrifuge", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the comparator: %v\n%s", err, out)
	}
	return bin
}

// startCentrifuge builds the comparator, runs it on a free loopback port
// with a ping every pingInterval (and flags) and returns its base URL; the
// test's cleanup stops it.
func startCentrifuge(t *testing.T, pingInterval time.Duration, flags ...string) string {
	t.Helper()
	bin := buildCentrifuge(t)

	cmd := exec.Command(bin, append([]string{"--addr", "127.0.0.1:0", "--ping-interval", pingInterval.String()}, flags...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("comparator stdout: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the comparator: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("comparator exit: %v\n%s", err, stderr.String())
			}
		case <-time.After(cfWait):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("comparator did not stop on SIGTERM\n%s", stderr.String())
		}
	})

	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		s.Scan()
		line <- s.Text()
	}()
	select {
	case l := <-line:
		addr, ok := strings.CutPrefix(l, "listening on ")
		if !ok {
			t.Fatalf("comparator said %q, want \"listening on ADDR\"", l)
		}
		return "ws://" + addr + "/"
	case <-time.After(cfWait):
		_ = cmd.Process.Kill() // ends the scanner; the cleanup waits
		t.Fatalf("comparator did not say where it listens")
		return ""
	}
}

// cfRecorder records what one client's Handler receives.
type cfRecorder struct {
	mu      sync.Mutex
	events  []string
	changed chan struct{}
}

func newCFRecorder() *cfRecorder { return &cfRecorder{changed: make(chan struct{}, 1)} }

func (r *cfRecorder) add(format string, args ...any) {
	r.mu.Lock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *cfRecorder) handler() *Handler {
	return &Handler{
		Message: func(ch string, p []byte) { r.add("msg %s %q", ch, p) },
		Join:    func(ch, m string) { r.add("join %s %s", ch, m) },
		Leave:   func(ch, m string) { r.add("leave %s %s", ch, m) },
		Members: func(ch string, ms []string) {
			ms = slices.Clone(ms)
			slices.Sort(ms)
			r.add("members %s %s", ch, strings.Join(ms, ","))
		},
		Error: func(err error) { r.add("error %v", err) },
	}
}

func (r *cfRecorder) count(event string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.events {
		if e == event {
			n++
		}
	}
	return n
}

// wait waits until event has been recorded.
func (r *cfRecorder) wait(t *testing.T, who, event string) {
	t.Helper()
	deadline := time.After(cfWait)
	for r.count(event) == 0 {
		select {
		case <-r.changed:
		case <-deadline:
			r.mu.Lock()
			defer r.mu.Unlock()
			t.Fatalf("%s: no %q after %v; got %q", who, event, cfWait, r.events)
		}
	}
}

// takePrefix waits for an event starting with prefix and removes it.
func (r *cfRecorder) takePrefix(t *testing.T, who, prefix string) string {
	t.Helper()
	deadline := time.After(cfWait)
	for {
		r.mu.Lock()
		for i, e := range r.events {
			if strings.HasPrefix(e, prefix) {
				r.events = slices.Delete(r.events, i, i+1)
				r.mu.Unlock()
				return e
			}
		}
		events := slices.Clone(r.events)
		r.mu.Unlock()
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("%s: no %q... after %v; got %q", who, prefix, cfWait, events)
		}
	}
}

func TestCentrifugeDriver(t *testing.T) {
	const ping = time.Second
	target := startCentrifuge(t, ping)
	ctx, cancel := context.WithTimeout(context.Background(), cfWait)
	defer cancel()

	var d Driver = Centrifuge{}
	names := []string{"u1", "u2", "u3"}
	recs := make([]*cfRecorder, len(names))
	clients := make([]Client, len(names))
	ids := make([]string, len(names))
	for i, name := range names {
		recs[i] = newCFRecorder()
		c, err := d.Dial(ctx, target, nil, name, recs[i].handler())
		if err != nil {
			t.Fatalf("dial %s: %v", name, err)
		}
		clients[i], ids[i] = c, c.ID()
		defer c.Close()
	}
	if ids[0] == "" || ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
		t.Fatalf("client ids %q: want three distinct ids", ids)
	}

	// Joins one by one: each is confirmed to the joiner and reported to the
	// members already there.
	const room = "room"
	for i, c := range clients {
		if err := c.Join(room); err != nil {
			t.Fatalf("join %s: %v", names[i], err)
		}
		for j := 0; j <= i; j++ {
			recs[j].wait(t, names[j], "join "+room+" "+ids[i])
		}
	}

	// Outlive a few server pings: unanswered, they would disconnect.
	time.Sleep(5 * ping / 2)

	payload := []byte("hé \"quoted\" \\ \n\t\x01 ✓ {}")
	if err := clients[0].Publish(room, payload); err != nil {
		t.Fatalf("publish: %v", err)
	}
	// A second publication from the same sender comes after the first.
	if err := clients[0].Publish(room, []byte("end")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	want := fmt.Sprintf("msg %s %q", room, payload)
	for _, i := range []int{1, 2} {
		recs[i].wait(t, names[i], fmt.Sprintf("msg %s %q", room, "end"))
		if n := recs[i].count(want); n != 1 {
			t.Errorf("%s got the publication %d times, want once", names[i], n)
		}
	}

	if err := clients[1].Members(room); err != nil {
		t.Fatalf("members: %v", err)
	}
	sorted := slices.Sorted(slices.Values(ids))
	recs[1].wait(t, names[1], "members "+room+" "+strings.Join(sorted, ","))

	// Publishing where one is not subscribed is refused.
	if err := clients[1].Publish("elsewhere", []byte("x")); err != nil {
		t.Fatalf("publish elsewhere: %v", err)
	}
	if e := recs[1].takePrefix(t, names[1], "error "); !strings.Contains(e, "elsewhere") {
		t.Errorf("error %q does not name the channel", e)
	}

	if err := clients[2].Close(); err != nil {
		t.Errorf("close %s: %v", names[2], err)
	}
	for _, i := range []int{0, 1} {
		recs[i].wait(t, names[i], "leave "+room+" "+ids[2])
	}
	for i, c := range clients[:2] {
		if err := c.Close(); err != nil {
			t.Errorf("close %s: %v", names[i], err)
		}
	}
	for i, r := range recs {
		r.mu.Lock()
		for _, e := range r.events {
			if strings.HasPrefix(e, "error ") {
				t.Errorf("%s: unexpected %s", names[i], e)
			}
		}
		r.mu.Unlock()
	}
}

func TestCentrifugeJSONString(t *testing.T) {
	for _, s := range []string{"", "plain", "é✓", "\"\\\n\r\t\x00\x1f", "<>&\u2028"} {
		b := appendJSONString(nil, []byte(s))
		var d cfData
		if err := d.UnmarshalJSON(b); err != nil {
			t.Fatalf("%q → %s: %v", s, b, err)
		}
		if string(d) != s {
			t.Errorf("%q → %s → %q", s, b, d)
		}
	}
	if got := string(appendJSONString(nil, []byte{'a', 0xff, 'b'})); got != `"a\ufffdb"` {
		t.Errorf("invalid UTF-8 encoded as %s", got)
	}
}

// cfFastPub takes plain publications and declines everything else to the
// full decoder.
func TestCentrifugeFastPub(t *testing.T) {
	ch, data, ok := cfFastPub([]byte(`{"push":{"channel":"fan-1","pub":{"data":"0001|x...","info":{"client":"c1"}}}}`))
	if !ok || ch != "fan-1" || string(data) != "0001|x..." {
		t.Fatalf("plain publication: %q %q %v", ch, data, ok)
	}
	for _, line := range []string{
		`{"push":{"channel":"fan-1","join":{"info":{"client":"c1"}}}}`,
		`{"push":{"channel":"fan-1","pub":{"data":"a \"quoted\" b"}}}`,
		`{"push":{"channel":"fan-1","pub":{"data":{"k":1}}}}`,
		`{"id":3,"publish":{}}`,
	} {
		if ch, data, ok := cfFastPub([]byte(line)); ok {
			t.Errorf("%s: took %q %q", line, ch, data)
		}
	}
}

// The comparator names its node (--node) and lists the nodes it knows at
// /debug/nodes: without --redis, itself alone. The bench cluster's
// comparator waits on this list.
func TestCentrifugeNodeList(t *testing.T) {
	target := startCentrifuge(t, time.Second, "--node", "c7")
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	url := "http://" + strings.TrimSuffix(strings.TrimPrefix(target, "ws://"), "/") + "/debug/nodes"
	deadline := time.Now().Add(cfWait)
	for {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		var v struct {
			Nodes []struct {
				Name    string `json:"name"`
				Clients uint32 `json:"clients"`
			} `json:"nodes"`
		}
		err = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s, %v", url, resp.Status, err)
		}
		if len(v.Nodes) == 1 && v.Nodes[0].Name == "c7" {
			return
		}
		if len(v.Nodes) > 1 || time.Now().After(deadline) {
			t.Fatalf("%s lists %+v, want the node c7 alone", url, v.Nodes)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --redis takes a loopback address only, and the comparator says so before
// it connects anywhere.
func TestCentrifugeRedisLoopbackOnly(t *testing.T) {
	bin := buildCentrifuge(t)
	out, err := exec.Command(bin, "--addr", "127.0.0.1:0", "--redis", "192.0.2.1:6379").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "only a loopback address") {
		t.Fatalf("--redis 192.0.2.1:6379: %v, %s; want a refusal", err, out)
	}
}
