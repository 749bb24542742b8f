package bench

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Names of the crash figures, in the report of `rollcall bench cluster`.
const (
	FigLeaveP50 = "last leave p50"
	FigLeaveP99 = "last leave p99"
	FigLeaveMax = "last leave max"
	FigSubs     = "surviving subscribers"
	FigComplete = "subscribers with every leave"
	FigMissing  = "missing leaves"
	FigExtra    = "extra leaves"
	FigFalse    = "false leaves before the kill"
	FigListed   = "member list without the dead node's members"
	FigFrames   = "frames written by the survivors after the kill"
)

// crashPollStep is how often a survivor's member list is asked for after
// a kill.
const crashPollStep = 100 * time.Millisecond

// crashTally is what a crash run measured.
type crashTally struct {
	// lat holds, for each surviving subscriber that got a leave of every
	// member of the killed node, the time from the kill to the last one.
	lat Histogram
	// subscribers survived; complete got every leave; missing leaves were
	// never received, extra ones twice or of members that did not leave;
	// falseLeaves arrived before the kill.
	subscribers, complete, missing, extra, falseLeaves int
	// listed is the time from the kill until a survivor's member list (polled
	// every crashPollStep) no longer named the killed node's members; -1:
	// not within the timeout.
	listed time.Duration
	// frames is what the surviving nodes wrote to their clients from the
	// kill until they fell quiet; -1: not measured (the comparator).
	frames int64
}

func (t *crashTally) summary() string {
	s := fmt.Sprintf("%d of %d subscribers with every leave", t.complete, t.subscribers)
	if t.lat.N > 0 {
		s += fmt.Sprintf(", p50 %.1f ms, max %.1f ms", ms(t.lat.Quantile(.5)), ms(t.lat.Quantile(1)))
	}
	s += fmt.Sprintf(", missing %d, extra %d, false %d", t.missing, t.extra, t.falseLeaves)
	if t.listed >= 0 {
		s += fmt.Sprintf(", member list without them after %.1f ms", ms(t.listed))
	} else {
		s += ", member list still with them"
	}
	return s
}

// add pools u into t (listed is not pooled).
func (t *crashTally) add(u *crashTally) {
	t.lat.Merge(&u.lat)
	t.subscribers += u.subscribers
	t.complete += u.complete
	t.missing += u.missing
	t.extra += u.extra
	t.falseLeaves += u.falseLeaves
}

// outcome is t as one run of the report; figures that were not measured
// (no subscriber got every leave, the list kept them) are left out and
// said in a note.
func (t *crashTally) outcome(server string, run int, timeout time.Duration) Outcome {
	o := Outcome{Server: server, Run: run}
	fig := func(name, unit string, v float64, better string) {
		o.Figures = append(o.Figures, Figure{Name: name, Unit: unit, Value: v, Better: better})
	}
	if t.lat.N > 0 {
		fig(FigLeaveP50, "ms", ms(t.lat.Quantile(.5)), "lower")
		fig(FigLeaveP99, "ms", ms(t.lat.Quantile(.99)), "lower")
		fig(FigLeaveMax, "ms", ms(t.lat.Quantile(1)), "lower")
	}
	fig(FigSubs, "", float64(t.subscribers), "")
	fig(FigComplete, "", float64(t.complete), "higher")
	fig(FigMissing, "", float64(t.missing), "lower")
	fig(FigExtra, "", float64(t.extra), "lower")
	fig(FigFalse, "", float64(t.falseLeaves), "lower")
	if t.frames >= 0 {
		fig(FigFrames, "", float64(t.frames), "lower")
	}
	if t.listed >= 0 {
		fig(FigListed, "ms", ms(t.listed), "lower")
	} else {
		o.Notes = append(o.Notes, fmt.Sprintf("the member list still named the killed node's members %v after the kill", timeout))
	}
	switch {
	case t.complete == 0 && t.subscribers > 0:
		o.Notes = append(o.Notes, fmt.Sprintf("no surviving subscriber got every leave within %v (%d leaves missing)", timeout, t.missing))
	case t.complete < t.subscribers:
		o.Notes = append(o.Notes, fmt.Sprintf("%d of %d surviving subscribers got every leave within %v; the percentiles are theirs", t.complete, t.subscribers, timeout))
	}
	return o
}

// leaveView is what one surviving subscriber saw of the leaves, by member
// id (K string) or by the ids' keys (K uint64, see key).
type leaveView[K comparable] struct {
	mu     sync.Mutex
	leaves map[K]int // member → leaves received
	last   time.Time
}

func newLeaveView[K comparable]() *leaveView[K] { return &leaveView[K]{leaves: map[K]int{}} }

