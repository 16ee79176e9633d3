//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/golang-jwt/jwt/v5"
)

// PoolConfig says which connections a Pool opens and what it counts on them.
type PoolConfig struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:3000; the websocket URL is derived from it.
	// Several comma-separated URLs are the nodes of a cluster: user i connects to node i mod k.
	URL string `json:"url"`
	// Secret signs the HS256 JWTs the pool mints for its users.
	Secret string `json:"secret"`
	// FirstUser and Users select the users u<FirstUser> .. u<FirstUser+Users-1>, one connection each.
	FirstUser int `json:"firstUser"`
	Users     int `json:"users"`
	// SourceIPs are the local addresses connections are bound to, round robin; each gives its own
	// ~28k ephemeral ports. Empty means the kernel's choice.
	SourceIPs []string `json:"sourceIPs"`
	// Rate is how many connections are started per second. Zero means 1000.
	Rate float64 `json:"rate"`
	// MaxPending bounds the handshakes in flight at once. Zero means 500.
	MaxPending int `json:"maxPending"`
	// ConnectTimeout bounds one connection's dial, upgrade and authentication. Zero means 15s.
	ConnectTimeout time.Duration `json:"connectTimeout"`
	// Event is the event name whose packets are counted and timed. Zero means "bench".
	Event string `json:"event"`
	// GroupSize is the number of consecutive users per emit group (user i is in group i/GroupSize);
	// an event whose "g" field names another group counts as misrouted. Zero turns the check off.
	GroupSize int `json:"groupSize"`
}

func (c *PoolConfig) setDefaults() {
	if c.Rate <= 0 {
		c.Rate = 1000
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 500
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 15 * time.Second
	}
	if c.Event == "" {
		c.Event = "bench"
	}
}

// A Pool holds the load tool's connections within one process and the counters they update.
// Its methods may be called concurrently.
type Pool struct {
	cfg         PoolConfig
	wsURLs      []string // one per node
	dialers     []ws.Dialer
	eventPrefix []byte
	secret      []byte

	attempted, connected, failed, dropped atomic.Int64
	received, misrouted, stale            atomic.Int64
	otherEvents                           atomic.Int64
	window                                atomic.Int64
	lastRecv                              atomic.Int64 // Unix nanos of the latest counted event
	lastConnect                           atomic.Int64 // Unix nanos of the latest authentication
	connectHist                           Histogram
	recvHist                              atomic.Pointer[Histogram]
	closing                               atomic.Bool

	wg           sync.WaitGroup // handshake goroutines
	reactorsOnce sync.Once
	reactors     []*reactor
	reactorsErr  error
	mu           sync.Mutex
	handshaking  map[*conn]struct{} // for Close
	errors       map[string]int
}

// NewPool checks cfg and prepares a pool; Connect opens the connections.
func NewPool(cfg PoolConfig) (*Pool, error) {
	cfg.setDefaults()
	var wsURLs []string
	for _, base := range splitList(cfg.URL) {
		u, err := websocketURL(base)
		if err != nil {
			return nil, err
		}
		wsURLs = append(wsURLs, u)
	}
	if len(wsURLs) == 0 {
		return nil, errors.New("no server URL")
	}
	p := &Pool{
		cfg:         cfg,
		wsURLs:      wsURLs,
		eventPrefix: []byte(`["` + cfg.Event + `",`),
		secret:      []byte(cfg.Secret),
		handshaking: map[*conn]struct{}{},
		errors:      map[string]int{},
	}
	p.recvHist.Store(new(Histogram))
	srcs := cfg.SourceIPs
	if len(srcs) == 0 {
		srcs = []string{""}
	}
	for _, s := range srcs {
		var local *net.TCPAddr
		if s != "" {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("bad source address %q", s)
			}
			local = &net.TCPAddr{IP: ip}
		}
		nd := &net.Dialer{LocalAddr: local, Control: bindNoPort}
		p.dialers = append(p.dialers, ws.Dialer{
			Timeout: cfg.ConnectTimeout,
			NetDial: nd.DialContext,
		})
	}
	return p, nil
}

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (Linux 4.2+): with it, bind() to a source address
// leaves the port to connect(), which may then reuse a port towards another destination or one in
// TIME_WAIT, instead of each bound socket holding a port of the address exclusively.
const ipBindAddressNoPort = 24

