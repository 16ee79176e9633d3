package engineio

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned when sending on a session that is closing or closed.
var ErrClosed = errors.New("engineio: session closed")

// Close reasons passed to Handler.OnClose. They are the reasons the
// reference server gives, so that upper layers can report the same ones.
const (
	ReasonTransportClose = "transport close"
	ReasonTransportError = "transport error"
	ReasonPingTimeout    = "ping timeout"
	ReasonParseError     = "parse error"
	ReasonForcedClose    = "forced close"
	ReasonServerShutdown = "server shutting down"
	ReasonSlowConsumer   = "slow consumer"
)

// Handler receives the packets of one session. The server calls OnMessage
// from at most one goroutine at a time per session, in arrival order; data is
// only valid during the call. OnClose is called exactly once, after which no
// OnMessage follows.
type Handler interface {
	OnMessage(s *Session, data []byte, binary bool)
	OnClose(s *Session, reason string)
}

type sessionState int32

const (
	stateOpen    sessionState = iota
	stateClosing              // flushing queued packets, then closes; Send refused
	stateClosed
)

// Session is one Engine.IO connection, on long-polling or websocket. Its
// methods are safe for concurrent use.
type Session struct {
	id      string
	srv     *Server
	handler Handler
	query   string // raw query of the handshake, parsed on demand
	remote  string

	ws    atomic.Pointer[wsConn] // set once the session is on websocket
	holds atomic.Int32           // see Writer.Hold: of a Writer made while on polling

	mu     sync.Mutex // guards the fields below
	state  sessionState
	poll   *polling // non-nil while the session is on long-polling
	probe  *wsConn  // websocket being probed for an upgrade
	reason string

	delivering    bool          // handler.OnMessage is running
	deferredClose string        // close reason to report once OnMessage returns
	drain         chan struct{} // see notifyDrainLocked; nil unless waited on

	deliver sync.Mutex // serializes handler.OnMessage across transports

	awaitingPong atomic.Bool
	pingSentAt   atomic.Int64 // unix nanoseconds
	// Heartbeat wheel links, guarded by the wheel's lock.
	hbNext, hbPrev *Session
	hbSlot         int32
}

// ID returns the session id (the Engine.IO sid).
func (s *Session) ID() string { return s.id }

// Query returns the query parameters of the handshake request.
func (s *Session) Query() url.Values {
	v, _ := url.ParseQuery(s.query)
	return v
}

// RemoteAddr returns the network address of the client at handshake.
func (s *Session) RemoteAddr() string { return s.remote }

// Transport returns "websocket" or "polling".
func (s *Session) Transport() string {
	if s.ws.Load() != nil {
		return "websocket"
	}
	return "polling"
}

// Send queues m for the client and returns at once: it writes what the
// socket takes now and queues the rest, never blocking on the network and
// never running close logic on the caller's goroutine. A client whose
// queue passes the server's WriteQueueLimit gets ErrSlowConsumer and is
// closed with ReasonSlowConsumer by a goroutine of its own; a session that
// is closing or closed gives ErrClosed, a failed write its error.
func (s *Session) Send(m *Message) error {
	if c := s.ws.Load(); c != nil {
		return c.write(m.Frame())
	}
	s.mu.Lock()
	if c := s.ws.Load(); c != nil { // upgraded while we waited
		s.mu.Unlock()
		return c.write(m.Frame())
	}
	if s.state != stateOpen {
		s.mu.Unlock()
		return ErrClosed
	}
	err := s.poll.enqueue(m)
	if err != nil {
		// The client stopped polling: drop its queue, answer its next
		// GET with a close packet, and close it anyway if it never comes.
		s.poll.queue, s.poll.queuedBytes = nil, 0
		s.state, s.reason = stateClosing, ReasonSlowConsumer
		s.notifyDrainLocked()
	}
	s.mu.Unlock()
	if err != nil {
		go s.close(ReasonSlowConsumer)
	}
	return err
}

// SendAll queues several messages, in order, as one unit for the transport.
func (s *Session) SendAll(ms []*Message) error {
	if c := s.ws.Load(); c != nil {
		return Writer{c: c}.SendAll(ms)
	}
	for _, m := range ms {
		if err := s.Send(m); err != nil {
			return err
		}
	}
	return nil
}

// Close ends the session after the packets already queued are flushed to
// the client. It returns at once: OnClose is called from another goroutine,
// with ReasonForcedClose unless the session ended for another reason first.
func (s *Session) Close() {
	s.closeGracefully(ReasonForcedClose)
}

// Drop ends the session at once with reason, from a goroutine of its own,
// without flushing what is queued; it returns at once. It is for owners of
// a budget above this package (package socketio drops a paused socket
// whose held packets overflow with ReasonSlowConsumer).
func (s *Session) Drop(reason string) { go s.close(reason) }