func (v *leaveView[K]) leave(id K, at time.Time) {
	v.mu.Lock()
	v.leaves[id]++
	v.last = at
	v.mu.Unlock()
}

// expect makes room for n leaves, before they come.
func (v *leaveView[K]) expect(n int) {
	v.mu.Lock()
	if len(v.leaves) == 0 {
		v.leaves = make(map[K]int, n)
	}
	v.mu.Unlock()
}

// leaveAll is leave of each of ids, heard at once (a diff).
func (v *leaveView[K]) leaveAll(ids []K, at time.Time) {
	v.mu.Lock()
	for _, id := range ids {
		v.leaves[id]++
	}
	v.last = at
	v.mu.Unlock()
}

// got is how many of victims v has seen leave.
func (v *leaveView[K]) got(victims []K) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.leaves) < len(victims) {
		// Not all of them: an upper bound does, and spares looking up
		// thousands of victims every few milliseconds while the bench's
		// servers need the CPU.
		return len(v.leaves)
	}
	n := 0
	for _, id := range victims {
		if v.leaves[id] > 0 {
			n++
		}
	}
	return n
}

// awaitLeaves waits until every view has seen every victim leave, or
// until deadline.
func awaitLeaves[K comparable](ctx context.Context, views []*leaveView[K], victims []K, deadline time.Time) {
	for _, v := range views {
		waitFor(ctx, time.Until(deadline), func() bool { return v.got(victims) == len(victims) })
	}
}

// tallyLeaves counts what the surviving subscribers' views hold, the
// times from t0.
func tallyLeaves[K comparable](views []*leaveView[K], victims []K, t0 time.Time, falseLeaves int) *crashTally {
	t := &crashTally{subscribers: len(views), falseLeaves: falseLeaves, listed: -1, frames: -1}
	isVictim := make(map[K]bool, len(victims))
	for _, id := range victims {
		isVictim[id] = true
	}
	for _, v := range views {
		v.mu.Lock()
		missing := 0
		for _, id := range victims {
			switch c := v.leaves[id]; {
			case c == 0:
				missing++
			case c > 1:
				t.extra += c - 1
			}
		}
		for id, c := range v.leaves {
			if !isVictim[id] {
				t.extra += c
			}
		}
		t.missing += missing
		if missing == 0 {
			t.complete++
			t.lat.Record(v.last.Sub(t0))
		}
		v.mu.Unlock()
	}
	return t
}

// pollListed calls list every crashPollStep until it reports the killed
// node's members gone, or until deadline, and returns the time from t0
// (-1: not within the deadline).
func pollListed(ctx context.Context, t0, deadline time.Time, list func() bool) time.Duration {
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if list() {
			return time.Since(t0)
		}
		time.Sleep(crashPollStep)
	}
	return -1
}

// kill is the kill -9 of one node of a crash run, and what follows it.
type kill struct {
	at, until time.Time // the kill; the end of the leave timeout
	listed    chan time.Duration
}

// kill sets killed (leaves from then on are not false), kills victim with
// SIGKILL and starts asking list, a survivor's member list of the
// channel of members, for the time when it no longer names victims. With
// count (the survivor's member count, cheap) the list is asked for only
// once the count is right: at 30,000 members a list every poll is work
// taken from the survivor being measured.
func (b *cluster) kill(ctx context.Context, victim *process, killed *atomic.Bool, members int, victims []string, list func() ([]string, error), count func() (int, error)) *kill {
	killed.Store(true)
	k := &kill{at: time.Now(), listed: make(chan time.Duration, 1)}
	_ = victim.cmd.Process.Kill()
	k.until = k.at.Add(b.p.LeaveTimeout)
	gone := make(map[string]bool, len(victims))
	for _, id := range victims {
		gone[id] = true
	}
	go func() {
		k.listed <- pollListed(ctx, k.at, k.until, func() bool {
			if count != nil {
				if n, err := count(); err != nil || n != members-len(victims) {
					return false
				}
			}
			ids, err := list()
			return err == nil && len(ids) == members-len(victims) &&
				!slices.ContainsFunc(ids, func(id string) bool { return gone[id] })
		})
	}()
	return k
}

// tally awaits the survivors' leaves of the victims and the member list
// until the leave timeout, and counts them.
func (k *kill) tally(ctx context.Context, survivors []*leaveView[string], victims []string, falseLeaves *atomic.Int64) *crashTally {
	awaitLeaves(ctx, survivors, victims, k.until)
	t := tallyLeaves(survivors, victims, k.at, int(falseLeaves.Load()))
	t.listed = <-k.listed
	return t
}
