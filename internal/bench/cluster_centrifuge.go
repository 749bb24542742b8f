package bench

// The comparator of the cluster crash: three Centrifuge nodes
// (bench/centrifuge with --redis) on Centrifuge's Redis broker and Redis
// presence manager, on a redis-server the bench starts for the run.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// startCentrifugeNodes starts k comparator nodes c1..ck on the Redis at
// redisAddr and waits until each lists all k in its node info. Their
// output goes to the bench's log.
func (b *cluster) startCentrifugeNodes(ctx context.Context, redisAddr string, k int) ([]*process, func(), error) {
	nodes := make([]*process, 0, k)
	stop := func() {
		for _, n := range nodes {
			n.kill()
		}
	}
	for i := range k {
		name := fmt.Sprintf("c%d", i+1)
		n, err := launch(ctx, launchSpec{
			name:      "comparator " + name,
			args:      []string{b.p.Comparator, "--addr", "127.0.0.1:0", "--redis", redisAddr, "--node", name},
			listening: comparatorListening,
			line: func(l string) {
				if !comparatorListening.MatchString(l) {
					fmt.Fprintln(b.log, l)
				}
			},
		})
		if err != nil {
			stop()
			return nil, nil, err
		}
		n.name = name
		nodes = append(nodes, n)
	}
	deadline := time.Now().Add(b.p.Timeout)
	for _, n := range nodes {
		var names []string
		var err error
		if !waitFor(ctx, time.Until(deadline), func() bool {
			names, err = centrifugeNodeNames(n)
			return err == nil && len(names) == k
		}) {
			stop()
			return nil, nil, fmt.Errorf("comparator %s lists nodes %v (%v), want %d", n.name, names, err, k)
		}
	}
	return nodes, stop, nil
}

// centrifugeNodeNames asks comparator node n for the names in its
// Centrifuge node info.
func centrifugeNodeNames(n *process) ([]string, error) {
	resp, err := http.Get("http://" + n.addr + "/debug/nodes")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/debug/nodes: %s", resp.Status)
	}
	var v struct {
		Nodes []struct {
			Name string `json:"name"`
		} `json:"nodes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, err
	}
	var names []string
	for _, x := range v.Nodes {
		names = append(names, x.Name)
	}
	slices.Sort(names)
	return names, nil
}

// cfMember is one comparator client with what it has seen.
type cfMember struct {
	c       Client
	id      atomic.Pointer[string] // set once Dial returned
	view    *leaveView[string]
	members chan []string // answers to presence requests (the latest)
}

// presence asks for room's presence through m and waits up to wait for
// the answer: the client ids present.
func (m *cfMember) presence(wait time.Duration) ([]string, error) {
	select { // a stale answer
	case <-m.members:
	default:
	}
	if err := m.c.Members("room"); err != nil {
		return nil, err
	}
	select {
	case ids := <-m.members:
		return ids, nil
	case <-time.After(wait):
		return nil, errors.New("no presence answer")
	}
}

// crashOnceCentrifuge is crashOnce on three Centrifuge nodes on one Redis:
// the members' clients connect to c1..c3 in turn and subscribe to "room"
// with join/leave; once all are subscribed and Redis lists all of them in
// the channel's presence, one node is killed with SIGKILL, and each
// surviving client's leave pushes are awaited up to the leave timeout
// while one surviving client asks for the channel's presence every
// crashPollStep.
func (b *cluster) crashOnceCentrifuge(ctx context.Context, victim int) (*crashTally, error) {
	rd, err := startRedis(ctx, b.p.RedisServer)
	if err != nil {
		return nil, err
	}
	defer rd.close()
	nodes, stop, err := b.startCentrifugeNodes(ctx, rd.addr, 3)
	if err != nil {
		return nil, err
	}
	defer stop()
	n := b.p.Members
	mem := make([]*cfMember, n)
	clients := make([]Client, n)
	var killed atomic.Bool
	var falseCount, subscribed, survivorErrors atomic.Int64
	var firstErr atomic.Value
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range n {
		m := &cfMember{view: newLeaveView[string](), members: make(chan []string, 1)}
		mem[i] = m
		h := &Handler{
			Join: func(_, member string) {
				if id := m.id.Load(); id != nil && *id == member {
					subscribed.Add(1)
				}
			},
			Leave: func(_, member string) {
				now := time.Now()
				if !killed.Load() {
					falseCount.Add(1)
				}
				m.view.leave(member, now)
			},
			Members: func(_ string, ids []string) {
				select {
				case <-m.members:
				default:
				}
				m.members <- ids
			},
			Error: func(err error) {
				if !killed.Load() {
					firstErr.CompareAndSwap(nil, err)
				} else if i%3 != victim {
					survivorErrors.Add(1)
				}
			},
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := Centrifuge{}.Dial(ctx, "ws://"+nodes[i%3].addr+"/", nil, "m"+strconv.Itoa(i), h)
			if err != nil {
				firstErr.CompareAndSwap(nil, err)
				return
			}
			id := c.ID()
			m.id.Store(&id)
			m.c = c
			clients[i] = c
		})
	}
	wg.Wait()
	defer closeAll(clients)
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	for _, m := range mem {
		if err := m.c.Join("room"); err != nil {
			return nil, err
		}
	}
	// Every subscription confirmed, and the presence in Redis lists all.
	deadline := time.Now().Add(b.p.Timeout)
	if !waitFor(ctx, time.Until(deadline), func() bool { return subscribed.Load() == int64(n) || firstErr.Load() != nil }) {
		return nil, fmt.Errorf("%d of %d subscriptions confirmed in time", subscribed.Load(), n)
	}
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	for j := range 3 {
		var ids []string
		var err error
		if !waitFor(ctx, time.Until(deadline), func() bool {
			ids, err = mem[j].presence(time.Until(deadline))
			return err == nil && len(ids) == n
		}) {
			return nil, fmt.Errorf("presence via c%d lists %d of %d (%v)", j+1, len(ids), n, err)
		}
	}
	var victims []string
	var survivors []*leaveView[string]
	for i, m := range mem {
		if i%3 == victim {
			victims = append(victims, m.c.ID())
		} else {
			survivors = append(survivors, m.view)
		}
	}
	witness := mem[(victim+1)%3] // a client of a surviving node
	k := b.kill(ctx, nodes[victim], &killed, n, victims, func() ([]string, error) { return witness.presence(5 * time.Second) }, nil)
	// When the survivors drop the dead node from their node lists, for the log.
	var dropped sync.WaitGroup
	for j, nd := range nodes {
		if j == victim {
			continue
		}
		dropped.Go(func() {
			at := pollListed(ctx, k.at, k.until, func() bool {
				names, err := centrifugeNodeNames(nd)
				return err == nil && len(names) == 2
			})
			if at >= 0 {
				fmt.Fprintf(b.log, "crash: centrifuge %s dropped the killed node from its node list after %.1f ms\n", nd.name, ms(at))
			}
		})
	}
	t := k.tally(ctx, survivors, victims, &falseCount)
	dropped.Wait()
	if e := survivorErrors.Load(); e > 0 {
		fmt.Fprintf(b.log, "crash: %d errors at the surviving centrifuge clients after the kill\n", e)
	}
	return t, nil
}
