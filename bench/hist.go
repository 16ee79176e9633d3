//go:build linux

package bench

import (
	"encoding/json"
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram records durations in log-linear buckets: exact below 128ns, then 64 buckets per power of
// two, so any recorded value is reported within 1.6% of its true value. Record is lock-free and
// allocation-free, so every connection of a pool records into one shared Histogram. The zero value is
// ready to use.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	total  atomic.Uint64
	sum    atomic.Uint64 // nanoseconds
	max    atomic.Int64
}

const (
	histSubBits   = 6
	histSub       = 1 << histSubBits // buckets per power of two
	histExact     = 2 * histSub      // values below this get a bucket each
	histBuckets   = histExact + (63-histSubBits)*histSub
	histMinOctave = histSubBits + 1
)

// Record adds one observation. Negative durations (clock steps) count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := uint64(0)
	if d > 0 {
		v = uint64(d)
	}
	h.counts[bucketOf(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for {
		m := h.max.Load()
		if int64(v) <= m || h.max.CompareAndSwap(m, int64(v)) {
			break
		}
	}
}

func bucketOf(v uint64) int {
	if v < histExact {
		return int(v)
	}
	m := bits.Len64(v) - 1 // m >= histMinOctave
	return histExact + (m-histMinOctave)*histSub + int(v>>(m-histSubBits)) - histSub
}

// bucketMid is the value a bucket stands for: the middle of its range.
func bucketMid(i int) float64 {
	if i < histExact {
		return float64(i)
	}
	m := histMinOctave + (i-histExact)/histSub
	off := uint64((i - histExact) % histSub)
	width := uint64(1) << (m - histSubBits)
	low := (histSub + off) * width
	return float64(low) + float64(width)/2
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Merge adds every observation of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil {
		return
	}
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	h.sum.Add(o.sum.Load())
	for {
		m, om := h.max.Load(), o.max.Load()
		if om <= m || h.max.CompareAndSwap(m, om) {
			break
		}
	}
}

// Quantile returns the value below which the fraction q of observations fall; 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	total := h.total.Load()
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			v := time.Duration(bucketMid(i))
			if m := time.Duration(h.max.Load()); v > m {
				v = m
			}
			return v
		}
	}
	return time.Duration(h.max.Load())
}

// Summary condenses the histogram into the figures the reports show.
func (h *Histogram) Summary() Summary {
	if h == nil {
		return Summary{}
	}
	n := h.total.Load()
	s := Summary{Count: n}
	if n == 0 {
		return s
	}
	s.Mean = ms(time.Duration(h.sum.Load() / n))
	s.P50 = ms(h.Quantile(0.50))
	s.P90 = ms(h.Quantile(0.90))
	s.P99 = ms(h.Quantile(0.99))
	s.P999 = ms(h.Quantile(0.999))
	s.Max = ms(time.Duration(h.max.Load()))
	return s
}

// Summary is a latency distribution in milliseconds.
type Summary struct {
	Count uint64  `json:"count"`
	Mean  float64 `json:"meanMs"`
	P50   float64 `json:"p50Ms"`
	P90   float64 `json:"p90Ms"`
	P99   float64 `json:"p99Ms"`
	P999  float64 `json:"p999Ms"`
	Max   float64 `json:"maxMs"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// histWire is how a Histogram crosses from a worker process to the coordinator: only the non-empty
// buckets, as [index, count] pairs.
type histWire struct {
	Buckets [][2]uint64 `json:"b,omitempty"`
	Sum     uint64      `json:"sum,omitempty"`
	Max     int64       `json:"max,omitempty"`
}

// MarshalJSON encodes the non-empty buckets.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	w := histWire{Sum: h.sum.Load(), Max: h.max.Load()}
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			w.Buckets = append(w.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(w)
}

// UnmarshalJSON adds the encoded observations to h.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var w histWire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	for _, bc := range w.Buckets {
		if bc[0] < histBuckets {
			h.counts[bc[0]].Add(bc[1])
			h.total.Add(bc[1])
		}
	}
	h.sum.Add(w.Sum)
	if w.Max > h.max.Load() {
		h.max.Store(w.Max)
	}
	return nil
}

// Max is the largest observation.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }
