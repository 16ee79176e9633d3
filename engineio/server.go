// Package engineio implements the server side of Engine.IO protocol 4:
// HTTP long-polling, websocket, the upgrade from one to the other, and
// heartbeats. It knows nothing of Socket.IO; a Handler receives each
// session's messages.
//
// The write path is one-way: Session.Send writes what the socket takes
// now and queues the rest, within a byte budget, and returns a reason
// (ErrSlowConsumer, ErrClosed, a write error) without ever blocking or
// closing on the caller's goroutine. A session is closed by one owner: its
// reader, the poller, its writer goroutine (blocking mode) or a close
// goroutine. On Linux websockets are driven by one epoll poller; elsewhere,
// and for TLS or with BlockingReads, each connection has a reading and a
// writing goroutine (blocking mode).
package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// Options configure a Server. Every zero value means the default given.
type Options struct {
	// PingInterval between server pings. Zero means 25s.
	PingInterval time.Duration
	// PingTimeout is how long a pong may take. Zero means 20s.
	PingTimeout time.Duration
	// MaxPayload is the largest message or polling request body accepted, in
	// bytes. Zero means 1,000,000 (socket.io's maxHttpBufferSize).
	MaxPayload int
	// WriteQueueLimit is how many bytes may wait for a slow websocket client
	// before it is disconnected. Zero means 4 MiB.
	WriteQueueLimit int
	// UpgradeTimeout bounds the websocket upgrade of a polling session.
	// Zero means 10s.
	UpgradeTimeout time.Duration
	// BlockingReads serves each websocket with a goroutine blocked in Read
	// and a writer goroutine instead of the shared epoll poller (the only
	// way on other systems and for TLS connections). It costs several KiB
	// per idle connection; it exists to measure that difference.
	BlockingReads bool
	// DisablePolling and DisableWebsocket turn a transport off.
	DisablePolling, DisableWebsocket bool
	// CORS decides which browser origins may connect.
	CORS CORS
	// AllowRequest, if set, may refuse a handshake; the client gets 403.
	AllowRequest func(r *http.Request) error
	// OnSession is called for each new session before anything is sent to
	// the client; it returns the Handler for the session's packets. Required.
	OnSession func(s *Session, r *http.Request) Handler
	// Logger receives connection-level errors. Nil means slog.Default().
	Logger *slog.Logger
	// NewID, if set, makes the id of each new session (say, one that names
	// this node, for Forward); it must be unguessable, unique, and of the
	// characters [A-Za-z0-9_-]. Nil means 20 random such characters.
	NewID func() string
	// Forward, if set, is offered every request naming a sid this server
	// does not hold, before anything else is done with it (CORS included:
	// whoever answers applies its own); it returns true if it answered the
	// request (say, by proxying it to the node that holds the session),
	// false to have the server answer "Session ID unknown" as usual.
	Forward func(w http.ResponseWriter, r *http.Request, sid string) bool
}

// Server serves Engine.IO sessions. Mount it at its path, e.g.
// mux.Handle("/engine.io/", srv).
type Server struct {
	opts  Options
	wheel *wheel

	shards [64]sessionShard

	opened, closed, slow atomic.Uint64
	refusing             atomic.Bool // set by StopAccepting

	closeOnce sync.Once
}

// Stats are counters of a server since it started.
type Stats struct {
	Open          int    // sessions open now
	Opened        uint64 // sessions opened
	Closed        uint64 // sessions closed
	SlowConsumers uint64 // sessions closed because their write queue overflowed
}

// Stats returns the server's counters.
func (srv *Server) Stats() Stats {
	return Stats{Open: srv.Count(), Opened: srv.opened.Load(), Closed: srv.closed.Load(), SlowConsumers: srv.slow.Load()}
}

type sessionShard struct {
	mu       sync.RWMutex
	sessions map[string]*Session
}

