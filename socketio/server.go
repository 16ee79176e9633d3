package socketio

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"herald/engineio"
)

// Options configure a Server. Every zero value means the default given.
type Options struct {
	// Engine configures the Engine.IO layer; its OnSession is set by the Server.
	Engine engineio.Options
	// ConnectTimeout is how long a client may take to connect to a
	// namespace before it is dropped. Zero means 45s.
	ConnectTimeout time.Duration
	// MaxPendingPerAddr bounds the sessions of one source IP that have not
	// connected to a namespace yet (not authenticated); a handshake over it
	// is refused with 403. Zero means 64; negative means no bound.
	MaxPendingPerAddr int
	// NewAdapter makes the room adapter of each namespace. Nil means
	// NewMemoryAdapter.
	NewAdapter func(*Namespace) Adapter
	// Recovery configures connection state recovery; off unless
	// Recovery.Window is set.
	Recovery RecoveryOptions
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Server is a Socket.IO server. Mount it at its path, e.g.
// mux.Handle("/socket.io/", srv).
type Server struct {
	opts Options
	eio  *engineio.Server

	mu   sync.RWMutex
	nsps map[string]*Namespace

	rec      *recovery  // nil when recovery is off
	pending  *deadlines // clients that have not connected to a namespace yet
	unauthed pendingByAddr

	writeBudget int // bytes that may wait for one client, held packets included
	maxPayload  int // bytes of one packet, attachments included
}

// NewServer returns a server with the namespace "/" already created.
func NewServer(opts Options) *Server {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 45 * time.Second
	}
	if opts.NewAdapter == nil {
		opts.NewAdapter = func(n *Namespace) Adapter { return NewMemoryAdapter(n) }
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxPendingPerAddr == 0 {
		opts.MaxPendingPerAddr = 64
	}
	srv := &Server{opts: opts, nsps: make(map[string]*Namespace), pending: newDeadlines()}
	srv.unauthed.limit = opts.MaxPendingPerAddr
	if opts.Recovery.Window > 0 {
		srv.rec = newRecovery(opts.Recovery)
	}
	eo := opts.Engine
	eo.Logger = opts.Logger
	eo.OnSession = srv.onSession
	allow := eo.AllowRequest
	eo.AllowRequest = func(r *http.Request) error {
		if allow != nil {
			if err := allow(r); err != nil {
				return err
			}
		}
		return srv.unauthed.allow(r)
	}
	srv.eio = engineio.NewServer(eo)
	srv.writeBudget = srv.eio.Options().WriteQueueLimit
	srv.maxPayload = srv.eio.Options().MaxPayload
	srv.Of("/")
	return srv
}

// RecoveryStats returns the connection state recovery counters; all zero
// when recovery is off.
func (srv *Server) RecoveryStats() RecoveryStats {
	if srv.rec == nil {
		return RecoveryStats{Failed: map[string]uint64{}}
	}
	return srv.rec.stats()
}

// SetRecoveryHooks installs the application's recovery hooks; call it
// before serving. It does nothing when recovery is off.
func (srv *Server) SetRecoveryHooks(h RecoveryHooks) {
	if srv.rec != nil {
		srv.rec.hooks.Store(&h)
	}
}

// Engine returns the underlying Engine.IO server.
func (srv *Server) Engine() *engineio.Server { return srv.eio }

// ServeHTTP serves the Engine.IO transports.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { srv.eio.ServeHTTP(w, r) }

// Of returns the namespace with the given name, creating it on first use.
func (srv *Server) Of(name string) *Namespace {
	if name == "" || name[0] != '/' {
		name = "/" + name
	}
	srv.mu.RLock()
	n := srv.nsps[name]
	srv.mu.RUnlock()
	if n != nil {
		return n
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if n = srv.nsps[name]; n == nil {
		n = newNamespace(srv, name)
		srv.nsps[name] = n
	}
	return n
}

func (srv *Server) namespace(name string) *Namespace {
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	return srv.nsps[name]
}

// Shutdown disconnects every client gracefully (see engineio.Server.Shutdown)
// with reason "server shutting down", waiting until ctx is done, and closes
// the adapters.
func (srv *Server) Shutdown(ctx context.Context) {
	srv.eio.Shutdown(ctx)
	srv.Close()
}

// Close disconnects every client at once with reason "server shutting
// down" and closes the adapters.
func (srv *Server) Close() {
	srv.eio.Close()
	srv.pending.close()
	if srv.rec != nil {
		srv.rec.close()
	}
	srv.mu.RLock()
	defer srv.mu.RUnlock()
	for _, n := range srv.nsps {
		n.adapter.Close()
	}
}

func (srv *Server) onSession(s *engineio.Session, r *http.Request) engineio.Handler {
	c := &client{srv: srv, sess: s, addr: hostOf(s.RemoteAddr()), unauthed: true}
	srv.unauthed.add(c.addr)
	srv.pending.add(c, time.Now().Add(srv.opts.ConnectTimeout))
	return c
}

// client is one Engine.IO session and the sockets multiplexed on it, one
// per namespace.
type client struct {
	srv  *Server
	sess *engineio.Session

	mu      sync.Mutex
	sockets []*Socket // connected sockets, usually one
	closed  bool
	// everConnected is set once a namespace accepted the client; before,
	// binary packets are refused, so that an unauthenticated client
	// cannot make the server hold attachments.
	everConnected atomic.Bool
	addr          string // source IP, for MaxPendingPerAddr
	unauthed      bool   // counted as pending for addr

	decoder decoder // touched only from OnMessage, which the engine serializes
}

// connectTimeout drops the client if it connected to no namespace in time.
func (c *client) connectTimeout() {
	c.mu.Lock()
	idle := len(c.sockets) == 0 && !c.everConnected.Load()
	c.mu.Unlock()
	if idle {
		c.sess.Close()
	}
}

// sendPacket encodes and sends a packet with a JSON payload.
func (c *client) sendPacket(p Packet) error {
	buf := p.Append(make([]byte, 0, 16+len(p.Data)))
	return c.sess.Send(engineio.NewTextMessage(buf))
}

// OnMessage implements engineio.Handler.
func (c *client) OnMessage(s *engineio.Session, data []byte, binary bool) {
	p, atts, err := c.decoder.add(data, binary, c.srv.maxPayload, c.everConnected.Load())
	if err != nil {
		c.fail()
		return
	}
	if p != nil {
		c.dispatch(p, atts)
	}
}

func (c *client) fail() {
	c.decoder = decoder{}
	c.sess.Close()
}

func (c *client) dispatch(p *Packet, atts [][]byte) {
	switch p.Type {
	case PacketConnect:
		c.connect(p)
	case PacketDisconnect:
		if s := c.socket(p.Namespace); s != nil {
			s.onClose("client namespace disconnect")
		}
	case PacketEvent, PacketBinaryEvent:
		if s := c.socket(p.Namespace); s != nil {
			s.onEvent(p, atts)
		}
	case PacketAck, PacketBinaryAck:
		if s := c.socket(p.Namespace); s != nil {
			s.onAck(p, atts)
		}
	default:
		c.fail()
	}
}

func (c *client) socket(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

func (c *client) connect(p *Packet) {
	n := c.srv.namespace(p.Namespace)
	if n == nil {
		c.sendPacket(Packet{Type: PacketConnectError, Namespace: p.Namespace, Data: json.RawMessage(`{"message":"Invalid namespace"}`)})
		return
	}
	if c.socket(p.Namespace) != nil {
		return // already connected to that namespace
	}
	auth := p.Data
	if len(auth) == 0 {
		auth = json.RawMessage("{}")
	}
	n.connect(c, auth)
}

func (c *client) added(s *Socket) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.sockets = append(c.sockets, s)
	c.everConnected.Store(true)
	c.countedDone()
	return true
}

// countedDone stops counting c as pending for its address. The caller
// holds c.mu.
func (c *client) countedDone() {
	if c.unauthed {
		c.unauthed = false
		c.srv.unauthed.done(c.addr)
	}
}

func (c *client) removed(s *Socket) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.sockets {
		if x == s {
			c.sockets = append(c.sockets[:i], c.sockets[i+1:]...)
			break
		}
	}
}

// OnClose implements engineio.Handler.
func (c *client) OnClose(s *engineio.Session, reason string) {
	c.mu.Lock()
	c.closed = true
	c.countedDone()
	sockets := append([]*Socket(nil), c.sockets...)
	c.mu.Unlock()
	for _, s := range sockets {
		s.onClose(reason)
	}
}
