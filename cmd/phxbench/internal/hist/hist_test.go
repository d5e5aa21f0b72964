package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/check"
)

// reference returns the exact quantile of sorted values: the
// ceil(q·n)-th smallest.
func reference(sorted []int64, q float64) int64 {
	rank := max(1, int(math.Ceil(q*float64(len(sorted)))))
	return sorted[rank-1]
}

func TestHistQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() int64{
		"uniform":     func() int64 { return rng.Int64N(1_000_000) },
		"exponential": func() int64 { return int64(rng.ExpFloat64() * 200_000) },
		"log-uniform": func() int64 { return int64(math.Pow(10, rng.Float64()*11)) }, // 1 ns … 100 s
		"small":       func() int64 { return rng.Int64N(300) },
	}
	qs := []float64{0, 0.001, 0.5, 0.9, 0.99, 0.999, 0.9999, 1}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			h := New(HistBits)
			vals := make([]int64, 100_000)
			for i := range vals {
				vals[i] = gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			for _, q := range qs {
				got, want := h.Quantile(q), reference(vals, q)
				bound := want + want>>(HistBits-1) + 1
				if got < want || got > bound {
					t.Errorf("q %v: got %d, want %d (≤ %d)", q, got, want, bound)
				}
			}
			check.Eq(t, "count", h.Count(), uint64(len(vals)))
			check.Eq(t, "max", h.Max(), vals[len(vals)-1])
			check.Eq(t, "min", h.Min(), vals[0])
		})
	}
}

func TestHistBuckets(t *testing.T) {
	h := New(HistBits)
	prev := -1
	for _, v := range []int64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64} {
		i := h.index(v)
		low, w := h.bounds(i)
		if v < low || v-low >= w {
			t.Errorf("%d: bucket %d is [%d, %d+%d)", v, i, low, low, w)
		}
		if i < prev {
			t.Errorf("%d: index %d below previous %d", v, i, prev)
		}
		prev = i
	}
}

func TestHistMergeAndExport(t *testing.T) {
	a, b, all := New(HistBits), New(HistBits), New(HistBits)
	for i := range int64(10_000) {
		v := i * i % 9973 * 1000
		all.Record(v)
		if i%3 == 0 {
			a.Record(v)
		} else {
			b.Record(v)
		}
	}
	m := From(a.Export())
	m.Merge(From(b.Export()))
	for _, q := range []float64{0.1, 0.5, 0.99, 1} {
		check.Eq(t, "quantile", m.Quantile(q), all.Quantile(q))
	}
	check.Eq(t, "count", m.Count(), all.Count())
	check.Eq(t, "mean", math.Round(m.Mean()), math.Round(all.Mean()))
	empty := From(New(HistBits).Export())
	check.Eq(t, "empty quantile", empty.Quantile(0.5), int64(0))
	check.Eq(t, "empty max", empty.Max(), int64(0))
	s := all.Summary()
	if s.P50 > s.P90 || s.P90 > s.P99 || s.P99 > s.P999 || s.P999 > s.Max {
		t.Errorf("summary not monotone: %+v", s)
	}
}
