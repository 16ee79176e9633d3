// Package forward lets Engine.IO sessions live on one node of a cluster
// while their requests land on any node, without sticky sessions: each
// session id names the node that owns it (NewSID), and a node that gets a
// polling GET/POST or a websocket upgrade for a session it does not hold
// proxies the request, in one hop, to the owner's advertised address
// (ServeForward, for engineio.Options.Forward).
//
// Owner addresses come from Options.Peers (the cluster's node leases),
// cached locally and listed again only on a miss, at most once per
// Options.RefreshInterval, so that no request costs a Redis round trip.
// A forwarded request carries the Header; a node never forwards such a
// request again (it answers "Session ID unknown" instead), so requests
// cannot loop, and the header gives an outsider nothing but that answer.
package forward

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Header marks a request that a node forwarded; its presence disables
// forwarding at the receiving node.
const Header = "X-Herald-Forwarded"

// TagLen is the length of a node tag: 16 lowercase hex digits (the
// cluster node id). randLen is the length of the random part of a sid.
const (
	TagLen  = 16
	randLen = 20 // 15 random bytes, base64url
)

// Outcomes of ServeForward, as counted in Stats.
const (
	OutcomeForwarded   = "forwarded"   // proxied to the owner, whatever it answered
	OutcomeOwnerGone   = "owner_gone"  // no live lease names the sid's node
	OutcomeUnreachable = "unreachable" // the owner did not answer (dial or proxy error)
	OutcomeLoop        = "loop"        // the request was already forwarded once
)

// Options configure a Forwarder. Every zero value means the default given.
type Options struct {
	// Tag is this node's tag, put at the start of every sid it makes: 16
	// lowercase hex digits (ValidTag). Required.
	Tag string
	// Peers lists the live nodes as tag → advertised address ("host:port",
	// plain HTTP). It is called only on a cache miss, at most once per
	// RefreshInterval, with a context of RefreshTimeout. Required.
	Peers func(ctx context.Context) (map[string]string, error)
	// RefreshInterval is the least time between two calls of Peers. Zero
	// means 500ms.
	RefreshInterval time.Duration
	// RefreshTimeout bounds one call of Peers. Zero means 2s.
	RefreshTimeout time.Duration
	// DialTimeout bounds connecting to an owner. Zero means 2s.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds how long the owner may take to start
	// its answer; it must exceed the longest long-poll (the Engine.IO ping
	// interval). Zero means 60s.
	ResponseHeaderTimeout time.Duration
	// MaxIdleConnsPerHost bounds the idle connections kept to each owner.
	// Zero means 32; IdleConnTimeout (zero means 60s) closes them.
	MaxIdleConnsPerHost int
	IdleConnTimeout     time.Duration
}

// Forwarder proxies requests for sessions of other nodes. Safe for
// concurrent use.
type Forwarder struct {
	opts  Options
	proxy *httputil.ReverseProxy

	peers atomic.Pointer[map[string]string] // the last listing

	mu      sync.Mutex
	next    *flight   // the refresh that later misses wait for; nil when none is due
	lastRun time.Time // when the last refresh started

	forwarded, ownerGone, unreachable, loop atomic.Uint64
}

// flight is one call of Peers that misses wait for.
type flight struct{ done chan struct{} }

// targetKey and failureKey are the context keys of a proxied request's
// owner URL and its *failure.
type targetKey struct{}
type failureKey struct{}

// failure records, per request, that the proxy could not reach the owner.
type failure struct{ failed bool }

