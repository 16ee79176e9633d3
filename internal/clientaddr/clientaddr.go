// Package clientaddr tells the address of the client behind an HTTP
// request: the TCP peer, or, when the peer is a trusted proxy (a load
// balancer, a reverse proxy), the address that proxy forwarded in
// X-Forwarded-For. It is computed once per request, by Middleware, which
// puts it in the request's RemoteAddr: every per-address limit and log
// downstream (Engine.IO sessions, the handshake rate, the unauthenticated
// connections per address, the HTTP API) reads that one value.
//
// X-Forwarded-For is read only from a trusted peer, and strictly: a
// comma-separated list of bare IP addresses (no port, no brackets, no
// zone), at most MaxHeaderBytes in all its lines. The client is the
// rightmost address that is not itself a trusted proxy (the addresses to
// its left are the client's own claims); when every address is trusted,
// the leftmost. A header that breaks any of these rules is ignored as a
// whole: the client is then the peer. The Forwarded header (RFC 7239) is
// not read.
package clientaddr

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"herald/ratelimit"
)

// MaxHeaderBytes bounds the X-Forwarded-For lines of one request, all
// together; a longer header is ignored.
const MaxHeaderBytes = 1024

// ParseCIDRs parses a comma-separated list of CIDR prefixes
// ("10.0.0.0/8, 2001:db8::/32"); a bare address stands for itself alone
// (/32 or /128). The empty list trusts nobody.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		var p netip.Prefix
		var err error
		if strings.Contains(f, "/") {
			p, err = netip.ParsePrefix(f)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(f); err == nil && a.Zone() == "" {
				p = netip.PrefixFrom(a, a.BitLen())
			}
		}
		if err != nil || !p.IsValid() {
			return nil, fmt.Errorf("clientaddr: %q is not a CIDR prefix or an IP address", f)
		}
		p = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		out = append(out, p)
	}
	return out, nil
}

// Resolver finds the client of a request; its zero value trusts nobody.
type Resolver struct {
	trusted []netip.Prefix
	log     *slog.Logger // nil: no log
	logs    ratelimit.Sampler
}

// New returns a Resolver that believes the X-Forwarded-For of peers in
// trusted. A header from a trusted peer that it ignores (malformed, too
// long) is logged at warn on log, sampled: a proxy that sends such
// headers is misconfigured, and its clients share its address. A nil log
// logs nothing.
func New(trusted []netip.Prefix, log *slog.Logger) *Resolver {
	return &Resolver{trusted: trusted, log: log, logs: ratelimit.Sampler{Limit: ratelimit.Limit{Rate: 1, Burst: 5}}}
}

// Trusted reports whether a is in one of the trusted prefixes.
func (r *Resolver) Trusted(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the client address of req as "ip:port" (port 0 when
// forwarded) and whether it was taken from X-Forwarded-For.
func (r *Resolver) Addr(req *http.Request) (string, bool) {
	if len(r.trusted) == 0 {
		return req.RemoteAddr, false
	}
	peer, err := netip.ParseAddrPort(req.RemoteAddr)
	if err != nil || !r.Trusted(peer.Addr()) {
		return req.RemoteAddr, false
	}
	lines := req.Header.Values("X-Forwarded-For")
	a, ok := Forwarded(lines, r.Trusted)
	if !ok {
		if len(lines) > 0 && r.log != nil {
			if log, suppressed := r.logs.Allow(time.Now()); log {
				r.log.Warn("X-Forwarded-For of a trusted proxy ignored: not a list of IP addresses within 1 KiB", "remote", req.RemoteAddr, "suppressed", suppressed)
			}
		}
		return req.RemoteAddr, false
	}
	return netip.AddrPortFrom(a, 0).String(), true
}

type peerKey struct{}

// Middleware serves next with each request's RemoteAddr set to its
// client address (see Addr); the TCP peer's address stays in the context,
// for Peer. With no trusted proxy it returns next itself.
func (r *Resolver) Middleware(next http.Handler) http.Handler {
	if len(r.trusted) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if addr, ok := r.Addr(req); ok {
			fwd := req.WithContext(context.WithValue(req.Context(), peerKey{}, req.RemoteAddr))
			fwd.RemoteAddr = addr
			req = fwd
		}
		next.ServeHTTP(w, req)
	})
}

// Peer returns the TCP peer of a request served by Middleware: the proxy
// when the client address was forwarded, else RemoteAddr.
func Peer(req *http.Request) string {
	if p, ok := req.Context().Value(peerKey{}).(string); ok {
		return p
	}
	return req.RemoteAddr
}

// Forwarded returns the client address of X-Forwarded-For lines (in the
// order of the request) as the package doc says, and false for a header
// that is absent, longer than MaxHeaderBytes, or not a strict list of IP
// addresses.
func Forwarded(lines []string, trusted func(netip.Addr) bool) (netip.Addr, bool) {
	n := 0
	for _, l := range lines {
		n += len(l)
	}
	if n == 0 || n > MaxHeaderBytes {
		return netip.Addr{}, false
	}
	var client netip.Addr
	found := false
	for i := len(lines) - 1; i >= 0; i-- {
		elems := strings.Split(lines[i], ",")
		for k := len(elems) - 1; k >= 0; k-- {
			a, err := netip.ParseAddr(strings.Trim(elems[k], " \t"))
			if err != nil || a.Zone() != "" {
				return netip.Addr{}, false
			}
			if a = a.Unmap(); !found {
				client, found = a, !trusted(a)
			}
		}
	}
	return client, true
}
