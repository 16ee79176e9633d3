// Package ratelimit holds herald's token buckets: one per socket, one per
// key in a bounded map (source addresses, API credentials), and one that
// keeps a flood of refusals out of the log.
package ratelimit

import (
	"hash/maphash"
	"math"
	"strconv"
	"sync"
	"time"
)

// Limit is a token bucket's shape: Rate tokens a second, at most Burst
// saved up. A Limit with Rate <= 0 allows everything.
type Limit struct {
	Rate  float64 // tokens added per second
	Burst float64 // capacity; below 1 means 1
}

// PerSecond returns the Limit of n events a second with a burst of n.
func PerSecond(n float64) Limit { return Limit{Rate: n, Burst: n} }

// Off reports whether the limit allows everything.
func (l Limit) Off() bool { return l.Rate <= 0 || math.IsNaN(l.Rate) }

func (l Limit) burst() float64 { return max(l.Burst, 1) }

// refill is how long an empty bucket takes to fill up again; a bucket
// untouched for that long is the same as a new one.
func (l Limit) refill() time.Duration {
	return time.Duration(l.burst() / l.Rate * float64(time.Second))
}

// Bucket is the state of one token bucket. Its zero value is a full
// bucket. It is not safe for concurrent use; its owner locks.
type Bucket struct {
	tokens float64
	last   time.Time // zero: never used, full
}

// Take takes one token at now. It reports whether there was one, and
// otherwise how long until there will be.
func (b *Bucket) Take(l Limit, now time.Time) (ok bool, wait time.Duration) {
	if l.Off() {
		return true, 0
	}
	if b.last.IsZero() {
		b.tokens = l.burst()
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(l.burst(), b.tokens+d.Seconds()*l.Rate)
	}
	if now.After(b.last) {
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.Rate * float64(time.Second))
}

// RetryAfter is the value of an HTTP Retry-After header for a wait that
// Take returned: whole seconds, rounded up, at least 1.
func RetryAfter(wait time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
}

// full reports whether the bucket has refilled completely by now.
func (b *Bucket) full(l Limit, now time.Time) bool {
	return b.last.IsZero() || now.Sub(b.last) >= l.refill()
}

const keyedShards = 16

// Keyed is one bucket per key, in a map bounded to MaxKeys. Buckets that
// have refilled are dropped (they are the same as new ones); when a shard
// is full of busy buckets, an arbitrary one makes room, so memory stays
// bounded whatever the number of keys, at the price of a fresh bucket for
// the evicted key. It is safe for concurrent use.
type Keyed struct {
	limit  Limit
	perMap int
	seed   maphash.Seed
	shards [keyedShards]keyedShard
}

type keyedShard struct {
	mu        sync.Mutex
	buckets   map[string]*Bucket
	lastSweep time.Time
}

// NewKeyed returns buckets of limit l for at most maxKeys keys (at least
// one per shard).
func NewKeyed(l Limit, maxKeys int) *Keyed {
	k := &Keyed{limit: l, perMap: max(1, maxKeys/keyedShards), seed: maphash.MakeSeed()}
	for i := range k.shards {
		k.shards[i].buckets = make(map[string]*Bucket)
	}
	return k
}

// Take takes a token from key's bucket at now; see Bucket.Take.
func (k *Keyed) Take(key string, now time.Time) (bool, time.Duration) {
	if k.limit.Off() {
		return true, 0
	}
	sh := &k.shards[maphash.String(k.seed, key)%keyedShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[key]
	if b == nil {
		if len(sh.buckets) >= k.perMap {
			k.makeRoom(sh, now)
		}
		b = &Bucket{}
		sh.buckets[key] = b
	}
	return b.Take(k.limit, now)
}

// makeRoom drops the shard's refilled buckets, at most once per refill
// period (a sweep costs the shard's size), and else one arbitrary bucket.
func (k *Keyed) makeRoom(sh *keyedShard, now time.Time) {
	if now.Sub(sh.lastSweep) >= k.limit.refill() {
		sh.lastSweep = now
		for key, b := range sh.buckets {
			if b.full(k.limit, now) {
				delete(sh.buckets, key)
			}
		}
	}
	if len(sh.buckets) < k.perMap {
		return
	}
	for key := range sh.buckets {
		delete(sh.buckets, key)
		break
	}
}

// Len returns the number of buckets held.
func (k *Keyed) Len() int {
	n := 0
	for i := range k.shards {
		sh := &k.shards[i]
		sh.mu.Lock()
		n += len(sh.buckets)
		sh.mu.Unlock()
	}
	return n
}

// Sampler lets through a bounded rate of log lines about one kind of
// event and counts the ones it holds back, so that a flood of refusals
// leaves a trace without flooding the log. It is safe for concurrent use.
type Sampler struct {
	Limit Limit

	mu         sync.Mutex
	bucket     Bucket
	suppressed int
}

// Allow reports whether to log an event at now and, when it does, how
// many were held back since the last one logged.
func (s *Sampler) Allow(now time.Time) (ok bool, suppressed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok, _ := s.bucket.Take(s.Limit, now); !ok {
		s.suppressed++
		return false, 0
	}
	n := s.suppressed
	s.suppressed = 0
	return true, n
}
