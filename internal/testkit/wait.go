package testkit

import (
	"errors"
	"testing"
	"time"
)

// Timeout bounds a wait for something that should happen at once: an
// event, a frame, a state change a few goroutines away.
const Timeout = 5 * time.Second

// pollEvery is how often Poll and Eventually look again.
const pollEvery = 5 * time.Millisecond

// Poll calls check until it returns nil, and fails the test with check's
// last error if that takes longer than timeout. It is for states a test
// can only look at; an event that is delivered is better waited for with
// Recv.
func Poll(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %v", timeout, err)
		}
		time.Sleep(pollEvery) // polling, not asserting
	}
}

// Eventually is Poll for a condition: it fails the test, naming what it
// waited for, if cond does not hold within timeout.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Poll(t, timeout, func() error {
		if cond() {
			return nil
		}
		return errors.New("waiting for " + what)
	})
}

// Recv returns the next value from ch, and fails the test, naming what it
// waited for, if none comes within timeout. A closed channel gives its
// zero value, as a receive does.
func Recv[T any](t testing.TB, ch <-chan T, timeout time.Duration, what string) T {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
		var zero T
		return zero
	}
}
