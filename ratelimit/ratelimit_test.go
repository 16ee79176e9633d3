package ratelimit_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"herald/ratelimit"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func TestBucket(t *testing.T) {
	t.Parallel()
	l := ratelimit.Limit{Rate: 10, Burst: 3}
	var b ratelimit.Bucket
	for i := range 3 {
		if ok, _ := b.Take(l, t0); !ok {
			t.Fatalf("take %d of a full bucket of 3 refused", i)
		}
	}
	ok, wait := b.Take(l, t0)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("4th take: got %v, wait %v; want refused, wait 100ms", ok, wait)
	}
	if ok, _ := b.Take(l, t0.Add(99*time.Millisecond)); ok {
		t.Fatal("took a token before it was added")
	}
	if ok, _ := b.Take(l, t0.Add(200*time.Millisecond)); !ok {
		t.Fatal("no token 200ms later at 10/s")
	}
	// Long idle: back to the burst, not more.
	n := 0
	for {
		if ok, _ := b.Take(l, t0.Add(time.Hour)); !ok {
			break
		}
		n++
	}
	if n != 3 {
		t.Fatalf("after an hour idle: %d tokens, want the burst of 3", n)
	}
	if ok, _ := (&ratelimit.Bucket{}).Take(ratelimit.Limit{}, t0); !ok {
		t.Fatal("a zero Limit refused")
	}
}

func TestKeyedIsPerKeyAndBounded(t *testing.T) {
	t.Parallel()
	k := ratelimit.NewKeyed(ratelimit.PerSecond(2), 64)
	for _, key := range []string{"a", "b"} {
		for i := range 2 {
			if ok, _ := k.Take(key, t0); !ok {
				t.Fatalf("%s take %d refused", key, i)
			}
		}
		if ok, _ := k.Take(key, t0); ok {
			t.Fatalf("%s: third take within a second allowed", key)
		}
	}
	// A flood of new keys keeps the map within its bound.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 10000 {
				k.Take(fmt.Sprintf("%d-%d", g, i), t0.Add(time.Duration(i)*time.Microsecond))
			}
		})
	}
	wg.Wait()
	if n := k.Len(); n > 64 {
		t.Fatalf("%d buckets held, want at most 64", n)
	}
}

func TestSampler(t *testing.T) {
	t.Parallel()
	s := ratelimit.Sampler{Limit: ratelimit.PerSecond(2)}
	logged := 0
	for range 100 {
		if ok, _ := s.Allow(t0); ok {
			logged++
		}
	}
	if logged != 2 {
		t.Fatalf("%d of 100 logged at once, want 2", logged)
	}
	ok, suppressed := s.Allow(t0.Add(time.Second))
	if !ok || suppressed != 98 {
		t.Fatalf("a second later: %v, %d suppressed; want true, 98", ok, suppressed)
	}
}

func BenchmarkKeyedTake(b *testing.B) {
	k := ratelimit.NewKeyed(ratelimit.PerSecond(1e9), 65536)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprintf("192.0.2.%d", i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		k.Take(keys[i%len(keys)], t0)
		i++
	}
}
