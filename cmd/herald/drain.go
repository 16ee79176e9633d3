package main

import (
	"context"
	"io"
	"net/http"
	"time"

	"herald/socketio"
)

// drain is herald's lame-duck mode (nats-server's): it stops taking new
// Engine.IO handshakes (503) and turns /readyz to 503 at once, so that load
// balancers and clients go elsewhere, then closes the connected sockets'
// transports spread evenly over period, so that they reconnect to other
// nodes without a storm. Closed transports are "transport close" to the
// clients, which reconnect by themselves. It returns when every socket
// connected at its start was told to close, at most period after it began
// (at once if ctx ends first).
func (s *server) drain(ctx context.Context, period time.Duration) {
	s.draining.Store(true)
	s.io.Engine().StopAccepting()
	closeSpread(ctx, s.io.Of("/").To().Sockets(), period)
}

// closeSpread closes the sockets' connections (gracefully, after what is
// queued) at an even pace over period, the first at once.
func closeSpread(ctx context.Context, sockets []*socketio.Socket, period time.Duration) {
	n := len(sockets)
	if n == 0 {
		return
	}
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for closed := 0; ; {
		due := n
		if period > 0 {
			due = min(n, 1+int(int64(n)*int64(time.Since(start))/int64(period)))
		}
		for ; closed < due; closed++ {
			sockets[closed].Conn().Close()
		}
		if closed == n {
			return
		}
		select {
		case <-ctx.Done():
			for _, s := range sockets[closed:] {
				s.Conn().Close()
			}
			return
		case <-tick.C:
		}
	}
}

// bodyDeadline gives each request body d to arrive in full, from the
// moment its handler starts; a trickled body is cut off (its reads fail)
// when d has passed. It is set per request with http.ResponseController, as
// http.Server's ReadTimeout would also cut long-polling GETs and websocket
// connections, which have no body and live long. The deadline is lifted
// once the body is read to its end.
func bodyDeadline(next http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 && r.Header.Get("Upgrade") == "" {
			rc := http.NewResponseController(w)
			if rc.SetReadDeadline(time.Now().Add(d)) == nil {
				r.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
			}
		}
		next.ServeHTTP(w, r)
	})
}

type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
