package gateway

import (
	"container/heap"
	"sync"
	"time"

	"herald/internal/routines"
)

// expiry disconnects sockets whose token expired. One goroutine, started
// in the given group, sleeps until the earliest expiry; sockets cost a heap
// entry, not a timer.
type expiry struct {
	mu     sync.Mutex
	items  expiryHeap
	wake   chan struct{}
	stop   chan struct{}
	done   chan struct{}
	now    func() time.Time
	expire func(*conn)
}

func newExpiry(group *routines.Group, now func() time.Time, expire func(*conn)) *expiry {
	e := &expiry{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), now: now, expire: expire}
	if !group.Go(e.run) {
		close(e.done)
	}
	return e
}

// set schedules c to expire at t, replacing its previous time; a zero t
// removes it.
func (e *expiry) set(c *conn, t time.Time) {
	e.mu.Lock()
	if c.expiryIndex >= 0 {
		heap.Remove(&e.items, c.expiryIndex)
	}
	if !t.IsZero() {
		c.expiresAt = t
		heap.Push(&e.items, c)
	}
	first := len(e.items) > 0 && e.items[0] == c
	e.mu.Unlock()
	if first {
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}

func (e *expiry) remove(c *conn) { e.set(c, time.Time{}) }

func (e *expiry) run() {
	defer close(e.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.mu.Lock()
		var due []*conn
		now := e.now()
		for len(e.items) > 0 && !e.items[0].expiresAt.After(now) {
			due = append(due, heap.Pop(&e.items).(*conn))
		}
		wait := time.Hour
		if len(e.items) > 0 {
			wait = e.items[0].expiresAt.Sub(now)
		}
		e.mu.Unlock()
		for _, c := range due {
			e.expire(c)
		}
		timer.Reset(wait)
		select {
		case <-e.stop:
			return
		case <-e.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-timer.C:
		}
	}
}

func (e *expiry) close() {
	close(e.stop)
	<-e.done
}

type expiryHeap []*conn

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expiresAt.Before(h[j].expiresAt) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].expiryIndex = i
	h[j].expiryIndex = j
}
func (h *expiryHeap) Push(x any) {
	c := x.(*conn)
	c.expiryIndex = len(*h)
	*h = append(*h, c)
}
func (h *expiryHeap) Pop() any {
	old := *h
	c := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	c.expiryIndex = -1
	return c
}