// NewServer returns a server with opts; see Options for the defaults.
func NewServer(opts Options) *Server {
	if opts.PingInterval <= 0 {
		opts.PingInterval = 25 * time.Second
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 20 * time.Second
	}
	if opts.MaxPayload <= 0 {
		opts.MaxPayload = 1_000_000
	}
	if opts.WriteQueueLimit <= 0 {
		opts.WriteQueueLimit = 4 << 20
	}
	if opts.UpgradeTimeout <= 0 {
		opts.UpgradeTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.NewID == nil {
		opts.NewID = newID
	}
	tick := min(opts.PingInterval, opts.PingTimeout) / 8
	tick = max(min(tick, 500*time.Millisecond), 5*time.Millisecond)
	s := &Server{opts: opts, wheel: newWheel(tick, max(opts.PingInterval, opts.PingTimeout))}
	for i := range s.shards {
		s.shards[i].sessions = make(map[string]*Session)
	}
	return s
}

// Options returns the options in force, defaults filled in.
func (srv *Server) Options() Options { return srv.opts }

// Engine.IO error codes, sent as {"code":N,"message":"..."} with a 400 or 403.
const (
	errTransportUnknown   = 0
	errUnknownSid         = 1
	errBadHandshakeMethod = 2
	errBadRequest         = 3
	errForbidden          = 4
	errUnsupportedVersion = 5
)

var errorMessages = [...]string{
	"Transport unknown", "Session ID unknown", "Bad handshake method",
	"Bad request", "Forbidden", "Unsupported protocol version",
}

func writeError(w http.ResponseWriter, code int) {
	status := http.StatusBadRequest
	if code == errForbidden {
		status = http.StatusForbidden
	}
	body, _ := json.Marshal(struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}{code, errorMessages[code]})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// ServeHTTP handles handshakes, polling requests and websocket upgrades.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sid := q.Get("sid")
	var s *Session
	if sid != "" {
		s = srv.lookup(sid)
		if s == nil && srv.opts.Forward != nil && srv.opts.Forward(w, r, sid) {
			return
		}
	}
	if !srv.opts.CORS.apply(w, r) {
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		writeError(w, errForbidden)
		return
	}
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	transport := q.Get("transport")
	if (transport != "polling" || srv.opts.DisablePolling) && (transport != "websocket" || srv.opts.DisableWebsocket) {
		writeError(w, errTransportUnknown)
		return
	}
	if q.Get("EIO") != "4" {
		writeError(w, errUnsupportedVersion)
		return
	}
	isUpgrade := r.Header.Get("Upgrade") != ""
	if transport == "websocket" && !isUpgrade {
		writeError(w, errBadRequest)
		return
	}
	if sid == "" {
		srv.handshake(w, r, transport)
		return
	}
	if s == nil || r.Method == http.MethodGet && transport == "polling" && s.pingExpired() {
		writeError(w, errUnknownSid)
		return
	}
	if transport == "websocket" {
		srv.upgrade(w, r, s)
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.pollGet(w, r)
	case http.MethodPost:
		s.pollPost(w, r)
	default:
		writeError(w, errBadRequest)
	}
}

// StopAccepting makes every later handshake fail with 503 and a JSON
// error, so that clients (and load balancers) go elsewhere while the
// sessions already open are served on. It is the first step of a drain
// (lame duck); it cannot be undone.
func (srv *Server) StopAccepting() { srv.refusing.Store(true) }

