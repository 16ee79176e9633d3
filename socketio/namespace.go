package socketio

import (
	"cmp"
	"encoding/json"
	"errors"
	"sync"
	"time"
)

// EventHandler handles one event received on a socket. It runs on the
// client's delivery goroutine: events of one client are handled one at a
// time, in order.
type EventHandler func(s *Socket, e *Event)

// Middleware runs when a client connects to a namespace, before the
// socket exists for anyone else. Returning an error refuses the connection
// with a CONNECT_ERROR; a *ConnectError controls its message and data.
type Middleware func(s *Socket) error

// EventFilter runs for every event a client sends on a namespace, with a
// handler or not, before the handler, on the same goroutine. Returning
// false drops the event: its handler does not run (the filter answers the
// ack if it wants one answered).
type EventFilter func(s *Socket, e *Event) bool

// ConnectError refuses a connection; the client sees Message and Data in
// its connect_error event.
type ConnectError struct {
	Message string
	Data    any
}

func (e *ConnectError) Error() string { return e.Message }

// Namespace is a Socket.IO namespace: its sockets, middleware, event
// handlers and room adapter. Register handlers before serving.
type Namespace struct {
	srv     *Server
	name    string
	adapter Adapter

	mu           sync.RWMutex
	sockets      map[string]*Socket
	middleware   []Middleware
	handlers     map[string]EventHandler
	eventFilter  EventFilter // nil: none
	onConnect    []func(*Socket)
	onDisconnect []func(*Socket, string)
}

func newNamespace(srv *Server, name string) *Namespace {
	n := &Namespace{srv: srv, name: name, sockets: make(map[string]*Socket), handlers: make(map[string]EventHandler)}
	n.adapter = srv.opts.NewAdapter(n)
	return n
}

// Name returns the namespace name, e.g. "/".
func (n *Namespace) Name() string { return n.name }

// Adapter returns the namespace's room adapter.
func (n *Namespace) Adapter() Adapter { return n.adapter }

// Use adds a connection middleware; they run in the order added.
func (n *Namespace) Use(m Middleware) {
	n.mu.Lock()
	n.middleware = append(n.middleware, m)
	n.mu.Unlock()
}

// OnConnection registers fn to run for each new socket, after it joined its
// own room and the client was told it is connected.
func (n *Namespace) OnConnection(fn func(*Socket)) {
	n.mu.Lock()
	n.onConnect = append(n.onConnect, fn)
	n.mu.Unlock()
}

// OnDisconnect registers fn to run when a socket leaves, with the reason
// (socket.io's reasons: "transport close", "ping timeout", "client namespace
// disconnect", "server namespace disconnect", ...).
func (n *Namespace) OnDisconnect(fn func(*Socket, string)) {
	n.mu.Lock()
	n.onDisconnect = append(n.onDisconnect, fn)
	n.mu.Unlock()
}

// On registers the handler of an event for every socket of the namespace.
func (n *Namespace) On(event string, h EventHandler) {
	n.mu.Lock()
	n.handlers[event] = h
	n.mu.Unlock()
}

// FilterEvents makes f the namespace's EventFilter, replacing any before.
func (n *Namespace) FilterEvents(f EventFilter) {
	n.mu.Lock()
	n.eventFilter = f
	n.mu.Unlock()
}

// Socket returns the connected socket with the given id, or nil.
func (n *Namespace) Socket(id string) *Socket {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.sockets[id]
}

// Len returns the number of sockets connected to this node.
func (n *Namespace) Len() int {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return len(n.sockets)
}

// To returns an operator that emits to the sockets in the given rooms.
func (n *Namespace) To(rooms ...string) *BroadcastOperator {
	return &BroadcastOperator{adapter: n.adapter, nsp: n.name, rooms: rooms}
}

// Except returns an operator that emits to every socket but those in rooms.
func (n *Namespace) Except(rooms ...string) *BroadcastOperator {
	return &BroadcastOperator{adapter: n.adapter, nsp: n.name, except: rooms}
}

// Emit sends an event to every socket of the namespace.
func (n *Namespace) Emit(event string, args ...any) error {
	return n.To().Emit(event, args...)
}

