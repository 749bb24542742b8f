package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	for _, v := range []int64{0, 1, 63, 64, 65, 127, 128, 1000, 123456789, 1 << 40} {
		i := bucket(v)
		if lo, hi := lowest(i), lowest(i+1); v < lo || v >= hi {
			t.Errorf("value %d in bucket %d = [%d, %d)", v, i, lo, hi)
		}
	}
	for i := range 2000 {
		if lowest(i+1) <= lowest(i) {
			t.Fatalf("bucket %d does not grow", i)
		}
		if got := bucket(lowest(i)); got != i {
			t.Fatalf("bucket(lowest(%d)) = %d", i, got)
		}
	}
}

func TestQuantilesWithinPrecision(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h, a, b Histogram
	var all []int64
	for i := range 100000 {
		v := int64(rng.ExpFloat64() * float64(2*time.Millisecond))
		all = append(all, v)
		h.Record(time.Duration(v))
		if i%2 == 0 {
			a.Record(time.Duration(v))
		} else {
			b.Record(time.Duration(v))
		}
	}
	a.Merge(&b)
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		for _, hh := range []*Histogram{&h, &a} {
			got := int64(hh.Quantile(q))
			if diff := float64(got-exact) / float64(exact); diff > 0.02 || diff < -0.02 {
				t.Errorf("q%.3f = %d, exact %d (%.1f%% off)", q, got, exact, diff*100)
			}
		}
	}
	if h.Max != all[len(all)-1] || a.Max != h.Max || a.N != h.N {
		t.Errorf("max %d / merged %d, want %d; n %d / %d", h.Max, a.Max, all[len(all)-1], h.N, a.N)
	}
	if got := h.Quantile(1); int64(got) != h.Max {
		t.Errorf("q1 = %v, want the max %v", got, time.Duration(h.Max))
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram has a median")
	}
}
