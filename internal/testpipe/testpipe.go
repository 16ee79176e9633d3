// Package testpipe is an in-memory network for tests: an http.Server
// serves a Listener that clients dial, each connection one net.Pipe pair.
// Tests of the Engine.IO and Socket.IO servers run on it without sockets
// or npm; a pipe is synchronous and unbuffered, so a client that stops
// reading blocks the server's writes at once, as a full socket would.
package testpipe

import (
	"context"
	"net"
	"net/http"
	"sync"
)

// Listener is a net.Listener whose connections come from Dial.
type Listener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// Listen returns a new Listener.
func Listen() *Listener {
	return &Listener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for the next Dial.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and Dial.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns a placeholder address.
func (l *Listener) Addr() net.Addr { return addr{} }

// Dial connects to the listener, whatever network and address say; its
// signature is that of net.Dialer.DialContext.
func (l *Listener) Dial(ctx context.Context, network, address string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Client returns an HTTP client whose connections are dialed to l.
func (l *Listener) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: l.Dial}}
}

// Serve serves h on a new Listener until stop is called; clients reach it
// at any http:// or ws:// address through the Listener's Dial or Client.
func Serve(h http.Handler) (l *Listener, stop func()) {
	l = Listen()
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	return l, func() { srv.Close(); l.Close() }
}

type addr struct{}

func (addr) Network() string { return "pipe" }
func (addr) String() string  { return "pipe" }