func (n *Namespace) connect(c *client, auth json.RawMessage) {
	s := &Socket{sess: c.sess, id: newSocketID(), nsp: n, client: c, auth: auth, issued: time.Now()}
	s.w, _ = c.sess.Writer()
	rec := n.srv.rec
	var cl *claim
	if rec != nil {
		cl = rec.lookup(n, auth)
	}
	n.mu.RLock()
	mws := n.middleware
	n.mu.RUnlock()
	for _, m := range mws {
		if err := m(s); err != nil {
			if cl != nil {
				rec.fail(cmp.Or(cl.reason, RecoveryRefused))
			}
			c.sendPacket(Packet{Type: PacketConnectError, Namespace: n.name, Data: connectErrorData(err)})
			return
		}
	}
	if cl != nil && cl.reason == "" && !rec.accept(s, cl.p.data) {
		cl.reason = RecoveryRefused
	}
	register := func() {
		n.mu.Lock()
		n.sockets[s.id] = s
		n.mu.Unlock()
		n.adapter.Add(s)
	}
	var missed []*Encoded
	if cl != nil && cl.reason == "" {
		var ended *parked
		s.Pause() // live traffic waits for the missed frames
		missed, s.recovered, ended = rec.restore(cl, n.srv.writeBudget/2, func(sid string, rooms []string) bool {
			s.id = sid // s is known to nobody yet
			if !c.added(s) {
				return false
			}
			register()
			n.adapter.Add(s, rooms...)
			return true
		})
		if ended != nil {
			rec.ended([]*parked{ended})
		}
		if !s.recovered && cl.reason == RecoveryRefused {
			rec.fail(cl.reason)
			return // the client left
		}
		if h := rec.hooks.Load(); s.recovered && h.OnRecover != nil {
			h.OnRecover(s, cl.p.data)
		}
	}
	if s.recovered {
		rec.recovered.Add(1)
	} else {
		if cl != nil {
			rec.fail(cl.reason)
			s.Resume(nil) // paused for nothing: nothing was held
		}
		if !c.added(s) {
			return
		}
		register()
	}
	n.mu.RLock()
	handlers := n.onConnect
	n.mu.RUnlock()
	var reply struct {
		Sid string `json:"sid"`
		Pid string `json:"pid,omitempty"`
	}
	reply.Sid = s.id
	if rec != nil {
		reply.Pid = rec.pid(n, s.id)
	}
	data, _ := json.Marshal(reply)
	c.sendPacket(Packet{Type: PacketConnect, Namespace: n.name, Data: data})
	if s.recovered {
		sent := make(map[uint64]bool, len(missed))
		for _, e := range missed {
			sent[e.off] = true
			s.SendNow(e)
		}
		s.Resume(func(e *Encoded) bool { return e.off != 0 && sent[e.off] })
	}
	for _, h := range handlers {
		h(s)
	}
	s.mu.Lock()
	s.auth = nil
	s.mu.Unlock()
}

func connectErrorData(err error) json.RawMessage {
	var ce *ConnectError
	if !errors.As(err, &ce) {
		ce = &ConnectError{Message: err.Error()}
	}
	b, mErr := json.Marshal(struct {
		Message string `json:"message"`
		Data    any    `json:"data,omitempty"`
	}{ce.Message, ce.Data})
	if mErr != nil {
		b, _ = json.Marshal(struct {
			Message string `json:"message"`
		}{ce.Message})
	}
	return b
}

func (n *Namespace) remove(s *Socket, reason string) {
	if rec := n.srv.rec; rec != nil && recoverable(reason) && rec.park(s, n.adapter.Rooms(s)) {
		s.mu.Lock()
		s.parked = true
		s.mu.Unlock()
	}
	n.adapter.DelAll(s)
	n.mu.Lock()
	delete(n.sockets, s.id)
	handlers := n.onDisconnect
	n.mu.Unlock()
	for _, h := range handlers {
		h(s, reason)
	}
}

func (n *Namespace) handler(event string) (EventFilter, EventHandler) {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.eventFilter, n.handlers[event]
}
