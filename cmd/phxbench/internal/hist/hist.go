package hist

import (
	"math"
	"math/bits"
)

// Hist is an HDR-style log-linear histogram of non-negative int64 values
// (nanoseconds here). Values below 2^Bits are counted exactly; above, every
// power-of-two range is split into 2^(Bits-1) equal buckets, so a reported
// value is at most 2^(1-Bits) above the true one (0.8% with Bits 8). The
// bucket array grows only as far as the largest value seen, and histograms
// of equal Bits merge by adding counts, which is how results from several
// worker processes combine.
type Hist struct {
	Bits   uint8
	counts []uint64
	n      uint64
	sum    float64
	min    int64
	max    int64
}

// Precision of the main histograms and of the per-second timeline ones.
const (
	HistBits     = 8 // ≤ 0.8% error
	TimelineBits = 5 // ≤ 6.3% error, 16× smaller
)

// New returns an empty histogram with the given sub-bucket bits (2..16).
func New(b uint8) *Hist { return &Hist{Bits: b, min: math.MaxInt64} }

// index returns the bucket of v (v ≥ 0).
func (h *Hist) index(v int64) int {
	s := uint(h.Bits)
	u := uint64(v)
	if u < 1<<s {
		return int(u)
	}
	k := uint(bits.Len64(u)) // u in [2^(k-1), 2^k), k-1 ≥ s
	shift := k - s
	m := u >> shift // in [2^(s-1), 2^s)
	return int(uint64(1)<<s + uint64(k-1-s)<<(s-1) + (m - uint64(1)<<(s-1)))
}

// bounds returns the lowest value of bucket i and its width.
func (h *Hist) bounds(i int) (low, width int64) {
	s := uint(h.Bits)
	if i < 1<<s {
		return int64(i), 1
	}
	j := uint64(i - 1<<s)
	oct := uint(j >> (s - 1))
	m := j&(1<<(s-1)-1) + 1<<(s-1)
	shift := oct + 1
	return int64(m << shift), int64(1) << shift
}

// Record adds one value; negative values count as 0.
func (h *Hist) Record(v int64) {
	if v < 0 {
		v = 0
	}
	i := h.index(v)
	if i >= len(h.counts) {
		h.grow(i + 1)
	}
	h.counts[i]++
	h.n++
	h.sum += float64(v)
	h.min = min(h.min, v)
	h.max = max(h.max, v)
}

// grow extends the bucket array to n buckets.
func (h *Hist) grow(n int) {
	c := make([]uint64, n, max(n, 2*len(h.counts)))
	copy(c, h.counts)
	h.counts = c
}

// Count returns how many values were recorded.
func (h *Hist) Count() uint64 { return h.n }

// Max returns the largest value recorded (0 when empty).
func (h *Hist) Max() int64 {
	if h.n == 0 {
		return 0
	}
	return h.max
}

// Min returns the smallest value recorded (0 when empty).
func (h *Hist) Min() int64 {
	if h.n == 0 {
		return 0
	}
	return h.min
}

// Mean returns the exact mean of the recorded values.
func (h *Hist) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns the value at quantile q in [0, 1]: the highest value
// equivalent to the bucket holding the ceil(q·n)-th smallest value, capped
// at the maximum, as HdrHistogram reports it.
func (h *Hist) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, w := h.bounds(i)
			return max(min(low+w-1, h.max), h.min)
		}
	}
	return h.max
}

// Merge adds o's counts to h. Both must have the same Bits.
func (h *Hist) Merge(o *Hist) {
	if o == nil || o.n == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.grow(len(o.counts))
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// JSON is the sparse wire form of a Hist: non-empty buckets as
// [index, count] pairs.
type JSON struct {
	Bits    uint8       `json:"bits"`
	Buckets [][2]uint64 `json:"buckets"`
	Sum     float64     `json:"sum"`
	Min     int64       `json:"min"`
	Max     int64       `json:"max"`
}

// Export returns h's sparse form.
func (h *Hist) Export() JSON {
	j := JSON{Bits: h.Bits, Sum: h.sum, Min: h.Min(), Max: h.Max(), Buckets: [][2]uint64{}}
	for i, c := range h.counts {
		if c != 0 {
			j.Buckets = append(j.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return j
}

// From rebuilds a Hist from its sparse form.
func From(j JSON) *Hist {
	h := New(j.Bits)
	for _, b := range j.Buckets {
		i := int(b[0])
		if i >= len(h.counts) {
			h.grow(i + 1)
		}
		h.counts[i] += b[1]
		h.n += b[1]
	}
	if h.n > 0 {
		h.sum, h.min, h.max = j.Sum, j.Min, j.Max
	}
	return h
}

// Summary is a histogram's headline figures in microseconds.
type Summary struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"mean_us"`
	Min   float64 `json:"min_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	P999  float64 `json:"p99_9_us"`
	Max   float64 `json:"max_us"`
}

// Summary returns h's headline figures.
func (h *Hist) Summary() Summary {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	return Summary{
		Count: h.n, Mean: h.Mean() / 1e3, Min: us(h.Min()),
		P50: us(h.Quantile(0.50)), P90: us(h.Quantile(0.90)), P99: us(h.Quantile(0.99)),
		P999: us(h.Quantile(0.999)), Max: us(h.Max()),
	}
}

// US converts nanoseconds to microseconds.
func US(ns int64) float64 { return float64(ns) / 1e3 }
