package gateway

import (
	"slices"
	"sync"
)

// userOrder orders, per user, each change of the user's feed with the events
// that announce it. Without it, two requests for one user race between the
// store and the room: notification:new goes out of seq order (a client that
// saw seq 20 and reconnects with since=20 never gets 2..19), and the last
// notification:unread_count a socket gets may be an older, smaller count.
//
// Holding the user's lock from the store write (which assigns the seq)
// through the emits makes live events leave in seq order; reading the count
// and emitting it under the lock makes the last count emitted one read after
// every write. Users hash onto a fixed set of stripes: no per-user state, and
// two users rarely wait for each other.
type userOrder struct {
	stripes [orderStripes]sync.Mutex
}

// orderStripes is large because a stripe is held while the store commits
// (a group commit of a few ms): with 64 stripes, 32 concurrent creates for
// distinct users collided almost always and queued a whole commit behind
// each other (99.8% of the mutex delay of BenchmarkNotifyParallelSQLite).
const orderStripes = 4096

func stripeOf(k userKey) int {
	// FNV-1a over tenant, a separator and user, without allocating.
	h := uint32(2166136261)
	for i := 0; i < len(k.tenant); i++ {
		h = (h ^ uint32(k.tenant[i])) * 16777619
	}
	h = (h ^ 0xff) * 16777619
	for i := 0; i < len(k.user); i++ {
		h = (h ^ uint32(k.user[i])) * 16777619
	}
	return int(h % orderStripes)
}

// lock locks the stripes of the given users, in ascending order so that two
// batches never deadlock, and returns the function that unlocks them.
func (o *userOrder) lock(keys ...userKey) (unlock func()) {
	if len(keys) == 1 {
		m := &o.stripes[stripeOf(keys[0])]
		m.Lock()
		return m.Unlock
	}
	held := make([]int, len(keys))
	for i, k := range keys {
		held[i] = stripeOf(k)
	}
	slices.Sort(held)
	held = slices.Compact(held)
	for _, i := range held {
		o.stripes[i].Lock()
	}
	return func() {
		for j := len(held) - 1; j >= 0; j-- {
			o.stripes[held[j]].Unlock()
		}
	}
}

// announcedIDs remembers the ids of the idempotent notifications this
// process announced, so that a retry with the same idempotency key
// announces a stored notification only if it never was (its create failed
// after the commit, or the process restarted since). It keeps the latest
// announcedCap ids: a retry of an older one, or one after a restart, is
// announced again (at least once, never never).
type announcedIDs struct {
	mu   sync.Mutex
	ids  map[string]struct{}
	ring []string // insertion order, for eviction
	next int
}

const announcedCap = 1 << 16

// add records id and reports whether it was not recorded yet.
func (a *announcedIDs) add(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.ids[id]; ok {
		return false
	}
	if a.ids == nil {
		a.ids = make(map[string]struct{})
		a.ring = make([]string, announcedCap)
	}
	if old := a.ring[a.next]; old != "" {
		delete(a.ids, old)
	}
	a.ring[a.next] = id
	a.next = (a.next + 1) % announcedCap
	a.ids[id] = struct{}{}
	return true
}