func bindNoPort(network, address string, rc syscall.RawConn) error {
	rc.Control(func(fd uintptr) {
		syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	return nil
}

// websocketURL turns http://host:port into ws://host:port/socket.io/?EIO=4&transport=websocket.
func websocketURL(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("bad server URL %q: %w", base, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("bad server URL %q: want http://host:port", base)
	}
	if u.Host == "" {
		return "", fmt.Errorf("bad server URL %q: no host", base)
	}
	u.Path = "/socket.io/"
	u.RawQuery = "EIO=4&transport=websocket"
	return u.String(), nil
}

// Connect opens the pool's connections at the configured rate and returns once every handshake has
// ended, successfully or not, or ctx is done (connections not started by then are not started).
func (p *Pool) Connect(ctx context.Context) {
	sem := make(chan struct{}, p.cfg.MaxPending)
	var handshakes sync.WaitGroup
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	next := 0
	for next < p.cfg.Users && !p.closing.Load() {
		due := min(int(time.Since(start).Seconds()*p.cfg.Rate)+1, p.cfg.Users)
		for ; next < due; next++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				handshakes.Wait()
				return
			}
			if !p.trackHandshake() {
				<-sem
				handshakes.Wait()
				return
			}
			user := p.cfg.FirstUser + next
			c := &conn{pool: p, user: user}
			if p.cfg.GroupSize > 0 {
				c.group = int64(user / p.cfg.GroupSize)
			}
			p.attempted.Add(1)
			handshakes.Add(1)
			go func() {
				defer p.wg.Done()
				defer handshakes.Done()
				c.handshake()
				<-sem
			}()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			handshakes.Wait()
			return
		}
	}
	handshakes.Wait()
}

// connectFrame mints the user's JWT and wraps it in a masked CONNECT frame.
func (p *Pool) connectFrame(user int) []byte {
	sub := "u" + strconv.Itoa(user)
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub":   sub,
		"email": sub + "@bench.invalid",
		"iat":   now.Unix(),
		"exp":   now.Add(24 * time.Hour).Unix(),
	}).SignedString(p.secret)
	if err != nil {
		panic(err) // HS256 with a []byte key cannot fail
	}
	return mustFrame(ws.OpText, connectPayload(tok))
}

// track registers a connection in its handshake so that Close can reach it; false if the pool is
// closing. untrack ends that; false if the pool is closing (and Close has closed or will close the
// connection).
func (p *Pool) track(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing.Load() {
		return false
	}
	p.handshaking[c] = struct{}{}
	return true
}

func (p *Pool) untrack(c *conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.handshaking, c)
	return !p.closing.Load()
}

// reactorFor returns the reactor that reads the user's connection, starting the reactors (one per
// usable CPU) on first use.
func (p *Pool) reactorFor(user int) (*reactor, error) {
	p.reactorsOnce.Do(func() {
		for range runtime.GOMAXPROCS(0) {
			r, err := newReactor(p)
			if err != nil {
				p.reactorsErr = err
				return
			}
			p.reactors = append(p.reactors, r)
		}
	})
	if p.reactorsErr != nil {
		return nil, p.reactorsErr
	}
	return p.reactors[user%len(p.reactors)], nil
}

// storeMax raises a to v unless it is already higher.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

func (p *Pool) fail(err error) {
	p.failed.Add(1)
	p.noteError("", err)
}

func (p *Pool) drop(err error) {
	p.dropped.Add(1)
	p.noteError("dropped: ", err)
}

