package bench

import (
	"math"
	"math/bits"
	"time"
)

// subBuckets is the number of linear buckets per power of two: values are
// kept with a relative error below 1/subBuckets (under 1.6%).
const subBuckets = 64

// Histogram records durations in log-linear buckets, in the manner of an
// HDR histogram: constant relative precision over nanoseconds to hours, a
// fixed small size, and exact merging across workers. The zero value is
// ready to use; it is not safe for concurrent use.
type Histogram struct {
	Counts []uint64 `json:"counts"` // indexed by bucket
	N      uint64   `json:"n"`
	Max    int64    `json:"max"` // nanoseconds, exact
}

// bucket maps v ≥ 0 (nanoseconds) to its bucket index.
func bucket(v int64) int {
	if v < subBuckets {
		return int(v)
	}
	exp := bits.Len64(uint64(v)) - 7 // v >> exp is in [64, 128)
	return (exp+1)*subBuckets + int(uint64(v)>>exp) - subBuckets
}

// lowest is the smallest value in bucket i.
func lowest(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	exp := i/subBuckets - 1
	return int64(i%subBuckets+subBuckets) << exp
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	i := bucket(v)
	if i >= len(h.Counts) {
		h.Counts = append(h.Counts, make([]uint64, i+1-len(h.Counts))...)
	}
	h.Counts[i]++
	h.N++
	h.Max = max(h.Max, v)
}

// Merge adds o's records to h.
func (h *Histogram) Merge(o *Histogram) {
	if len(o.Counts) > len(h.Counts) {
		h.Counts = append(h.Counts, make([]uint64, len(o.Counts)-len(h.Counts))...)
	}
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.N += o.N
	h.Max = max(h.Max, o.Max)
}

// Quantile returns the value at quantile q in [0, 1]: the middle of the
// bucket holding it, never above the exact maximum (which q = 1 returns). It is 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.N == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.N)))
	rank = min(max(rank, 1), h.N)
	if rank == h.N {
		return time.Duration(h.Max)
	}
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= rank {
			lo, hi := lowest(i), lowest(i+1)
			return time.Duration(min(lo+(hi-lo)/2, h.Max))
		}
	}
	return time.Duration(h.Max)
}
