package socketio

import (
	"errors"
	"net"
	"net/http"
	"sync"
)

// errTooManyPending refuses a handshake from an address that already holds
// Options.MaxPendingPerAddr sessions not connected to a namespace.
var errTooManyPending = errors.New("socketio: too many unauthenticated sessions from this address")

// pendingByAddr counts, per source IP, the sessions that have not connected
// to a namespace yet: what a client can hold open without a valid CONNECT.
type pendingByAddr struct {
	limit int // <= 0: no bound
	mu    sync.Mutex
	n     map[string]int
}

// allow reports whether addr may open one more session. It is checked at
// the handshake; a burst of concurrent handshakes may pass it together.
func (p *pendingByAddr) allow(r *http.Request) error {
	if p.limit <= 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[hostOf(r.RemoteAddr)] >= p.limit {
		return errTooManyPending
	}
	return nil
}

func (p *pendingByAddr) add(addr string) {
	p.mu.Lock()
	if p.n == nil {
		p.n = make(map[string]int)
	}
	p.n[addr]++
	p.mu.Unlock()
}

func (p *pendingByAddr) done(addr string) {
	p.mu.Lock()
	if p.n[addr]--; p.n[addr] <= 0 {
		delete(p.n, addr)
	}
	p.mu.Unlock()
}

// hostOf returns the IP of a host:port address (the address itself if it
// has no port).
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
