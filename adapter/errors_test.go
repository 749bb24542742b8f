package adapter

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
)

func TestCountErrorByKind(t *testing.T) {
	var c Counters
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				c.CountError("sgc", "rate_limited", 45)
				c.CountError("pusher", "auth_error", 401)
			}
		})
	}
	wg.Wait()
	c.CountError("sgc", "member_exists", 1)
	want := []ErrorCount{
		{Protocol: "pusher", Reason: "auth_error", Code: 401, N: 400},
		{Protocol: "sgc", Reason: "member_exists", Code: 1, N: 1},
		{Protocol: "sgc", Reason: "rate_limited", Code: 45, N: 400},
	}
	if got := c.ErrorCounts(); !reflect.DeepEqual(got, want) {
		t.Errorf("ErrorCounts() = %+v, want %+v", got, want)
	}
	if n := c.Errors.Load(); n != 801 {
		t.Errorf("Errors = %d, want 801", n)
	}
}

func TestCountErrorBoundsTheKinds(t *testing.T) {
	var c Counters
	for code := 1; code <= MaxErrorKinds+10; code++ {
		c.CountError("sgc", fmt.Sprint("code_", code), code)
	}
	got := c.ErrorCounts()
	if len(got) != MaxErrorKinds+1 {
		t.Fatalf("%d kinds counted, want %d and one other", len(got), MaxErrorKinds)
	}
	if got[0] != (ErrorCount{Protocol: "sgc", Reason: "other", Code: 0, N: 10}) {
		t.Errorf("first kind %+v, want the 10 beyond the bound as other", got[0])
	}
}

func BenchmarkCountError(b *testing.B) {
	var c Counters
	c.CountError("sgc", "rate_limited", 45)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.CountError("sgc", "rate_limited", 45)
		}
	})
}
