package adapter

import (
	"math"
	"testing"
	"testing/synctest"
	"time"
)

// drain takes tokens from l at now until it refuses, and returns how many
// it gave.
func drain(l *RateLimiter) int {
	n := 0
	for l.Allow(time.Now()) {
		n++
	}
	return n
}

// A bucket starts full, refills at its rate, never holds more than its
// burst, and warns about refusals at most once a second. On the bubble's
// clock, so every count is exact.
func TestRateLimiterBucket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := RateLimiter{Rate: 5, Burst: 10}
		if n := drain(&l); n != 10 {
			t.Fatalf("a new bucket gave %d, want the burst of 10", n)
		}
		if !l.ShouldWarn() || l.ShouldWarn() {
			t.Fatal("want one warning for the first refusals")
		}
		time.Sleep(time.Second)
		if n := drain(&l); n != 5 {
			t.Fatalf("after 1 s the bucket gave %d, want the rate of 5", n)
		}
		if !l.ShouldWarn() {
			t.Fatal("no warning a second after the last one")
		}
		time.Sleep(200 * time.Millisecond)
		if n := drain(&l); n != 1 {
			t.Fatalf("after 200 ms the bucket gave %d, want 1", n)
		}
		if l.ShouldWarn() {
			t.Fatal("a second warning within the second")
		}
		time.Sleep(time.Hour)
		if n := drain(&l); n != 10 {
			t.Fatalf("after an hour the bucket gave %d, want no more than the burst of 10", n)
		}
	})
}

func TestRateLimiterUnlimited(t *testing.T) {
	l := RateLimiter{Rate: math.Inf(1)}
	for i := range 1000 {
		if !l.Allow(time.Now()) {
			t.Fatalf("frame %d refused without a limit", i)
		}
	}
}