func (srv *Server) handshake(w http.ResponseWriter, r *http.Request, transport string) {
	if srv.refusing.Load() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"code":503,"message":"Server is shutting down"}`))
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, errBadHandshakeMethod)
		return
	}
	if srv.opts.AllowRequest != nil {
		if err := srv.opts.AllowRequest(r); err != nil {
			writeError(w, errForbidden)
			return
		}
	}
	s := &Session{id: srv.opts.NewID(), srv: srv, query: r.URL.RawQuery, remote: r.RemoteAddr, hbSlot: -1}
	open := srv.openPacket(s.id, transport)
	if transport == "websocket" {
		c, initial, ok := srv.accept(w, r, s)
		if !ok {
			return
		}
		s.ws.Store(c)
		srv.register(s, r)
		c.write(open.Frame()) // a failure closes the registered session
		c.start(initial)
		return
	}
	s.poll = newPolling(s)
	s.poll.enqueueLocked(open)
	srv.register(s, r)
	s.pollGet(w, r)
}

// ServeConn serves nc, a connection on which the websocket handshake is
// already done (by a custom listener, or in tests), as a new session on the
// websocket transport; r is the handshake request given to OnSession. It
// returns once the session is registered; the session ends when nc does.
func (srv *Server) ServeConn(nc net.Conn, r *http.Request) *Session {
	s := &Session{id: srv.opts.NewID(), srv: srv, query: r.URL.RawQuery, remote: r.RemoteAddr, hbSlot: -1}
	c := srv.newWSConn(s, nc)
	s.ws.Store(c)
	srv.register(s, r)
	c.write(srv.openPacket(s.id, "websocket").Frame()) // a failure closes the registered session
	c.start(nil)
	return s
}

// register completes s, whose transport is set, with its handler, then
// publishes it: counted, addressable by sid, armed for heartbeats. Only a
// registered session is ever closed, so every close has its open and its
// handler. Nothing is written to the client before.
//
// OnSession may hand s to code that closes it before OnSession returns; such
// a session is told OnClose here, once it has its handler, and never
// published. Publishing under s.mu orders it before any later close, whose
// forget then finds it (lock order: s.mu, then a shard's or the wheel's).
func (srv *Server) register(s *Session, r *http.Request) {
	h := srv.opts.OnSession(s, r)
	srv.opened.Add(1)
	s.mu.Lock()
	s.handler = h
	if s.state == stateClosed {
		reason := s.reason
		s.mu.Unlock()
		h.OnClose(s, reason)
		return
	}
	sh := srv.shard(s.id)
	sh.mu.Lock()
	sh.sessions[s.id] = s
	sh.mu.Unlock()
	srv.wheel.schedule(s, srv.opts.PingInterval, false)
	s.mu.Unlock()
}

func (srv *Server) openPacket(sid, transport string) *Message {
	var upgrades []string
	if transport == "polling" && !srv.opts.DisableWebsocket {
		upgrades = []string{"websocket"}
	} else {
		upgrades = []string{}
	}
	data, _ := json.Marshal(struct {
		Sid          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int      `json:"maxPayload"`
	}{sid, upgrades, srv.opts.PingInterval.Milliseconds(), srv.opts.PingTimeout.Milliseconds(), srv.opts.MaxPayload})
	return newPacket(PacketOpen, data)
}

// accept completes a websocket handshake and wraps the connection.
func (srv *Server) accept(w http.ResponseWriter, r *http.Request, s *Session) (*wsConn, []byte, bool) {
	nc, rw, _, err := ws.HTTPUpgrader{}.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			nc.Close()
		}
		return nil, nil, false
	}
	var initial []byte
	if n := rw.Reader.Buffered(); n > 0 {
		initial, _ = rw.Reader.Peek(n)
		initial = append([]byte(nil), initial...)
	}
	return srv.newWSConn(s, nc), initial, true
}

// newWSConn wraps nc, detached onto the poller unless reads block; a
// connection left in blocking mode gets a writer goroutine of its own.
func (srv *Server) newWSConn(s *Session, nc net.Conn) *wsConn {
	c := &wsConn{sess: s, fd: -1, nc: nc}
	if !srv.opts.BlockingReads {
		if fd := detach(nc); fd >= 0 {
			c.fd, c.nc = fd, nil
			return c
		}
	}
	c.wake = sync.NewCond(&c.mu)
	c.try = tryWriter(nc)
	go c.writeLoop()
	return c
}

// TryWriter is implemented by connections that can write without
// blocking: TryWrite writes what the connection takes at once and never
// waits. A connection in blocking mode that has it (or is a plain TCP or
// Unix connection on Linux) is written from the sender's goroutine while
// it keeps up, and by its writer goroutine only once it falls behind.
type TryWriter interface {
	TryWrite(b []byte) (int, error)
}

func tryWriter(nc net.Conn) func([]byte) (int, error) {
	if t, ok := nc.(TryWriter); ok {
		return t.TryWrite
	}
	return rawTryWriter(nc)
}

// upgrade starts probing a websocket for a polling session.
func (srv *Server) upgrade(w http.ResponseWriter, r *http.Request, s *Session) {
	s.mu.Lock()
	ok := s.state == stateOpen && s.poll != nil && s.probe == nil
	s.mu.Unlock()
	if !ok {
		// Like the reference server: complete the handshake, then close.
		if nc, _, _, err := (ws.HTTPUpgrader{}).Upgrade(r, w); err == nil {
			nc.Close()
		}
		return
	}
	c, initial, ok := srv.accept(w, r, s)
	if !ok {
		return
	}
	c.probing.Store(true)
	s.mu.Lock()
	if s.state != stateOpen || s.poll == nil || s.probe != nil {
		s.mu.Unlock()
		c.close(ReasonTransportError)
		return
	}
	s.probe = c
	s.mu.Unlock()
	time.AfterFunc(srv.opts.UpgradeTimeout, func() {
		if c.probing.Load() {
			c.close(ReasonTransportError)
		}
	})
	c.start(initial)
}

func (srv *Server) shard(id string) *sessionShard {
	var h uint32 = 2166136261
	for i := 0; i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return &srv.shards[h%uint32(len(srv.shards))]
}

func (srv *Server) lookup(id string) *Session {
	sh := srv.shard(id)
	sh.mu.RLock()
	s := sh.sessions[id]
	sh.mu.RUnlock()
	return s
}

func (srv *Server) forget(s *Session, reason string) {
	srv.closed.Add(1)
	if reason == ReasonSlowConsumer {
		srv.slow.Add(1)
	}
	srv.wheel.remove(s)
	sh := srv.shard(s.id)
	sh.mu.Lock()
	if sh.sessions[s.id] == s {
		delete(sh.sessions, s.id)
	}
	sh.mu.Unlock()
}

// Count returns the number of open sessions.
func (srv *Server) Count() int {
	n := 0
	for i := range srv.shards {
		sh := &srv.shards[i]
		sh.mu.RLock()
		n += len(sh.sessions)
		sh.mu.RUnlock()
	}
	return n
}

// Shutdown ends every session gracefully with ReasonServerShutdown: what
// is queued is flushed, websocket clients get a close frame and polling
// clients a close packet on their next poll, so that they reconnect
// (elsewhere). It waits for the sessions to end until ctx is done, then
// closes what is left as Close does. New handshakes are still served
// meanwhile; stop routing clients here first.
func (srv *Server) Shutdown(ctx context.Context) {
	for _, s := range srv.sessions() {
		s.closeGracefully(ReasonServerShutdown)
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for srv.Count() > 0 {
		select {
		case <-ctx.Done():
			srv.Close()
			return
		case <-t.C:
		}
	}
	srv.Close()
}

func (srv *Server) sessions() []*Session {
	var all []*Session
	for i := range srv.shards {
		sh := &srv.shards[i]
		sh.mu.RLock()
		for _, s := range sh.sessions {
			all = append(all, s)
		}
		sh.mu.RUnlock()
	}
	return all
}

// Close closes every session at once with ReasonServerShutdown, so that
// clients reconnect (elsewhere), and stops the heartbeat timer. It is
// idempotent.
func (srv *Server) Close() {
	srv.closeOnce.Do(func() {
		for _, s := range srv.sessions() {
			s.close(ReasonServerShutdown)
		}
		srv.wheel.close()
	})
}

// newID returns a random, URL-safe session id of 20 characters.
func newID() string {
	var b [15]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
