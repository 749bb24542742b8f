package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rollcall/rollcall/client"
	"github.com/rollcall/rollcall/internal/testkit"
)

// TestClusterDeployUnderGrace stops a node with SIGTERM under
// --presence-grace: its clients (authenticated users) move to the other
// nodes, and the observers there hear no leave and no join of them; the
// stopped node waits for them to move before it leaves the cluster.
func TestClusterDeployUnderGrace(t *testing.T) {
	users := []string{"zed", "yan", "m0", "m1", "m2", "m3", "m4"}
	var file strings.Builder
	h := testHash(t, "pw")
	for _, u := range users {
		fmt.Fprintf(&file, "%s:%s\n", u, h)
	}
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	nodes := startCluster(t, 3, nil, "--auth", "basic", "--users", path, "--presence-grace", "5s")
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	ctx := ctx10(t)
	as := func(user string) func(*client.Options) {
		return func(o *client.Options) {
			o.HTTPHeader = http.Header{}
			r, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
			r.SetBasicAuth(user, "pw")
			o.HTTPHeader.Set("Authorization", r.Header.Get("Authorization"))
		}
	}
	z := dial(t, wsURL(n3), "zed", as("zed"))
	y := dial(t, wsURL(n2), "yan", as("yan"))
	for _, o := range []*tclient{z, y} {
		if err := o.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
	}
	moved := make(chan string, 16)
	var movers []*tclient
	for i := range 5 {
		name := fmt.Sprintf("m%d", i)
		m := dial(t, wsURL(n1), name, func(o *client.Options) {
			as(name)(o)
			o.NoReconnect = false
			o.URLs = []string{wsURL(n2), wsURL(n3)}
			o.ReconnectMin, o.ReconnectMax = 50*time.Millisecond, 500*time.Millisecond
			o.OnConnect = func(s string) { moved <- name }
		})
		<-moved // its first connect
		if err := m.Subscribe(ctx, "room"); err != nil {
			t.Fatal(err)
		}
		movers = append(movers, m)
	}
	for _, m := range movers {
		waitAll(t, "sub room "+m.id, 5*time.Second, z, y)
	}
	termed := time.Now()
	n1.signal(t, syscall.SIGTERM)
	for range movers {
		testkit.Recv(t, moved, 10*time.Second, "every mover to reconnect elsewhere")
	}
	// Each mover subscribes "room" again as it reconnects; the node's
	// member list shows every one of them present all along.
	testkit.Poll(t, 10*time.Second, func() error {
		for _, m := range movers {
			if !slices.Contains(m.Subscriptions(), "room") {
				return fmt.Errorf("%s is not back in room", m.name)
			}
		}
		return nil
	})
	if code := n1.wait(t, 12*time.Second); code != 0 {
		t.Fatalf("n1 exit %d", code)
	}
	t.Logf("n1 drained and stopped %v after SIGTERM", time.Since(termed))
	if ids := z.memberIDs(t, "room"); len(ids) != 7 {
		t.Fatalf("room on n3 after the deploy: %v", ids)
	}
	for _, m := range movers {
		for _, o := range []*tclient{z, y} {
			for _, ev := range []string{"leave " + m.id, "unsub room " + m.id} {
				if n := o.count(ev); n != 0 {
					t.Errorf("%s heard %q %d times during the deploy", o.name, ev, n)
				}
			}
			once(t, "join "+m.id, o)
			once(t, "sub room "+m.id, o)
		}
	}
}
