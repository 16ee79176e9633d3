package gateway

import (
	"sync"
	"sync/atomic"
	"time"
)

// userKey identifies a user: the same user id in two tenants is two people.
type userKey struct{ tenant, user string }

// presence counts each user's sockets on this node and tells the user's
// watchers when the user comes online (first socket) and goes offline (last
// socket gone and not back within the grace period, so that a page reload
// does not flap). A user nobody watches costs a map entry and no event: a
// connect or disconnect does O(watchers of that user) work, whatever the
// size of the tenant.
//
// Ordering: every decision about a user (online, offline, the snapshot a
// subscribe answers with) is taken under the user's stripe lock and takes a
// ticket of one sequencer there; the sends happen outside every lock, in
// ticket order. So a watcher gets a user's events in the order they were
// decided, and a subscribe's ack is never overtaken by an older event.
// No lock is held while sending: a send that closes a session runs the
// disconnect code, which takes these locks again.
type presence struct {
	grace    time.Duration
	watchers watcherRegistry
	// announce sends the event about k to the given watchers; nil
	// announces nothing.
	announce func(k userKey, online bool, to []*conn)

	order userOrder // stripe locks: one user's decisions are serialized
	seq   sequencer

	mu    sync.Mutex // guards users
	users map[userKey]*presenceEntry

	online, sockets atomic.Int64 // users with a socket, and their sockets
}

type presenceEntry struct {
	sockets int
	leaving *time.Timer // pending offline announcement
}

func newPresence(grace time.Duration, w watcherRegistry, announce func(userKey, bool, []*conn)) *presence {
	p := &presence{grace: grace, watchers: w, announce: announce, users: make(map[userKey]*presenceEntry)}
	p.seq.init()
	return p
}

// add counts a new socket of k; the user's first socket (unless back within
// the grace period) is announced online to its watchers.
func (p *presence) add(k userKey) {
	unlock := p.order.lock(k)
	p.mu.Lock()
	e := p.users[k]
	first := e == nil
	if first {
		e = &presenceEntry{}
		p.users[k] = e
	}
	if e.sockets == 0 {
		p.online.Add(1)
	}
	e.sockets++
	p.sockets.Add(1)
	if e.leaving != nil { // back within the grace period: still online
		e.leaving.Stop()
		e.leaving = nil
	}
	p.mu.Unlock()
	if first {
		p.tell(unlock, k, true)
		return
	}
	unlock()
}

// remove uncounts a socket of k; when it was the last one, k is announced
// offline after the grace period unless a socket comes back meanwhile.
func (p *presence) remove(k userKey) {
	unlock := p.order.lock(k)
	defer unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.users[k]
	if e == nil || e.sockets == 0 {
		return
	}
	e.sockets--
	p.sockets.Add(-1)
	if e.sockets > 0 {
		return
	}
	p.online.Add(-1)
	var t *time.Timer
	t = time.AfterFunc(p.grace, func() {
		unlock := p.order.lock(k)
		p.mu.Lock()
		gone := e.leaving == t && e.sockets == 0
		if gone {
			delete(p.users, k)
		}
		p.mu.Unlock()
		if gone {
			p.tell(unlock, k, false)
			return
		}
		unlock()
	})
	e.leaving = t
}

// tell collects k's watchers and takes a ticket under k's stripe lock, then
// releases it (unlock) and announces in ticket order.
func (p *presence) tell(unlock func(), k userKey, online bool) {
	var to []*conn
	if p.announce != nil {
		to = p.watchers.watchers(nil, k)
	}
	if len(to) == 0 {
		unlock()
		return
	}
	t := p.seq.ticket()
	unlock()
	p.seq.wait(t)
	p.announce(k, online, to)
	p.seq.done()
}

// isOnline reports whether k is online as its watchers were told: a socket
// on this node, or within the grace period after the last one. The caller
// holds k's stripe lock.
func (p *presence) isOnline(k userKey) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.users[k] != nil
}

// sockets returns the user's socket count on this node.
func (p *presence) socketsOf(k userKey) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.users[k]; e != nil {
		return e.sockets
	}
	return 0
}

// counts returns the users with at least one socket, and the sockets.
func (p *presence) counts() (users, sockets int) {
	return int(p.online.Load()), int(p.sockets.Load())
}

// sequencer hands out tickets and lets their holders run one at a time, in
// ticket order. A ticket must be followed by wait and done, promptly.
type sequencer struct {
	mu            sync.Mutex
	turn          sync.Cond
	next, serving uint64
}

func (q *sequencer) init() { q.turn.L = &q.mu }

func (q *sequencer) ticket() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	t := q.next
	q.next++
	return t
}

func (q *sequencer) wait(t uint64) {
	q.mu.Lock()
	for q.serving != t {
		q.turn.Wait()
	}
	q.mu.Unlock()
}

func (q *sequencer) done() {
	q.mu.Lock()
	q.serving++
	q.mu.Unlock()
	q.turn.Broadcast()
}
