package main

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"herald/engineio"
	"herald/gateway"
	"herald/metrics"
	"herald/ratelimit"
)

// maxTrackedAddresses bounds the source addresses whose handshake rate is
// tracked at once (see ratelimit.Keyed).
const maxTrackedAddresses = 65536

// handshakeGuard stands in front of the Socket.IO endpoint. It refuses a
// new Engine.IO session (a request without sid) over perSecond from one
// source address with 429 and Retry-After: the official client takes it
// as a transport error and retries with its reconnection backoff, so a
// reconnect storm from behind one NAT slows down instead of leaving
// clients disconnected. It also counts and logs the requests that the
// Engine.IO layer refuses for their browser origin. Every refusal is
// logged at warn, sampled.
type handshakeGuard struct {
	next    http.Handler
	cors    engineio.CORS
	perAddr *ratelimit.Keyed // nil when off
	m       *metrics.Metrics
	log     *slog.Logger
	logs    ratelimit.Sampler
}

func newHandshakeGuard(next http.Handler, cors engineio.CORS, perSecond float64, m *metrics.Metrics, log *slog.Logger) *handshakeGuard {
	g := &handshakeGuard{next: next, cors: cors, m: m, log: log, logs: ratelimit.Sampler{Limit: ratelimit.Limit{Rate: 10, Burst: 20}}}
	if l := ratelimit.PerSecond(perSecond); !l.Off() {
		g.perAddr = ratelimit.NewKeyed(l, maxTrackedAddresses)
	}
	return g
}

func (g *handshakeGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if origin := r.Header.Get("Origin"); !g.cors.Allows(origin) {
		g.refused(r, metrics.CodeOrigin, "origin not allowed", "origin", origin)
	} else if g.perAddr != nil && r.Method == http.MethodGet && r.URL.Query().Get("sid") == "" {
		if ok, wait := g.perAddr.Take(sourceKey(r.RemoteAddr), time.Now()); !ok {
			g.m.Limited(gateway.LimitHandshakes)
			g.refused(r, gateway.CodeLimit, "too many handshakes from this address")
			w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			w.Write([]byte(`{"code":"limit","message":"Too many connection attempts; retry later."}` + "\n"))
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

func (g *handshakeGuard) refused(r *http.Request, code, reason string, attrs ...any) {
	g.m.HandshakeRefused(code)
	ok, suppressed := g.logs.Allow(time.Now())
	if !ok {
		return
	}
	attrs = append(attrs, "reason", reason, "code", code, "remote", r.RemoteAddr, "transport", r.URL.Query().Get("transport"))
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	g.log.Warn("handshake refused", attrs...)
}

// sourceKey is the rate key of a remote address "ip:port": the IP, or its
// /64 for IPv6, where one host commonly holds a whole /64.
func sourceKey(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return remote
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