// ValidTag reports whether tag is a node tag: TagLen lowercase hex digits.
func ValidTag(tag string) bool {
	if len(tag) != TagLen {
		return false
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseSID returns the node tag of a sid made by NewSID, and false for
// anything else (say, a sid of a node without forwarding).
func ParseSID(sid string) (tag string, ok bool) {
	if len(sid) != TagLen+randLen || !ValidTag(sid[:TagLen]) {
		return "", false
	}
	for i := TagLen; i < len(sid); i++ {
		if c := sid[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return "", false
		}
	}
	return sid[:TagLen], true
}

// New returns a forwarder; it fails if Tag is not a valid tag or Peers is
// nil.
func New(opts Options) (*Forwarder, error) {
	if !ValidTag(opts.Tag) {
		return nil, errors.New("forward: the node tag must be 16 lowercase hex digits")
	}
	if opts.Peers == nil {
		return nil, errors.New("forward: Peers is required")
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 500 * time.Millisecond
	}
	if opts.RefreshTimeout <= 0 {
		opts.RefreshTimeout = 2 * time.Second
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = 2 * time.Second
	}
	if opts.ResponseHeaderTimeout <= 0 {
		opts.ResponseHeaderTimeout = 60 * time.Second
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = 32
	}
	if opts.IdleConnTimeout <= 0 {
		opts.IdleConnTimeout = 60 * time.Second
	}
	f := &Forwarder{opts: opts}
	f.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			target := pr.In.Context().Value(targetKey{}).(*url.URL)
			pr.SetURL(target)
			pr.SetXForwarded()
			pr.Out.Header.Set(Header, "1")
		},
		Transport: &http.Transport{
			Proxy:                 nil, // one hop, never through an environment proxy
			DialContext:           (&net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
			ResponseHeaderTimeout: opts.ResponseHeaderTimeout,
			MaxIdleConnsPerHost:   opts.MaxIdleConnsPerHost,
			MaxIdleConns:          4 * opts.MaxIdleConnsPerHost,
			IdleConnTimeout:       opts.IdleConnTimeout,
			DisableCompression:    true, // pass the owner's bytes through as they are
		},
		ModifyResponse: func(*http.Response) error {
			f.forwarded.Add(1) // counted when the owner answers: a websocket may live long
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			// Nothing was written: the caller answers "Session ID unknown".
			if fl, ok := r.Context().Value(failureKey{}).(*failure); ok {
				fl.failed = true
			}
		},
	}
	empty := map[string]string{}
	f.peers.Store(&empty)
	return f, nil
}

// NewSID returns a new session id owned by this node: its tag and 20
// random characters of [A-Za-z0-9_-] (120 bits), for
// engineio.Options.NewID.
func (f *Forwarder) NewSID() string {
	var b [15]byte
	rand.Read(b[:])
	return f.opts.Tag + base64.RawURLEncoding.EncodeToString(b[:])
}

// ServeForward proxies r, a request for the session sid that this node
// does not hold, to the sid's owner and returns true, or returns false
// having written nothing, so that the caller answers "Session ID unknown":
// when the sid names no other node, no live node has its tag, the request
// was already forwarded, or the owner cannot be reached. The owner's
// answer (status, headers, CORS, body) passes through unchanged; bodies
// stream, never buffered here. For engineio.Options.Forward.
func (f *Forwarder) ServeForward(w http.ResponseWriter, r *http.Request, sid string) bool {
	tag, ok := ParseSID(sid)
	if !ok || tag == f.opts.Tag {
		return false // not a forwarder's sid, or ours and gone
	}
	if r.Header.Get(Header) != "" {
		f.loop.Add(1)
		return false
	}
	addr, ok := f.lookup(r.Context(), tag)
	if !ok {
		f.ownerGone.Add(1)
		return false
	}
	fl := &failure{}
	ctx := context.WithValue(context.WithValue(r.Context(), targetKey{}, &url.URL{Scheme: "http", Host: addr}), failureKey{}, fl)
	f.proxy.ServeHTTP(w, r.WithContext(ctx))
	if fl.failed {
		if r.Context().Err() != nil {
			return true // the client went away: nobody to answer
		}
		f.unreachable.Add(1)
		return false
	}
	return true
}

// lookup returns the address of the node tagged tag: from the cache, or
// after the next refresh (at most RefreshInterval away) if the cache does
// not have it.
func (f *Forwarder) lookup(ctx context.Context, tag string) (string, bool) {
	if addr, ok := (*f.peers.Load())[tag]; ok {
		return addr, true
	}
	f.mu.Lock()
	fl := f.next
	if fl == nil {
		fl = &flight{done: make(chan struct{})}
		f.next = fl
		wait := time.Until(f.lastRun.Add(f.opts.RefreshInterval))
		go f.refresh(fl, wait)
	}
	f.mu.Unlock()
	t := time.NewTimer(f.opts.RefreshInterval + f.opts.RefreshTimeout)
	defer t.Stop()
	select {
	case <-fl.done:
	case <-ctx.Done():
		return "", false
	case <-t.C:
		return "", false
	}
	addr, ok := (*f.peers.Load())[tag]
	return addr, ok
}

// refresh runs fl after wait: it lists the peers and replaces the cache
// (dead nodes leave it), or keeps the cache if the listing failed.
func (f *Forwarder) refresh(fl *flight, wait time.Duration) {
	if wait > 0 {
		time.Sleep(wait)
	}
	f.mu.Lock()
	f.next = nil // misses from now on wait for a later listing
	f.lastRun = time.Now()
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), f.opts.RefreshTimeout)
	peers, err := f.opts.Peers(ctx)
	cancel()
	if err == nil {
		m := make(map[string]string, len(peers))
		for tag, addr := range peers {
			if tag != f.opts.Tag && addr != "" {
				m[tag] = addr
			}
		}
		f.peers.Store(&m)
	}
	close(fl.done)
}

// Stats are the forwarder's counters by outcome since it started.
type Stats struct {
	Forwarded, OwnerGone, Unreachable, Loop uint64
}

// Stats returns the counters, e.g. for herald_forwarded_requests_total.
func (f *Forwarder) Stats() Stats {
	return Stats{Forwarded: f.forwarded.Load(), OwnerGone: f.ownerGone.Load(),
		Unreachable: f.unreachable.Load(), Loop: f.loop.Load()}
}