// noteError counts errors by their text, keeping at most a few dozen distinct texts.
func (p *Pool) noteError(prefix string, err error) {
	if err == nil {
		err = errors.New("unknown")
	}
	msg := prefix + err.Error()
	// Addresses and ports differ per connection; the kind of error is what matters.
	if i := strings.Index(msg, "->"); i >= 0 {
		msg = "dial: " + msg[i+2:]
		if j := strings.Index(msg, ": "); j >= 0 && j+2 < len(msg) {
			msg = msg[:j] + ": " + lastColon(msg[j+2:])
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.errors[msg]; ok || len(p.errors) < 32 {
		p.errors[msg]++
	} else {
		p.errors["(other)"]++
	}
}

func lastColon(s string) string {
	if i := strings.LastIndex(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

// SetWindow starts a measurement window: events whose "w" field is not w are counted as stale, and
// the received counters and latency histogram start from zero.
func (p *Pool) SetWindow(w int64) {
	p.window.Store(w)
	p.recvHist.Store(new(Histogram))
	p.received.Store(0)
	p.misrouted.Store(0)
	p.stale.Store(0)
	p.lastRecv.Store(0)
}

// Snapshot reads the pool's counters and histograms.
func (p *Pool) Snapshot() Snapshot {
	s := p.Counts()
	s.ConnectHist, s.RecvHist = new(Histogram), new(Histogram)
	s.ConnectHist.Merge(&p.connectHist)
	s.RecvHist.Merge(p.recvHist.Load())
	return s
}

// Counts reads the pool's counters only: cheap enough to poll.
func (p *Pool) Counts() Snapshot {
	s := Snapshot{
		Attempted:   p.attempted.Load(),
		Connected:   p.connected.Load(),
		Failed:      p.failed.Load(),
		Dropped:     p.dropped.Load(),
		Window:      p.window.Load(),
		Received:    p.received.Load(),
		Misrouted:   p.misrouted.Load(),
		Stale:       p.stale.Load(),
		OtherEvents: p.otherEvents.Load(),
		LastRecv:    p.lastRecv.Load(),
		LastConnect: p.lastConnect.Load(),
		Errors:      map[string]int{},
	}
	p.mu.Lock()
	for k, v := range p.errors {
		s.Errors[k] = v
	}
	p.mu.Unlock()
	return s
}

// trackHandshake counts one more handshake in p.wg unless Close has begun. Close
// sets closing under p.mu, so no Add can race with its Wait.
func (p *Pool) trackHandshake() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closing.Load() {
		return false
	}
	p.wg.Add(1)
	return true
}

// Close closes every connection and waits (up to a few seconds) for handshakes under way to end.
func (p *Pool) Close() {
	p.mu.Lock()
	p.closing.Store(true)
	for c := range p.handshaking {
		c.nc.Close()
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	p.reactorsOnce.Do(func() {}) // no reactor starts from now on
	for _, r := range p.reactors {
		r.close()
	}
}

// Snapshot is the state of one or more pools at one moment.
type Snapshot struct {
	Attempted   int64          `json:"attempted"`
	Connected   int64          `json:"connected"` // ever authenticated
	Failed      int64          `json:"failed"`    // never authenticated
	Dropped     int64          `json:"dropped"`   // closed by the server or the network after authenticating
	Window      int64          `json:"window"`
	Received    int64          `json:"received"`              // counted events in the window
	Misrouted   int64          `json:"misrouted"`             // events addressed to another user group
	Stale       int64          `json:"stale"`                 // counted-event name, but another window
	OtherEvents int64          `json:"otherEvents"`           // events of other names
	LastRecv    int64          `json:"lastRecv"`              // Unix nanos
	LastConnect int64          `json:"lastConnect"`           // Unix nanos
	ConnectHist *Histogram     `json:"connectHist,omitempty"` // nil in counts
	RecvHist    *Histogram     `json:"recvHist,omitempty"`    // nil in counts
	Errors      map[string]int `json:"errors,omitempty"`
	CPU         time.Duration  `json:"cpu"` // CPU time of the process that holds the pool, if remote
}

// add merges o into s.
func (s *Snapshot) add(o Snapshot) {
	s.Attempted += o.Attempted
	s.Connected += o.Connected
	s.Failed += o.Failed
	s.Dropped += o.Dropped
	s.Window = o.Window
	s.Received += o.Received
	s.Misrouted += o.Misrouted
	s.Stale += o.Stale
	s.OtherEvents += o.OtherEvents
	s.LastRecv = max(s.LastRecv, o.LastRecv)
	s.LastConnect = max(s.LastConnect, o.LastConnect)
	if o.ConnectHist != nil {
		if s.ConnectHist == nil {
			s.ConnectHist = new(Histogram)
		}
		s.ConnectHist.Merge(o.ConnectHist)
	}
	if o.RecvHist != nil {
		if s.RecvHist == nil {
			s.RecvHist = new(Histogram)
		}
		s.RecvHist.Merge(o.RecvHist)
	}
	if s.Errors == nil {
		s.Errors = map[string]int{}
	}
	for k, v := range o.Errors {
		s.Errors[k] += v
	}
	s.CPU += o.CPU
}

// Live is the number of connections authenticated and still open.
func (s *Snapshot) Live() int64 { return s.Connected - s.Dropped }
