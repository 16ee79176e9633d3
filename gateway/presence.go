package gateway

import (
	"sync"
	"time"
)

// userKey identifies a user: the same user id in two tenants is two people.
type userKey struct{ tenant, user string }

// presence counts each user's sockets on this node and announces when a
// user comes online (first socket) and goes offline (last socket gone and
// not back within the grace period, so a page reload does not flap). Nil
// callbacks announce nothing.
type presence struct {
	grace     time.Duration
	onOnline  func(userKey)
	onOffline func(userKey)

	mu    sync.Mutex
	users map[userKey]*presenceEntry
}

type presenceEntry struct {
	sockets int
	leaving *time.Timer // pending offline announcement
}

func newPresence(grace time.Duration, online, offline func(userKey)) *presence {
	return &presence{grace: grace, onOnline: online, onOffline: offline, users: make(map[userKey]*presenceEntry)}
}

func (p *presence) add(k userKey) {
	p.mu.Lock()
	e := p.users[k]
	announce := e == nil
	if e == nil {
		e = &presenceEntry{}
		p.users[k] = e
	}
	e.sockets++
	if e.leaving != nil { // back within the grace period: still online
		e.leaving.Stop()
		e.leaving = nil
	}
	p.mu.Unlock()
	if announce && p.onOnline != nil {
		p.onOnline(k)
	}
}

func (p *presence) remove(k userKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.users[k]
	if e == nil {
		return
	}
	e.sockets--
	if e.sockets > 0 {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(p.grace, func() {
		p.mu.Lock()
		gone := e.leaving == t && e.sockets == 0
		if gone {
			delete(p.users, k)
		}
		p.mu.Unlock()
		if gone && p.onOffline != nil {
			p.onOffline(k)
		}
	})
	e.leaving = t
}

// sockets returns the user's socket count on this node.
func (p *presence) sockets(k userKey) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.users[k]; e != nil {
		return e.sockets
	}
	return 0
}

// counts returns the users with at least one socket, and the sockets.
func (p *presence) counts() (users, sockets int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.users {
		if e.sockets > 0 {
			users++
			sockets += e.sockets
		}
	}
	return users, sockets
}