// Queued returns the bytes waiting to be written to the client.
func (s *Session) Queued() int {
	if c := s.ws.Load(); c != nil {
		return c.queuedBytes()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.poll == nil {
		return 0 // moved to websocket meanwhile
	}
	return s.poll.queuedBytes
}

// WaitWritable blocks until at most maxQueued bytes wait for the client,
// so that a large backlog can be sent page by page as the client drains
// it rather than overflow the write queue. It returns ErrClosed once the
// session is closing or closed, or ctx's error.
func (s *Session) WaitWritable(ctx context.Context, maxQueued int) error {
	for {
		if c := s.ws.Load(); c != nil {
			return c.waitWritable(ctx, maxQueued)
		}
		s.mu.Lock()
		if c := s.ws.Load(); c != nil {
			s.mu.Unlock()
			continue
		}
		if s.state != stateOpen {
			s.mu.Unlock()
			return ErrClosed
		}
		if s.poll.queuedBytes <= maxQueued {
			s.mu.Unlock()
			return nil
		}
		if s.drain == nil {
			s.drain = make(chan struct{})
		}
		ch := s.drain
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// notifyDrainLocked wakes the WaitWritable callers of a polling session
// after its queue shrank, the session moved to websocket or closed.
func (s *Session) notifyDrainLocked() {
	if s.drain != nil {
		close(s.drain)
		s.drain = nil
	}
}

func (s *Session) closeGracefully(reason string) {
	if c := s.ws.Load(); c != nil {
		c.closeAfterFlush(reason)
		return
	}
	s.mu.Lock()
	if s.state != stateOpen {
		s.mu.Unlock()
		return
	}
	// The close packet is the answer to a GET of its own, after the queued
	// packets (see pollGet); a client that is between two GETs gets it
	// from the next one, as with the reference server, rather than an
	// unknown-sid error.
	s.state = stateClosing
	s.reason = reason
	s.poll.signal()
	s.mu.Unlock()
	// A client that never polls again must not keep the session forever.
	time.AfterFunc(s.srv.opts.PingInterval+s.srv.opts.PingTimeout, func() { s.close(reason) })
}

// close ends the session at once: the transports are closed and the handler
// told. It is idempotent; the first reason wins.
func (s *Session) close(reason string) {
	s.mu.Lock()
	if s.state == stateClosed {
		s.mu.Unlock()
		return
	}
	if s.reason != "" {
		reason = s.reason
	}
	s.reason = reason
	s.state = stateClosed
	s.notifyDrainLocked()
	p, probe, h := s.poll, s.probe, s.handler
	s.probe = nil
	deferred := s.delivering // OnClose follows the OnMessage in progress
	if deferred {
		s.deferredClose = reason
	}
	// A client that closes over polling may have a GET in flight that the
	// server has not seen yet: keep the session addressable for a moment so
	// that this GET is answered (with a noop) rather than refused.
	linger := reason == ReasonTransportClose && p != nil && !p.waiting
	s.mu.Unlock()

	if l := s.srv.opts.Logger; l.Enabled(context.Background(), slog.LevelDebug) {
		l.Debug("engine.io session closed", "sid", s.id, "reason", reason, "remote", s.remote)
	}
	if linger {
		time.AfterFunc(time.Second, func() { s.srv.forget(s, reason) })
	} else {
		s.srv.forget(s, reason)
	}
	if p != nil {
		p.shutdown()
	}
	if probe != nil {
		probe.close(reason)
	}
	if c := s.ws.Load(); c != nil {
		c.close(reason)
	}
	if !deferred && h != nil { // nil: closed within OnSession, register tells it
		h.OnClose(s, reason)
	}
}

// onPacket handles one packet from the client on its current transport.
func (s *Session) onPacket(p Packet) {
	switch p.Type {
	case PacketMessage:
		s.deliver.Lock()
		s.mu.Lock()
		if s.state == stateClosed {
			s.mu.Unlock()
			s.deliver.Unlock()
			return
		}
		s.delivering = true
		s.mu.Unlock()
		s.handler.OnMessage(s, p.Data, p.Binary)
		s.mu.Lock()
		s.delivering = false
		reason := s.deferredClose
		s.mu.Unlock()
		s.deliver.Unlock()
		if reason != "" {
			s.handler.OnClose(s, reason)
		}
	case PacketPong:
		if s.awaitingPong.CompareAndSwap(true, false) {
			s.srv.wheel.schedule(s, s.srv.opts.PingInterval, false)
		}
	case PacketClose:
		s.close(ReasonTransportClose)
	default:
		// Ping, noop and stray upgrade packets carry nothing for us; an
		// open packet from a client is a protocol error.
		if p.Type == PacketOpen {
			s.close(ReasonParseError)
		}
	}
}

// heartbeat is called by the wheel: it sends a ping, or ends a session
// whose previous ping went unanswered.
func (s *Session) heartbeat() {
	if s.awaitingPong.Load() {
		// Closing runs the handlers' disconnect code: never on the
		// wheel's goroutine, which every session's heartbeat waits on.
		go s.close(ReasonPingTimeout)
		return
	}
	s.pingSentAt.Store(time.Now().UnixNano())
	s.awaitingPong.Store(true)
	s.srv.wheel.schedule(s, s.srv.opts.PingTimeout, true)
	_ = s.Send(pingMessage)
}

// pingExpired closes the session if its ping went unanswered for longer
// than the ping timeout, without waiting for the wheel to notice; polling
// requests check it so that a late client never gets a dead session's data.
func (s *Session) pingExpired() bool {
	if !s.awaitingPong.Load() || time.Since(time.Unix(0, s.pingSentAt.Load())) < s.srv.opts.PingTimeout {
		return false
	}
	s.close(ReasonPingTimeout)
	return true
}
