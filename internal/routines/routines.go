// Package routines tracks long-lived goroutines so that a shutdown can wait
// for every one of them (nats-server's startGoRoutine): nothing keeps
// running, or touches a closed store, after its owner said it stopped.
package routines

import "sync"

// Group starts goroutines and waits for them. The zero value is ready to
// use; a Group must not be copied after first use. Its methods are safe for
// concurrent use.
type Group struct {
	mu      sync.Mutex
	wg      sync.WaitGroup
	closing bool
}

// Go runs fn in a new goroutine tracked by the group, and reports whether
// it did: once Wait has begun, nothing new starts.
func (g *Group) Go(fn func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		fn()
	}()
	return true
}

// Wait refuses new goroutines and waits until every started one returned.
// The caller first tells them to stop (a context, a channel, a Close).
func (g *Group) Wait() {
	g.mu.Lock()
	g.closing = true
	g.mu.Unlock()
	g.wg.Wait()
}
