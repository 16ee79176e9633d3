package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"herald/engineio"
)

// Errors passed to acknowledgement callbacks.
var (
	ErrAckTimeout   = errors.New("socketio: acknowledgement timed out")
	ErrSocketClosed = errors.New("socketio: socket disconnected")
)

// Socket is one client's connection to one namespace. Its methods are safe
// for concurrent use.
type Socket struct {
	// What Send reads comes first. w is the session's websocket if the
	// client was on it when it connected (it stays there), so that a
	// broadcast reaches the connection without a look at any other object.
	hold atomic.Pointer[hold] // non-nil while paused
	w    engineio.Writer
	sess *engineio.Session

	id     string
	nsp    *Namespace
	client *client
	auth   json.RawMessage
	issued time.Time

	mu      sync.Mutex
	data    any
	acks    map[uint64]*pendingAck
	nextAck uint64
	onLeave []func(string)
	closed  bool
	// recovered: the socket took over a dropped one's session (fixed
	// before it is registered); parked: its session was kept when it
	// closed (set before the disconnect handlers run).
	recovered bool
	parked    bool
}

type pendingAck struct {
	cb    func(Args, error)
	timer *time.Timer
}

func newSocketID() string {
	var b [15]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Recovered reports whether the socket took over the session of a socket
// whose transport dropped (connection state recovery): same id, same rooms,
// the missed broadcasts already sent.
func (s *Socket) Recovered() bool { return s.recovered }

// Parked reports, once the socket closed, whether its session was kept
// for a recovery. Disconnect handlers keep what must survive it (e.g.
// presence watches) until RecoveryOptions.OnRecover or OnExpire.
func (s *Socket) Parked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.parked
}

// ID returns the socket id, which is also the name of its own room.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Auth returns the auth payload the client sent with CONNECT ({} if none)
// while middleware and connection handlers run; afterwards it returns nil,
// so that connected sockets do not keep their credentials in memory.
func (s *Socket) Auth() json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.auth
}

// Query returns the query parameters of the client's handshake request.
func (s *Socket) Query() url.Values { return s.sess.Query() }

// RemoteAddr returns the client's network address.
func (s *Socket) RemoteAddr() string { return s.sess.RemoteAddr() }

// Transport returns the client's current transport, "websocket" or "polling".
func (s *Socket) Transport() string { return s.sess.Transport() }

// SetData attaches application data to the socket (e.g. from middleware).
func (s *Socket) SetData(v any) {
	s.mu.Lock()
	s.data = v
	s.mu.Unlock()
}

// Data returns what SetData attached.
func (s *Socket) Data() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// Join adds the socket to rooms.
func (s *Socket) Join(rooms ...string) { s.nsp.adapter.Add(s, rooms...) }

// Leave removes the socket from a room.
func (s *Socket) Leave(room string) { s.nsp.adapter.Del(s, room) }

// Rooms returns the rooms the socket is in, its own room first.
func (s *Socket) Rooms() []string { return append([]string{s.id}, s.nsp.adapter.Rooms(s)...) }

// Emit sends an event to this socket.
func (s *Socket) Emit(event string, args ...any) error {
	e, err := EncodeEvent(s.nsp.name, event, args)
	if err != nil {
		return err
	}
	return s.Send(e)
}

// Send sends an already encoded packet to this socket, or holds it while
// the socket is paused. It returns at once; see engineio.Session.Send for
// the errors. What is held counts against the same byte budget as the
// write queue (the engine's WriteQueueLimit): a paused socket whose held
// packets and queue pass it is dropped as a slow consumer, and Send
// returns engineio.ErrSlowConsumer.
func (s *Socket) Send(e *Encoded) error {
	if s.w.Ready() { // not paused: Pause holds w before it returns
		return s.w.SendAll(e.messages)
	}
	if h := s.hold.Load(); h != nil {
		h.mu.Lock()
		if !h.released {
			err := h.add(s, e)
			h.mu.Unlock()
			if err != nil {
				s.sess.Drop(engineio.ReasonSlowConsumer)
			}
			return err
		}
		h.mu.Unlock()
	}
	return s.sess.SendAll(e.messages)
}

// SendNow sends e at once, even while the socket is paused.
func (s *Socket) SendNow(e *Encoded) error { return s.sess.SendAll(e.messages) }

// WaitWritable blocks until at most maxQueued bytes wait to be written to
// the client (held packets of a paused socket not counted), the
// connection closes (engineio.ErrClosed) or ctx is done. A caller sending
// a backlog larger than the write budget with SendNow waits for it
// between pages, so that the client gets it as fast as it reads, never
// disconnected as a slow consumer.
func (s *Socket) WaitWritable(ctx context.Context, maxQueued int) error {
	return s.sess.WaitWritable(ctx, maxQueued)
}

// WriteBudget returns the bytes that may wait for one client (the engine's
// WriteQueueLimit), held packets included.
func (s *Socket) WriteBudget() int { return s.client.srv.writeBudget }

// hold buffers what is sent to a paused socket.
type hold struct {
	mu       sync.Mutex
	queued   []*Encoded
	bytes    int // of queued
	released bool
	overflow bool // the budget was exceeded: the socket is being dropped
}

// add holds e, or reports ErrSlowConsumer once what is held and what is
// queued for the client pass the budget; the held packets are then freed.
// The caller holds h.mu.
func (h *hold) add(s *Socket, e *Encoded) error {
	if h.overflow {
		return engineio.ErrSlowConsumer
	}
	h.bytes += e.size
	if h.bytes > s.client.srv.writeBudget || h.bytes+s.sess.Queued() > s.client.srv.writeBudget {
		h.overflow, h.queued, h.bytes = true, nil, 0
		return engineio.ErrSlowConsumer
	}
	h.queued = append(h.queued, e)
	return nil
}

// Pause buffers every packet later sent to the socket through Send (room
// and broadcast deliveries included) until Resume. It lets a caller send
// a backlog with SendNow first, e.g. a replay of missed notifications,
// before live traffic. Pause on a paused socket does nothing.
func (s *Socket) Pause() {
	if s.hold.CompareAndSwap(nil, &hold{}) && s.w.Valid() {
		s.w.Hold() // broadcasts to w now take Send's paused path
	}
}

// Resume sends the packets buffered since Pause, in order, except those for
// which skip returns true (skip may be nil), then returns the socket to
// normal delivery. Packets sent while Resume runs wait for it.
func (s *Socket) Resume(skip func(*Encoded) bool) {
	h := s.hold.Load()
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.released {
		return // a concurrent Resume did it
	}
	h.released = true
	for _, e := range h.queued {
		if skip == nil || !skip(e) {
			s.sess.SendAll(e.messages)
		}
	}
	h.queued, h.bytes = nil, 0
	s.hold.Store(nil)
	if s.w.Valid() {
		s.w.Release()
	}
}

// EmitWithAck sends an event and calls cb once with the client's
// acknowledgement, or with ErrAckTimeout after timeout (zero means no
// timeout), or with ErrSocketClosed if the socket leaves first.
func (s *Socket) EmitWithAck(timeout time.Duration, cb func(Args, error), event string, args ...any) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrSocketClosed
	}
	id := s.nextAck
	s.nextAck++
	pa := &pendingAck{cb: cb}
	if s.acks == nil {
		s.acks = make(map[uint64]*pendingAck)
	}
	s.acks[id] = pa
	if timeout > 0 {
		pa.timer = time.AfterFunc(timeout, func() {
			if s.takeAck(id) != nil {
				cb(Args{}, ErrAckTimeout)
			}
		})
	}
	s.mu.Unlock()
	e, err := encode(Packet{Type: PacketEvent, Namespace: s.nsp.name, HasID: true, ID: id}, event, args)
	if err == nil {
		err = s.Send(e)
	}
	if err != nil {
		s.takeAck(id)
	}
	return err
}

func (s *Socket) takeAck(id uint64) *pendingAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	pa := s.acks[id]
	if pa != nil {
		delete(s.acks, id)
		if pa.timer != nil {
			pa.timer.Stop()
		}
	}
	return pa
}

// OnDisconnect registers fn to run once when this socket leaves.
func (s *Socket) OnDisconnect(fn func(reason string)) {
	s.mu.Lock()
	s.onLeave = append(s.onLeave, fn)
	s.mu.Unlock()
}

// Disconnect tells the client this socket is disconnected ("io server
// disconnect": the client does not reconnect). With close, the whole
// underlying connection is closed too, after flushing what is queued.
func (s *Socket) Disconnect(close bool) {
	if close {
		c := s.client
		c.mu.Lock()
		sockets := append([]*Socket(nil), c.sockets...)
		c.mu.Unlock()
		for _, x := range sockets {
			x.client.sendPacket(Packet{Type: PacketDisconnect, Namespace: x.nsp.name})
			x.onClose("server namespace disconnect")
		}
		c.sess.Close()
		return
	}
	s.client.sendPacket(Packet{Type: PacketDisconnect, Namespace: s.nsp.name})
	s.onClose("server namespace disconnect")
}

// onClose removes the socket everywhere and runs the disconnect handlers once.
func (s *Socket) onClose(reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	acks := s.acks
	s.acks = nil
	fns := s.onLeave
	s.mu.Unlock()
	s.client.removed(s)
	s.nsp.remove(s, reason)
	for _, pa := range acks {
		if pa.timer != nil {
			pa.timer.Stop()
		}
		pa.cb(Args{}, ErrSocketClosed)
	}
	for _, fn := range fns {
		fn(reason)
	}
}

// Event is an event received from a client.
type Event struct {
	Name string
	Args Args

	socket *Socket
	hasID  bool
	id     uint64
	acked  bool
}

// WantsAck reports whether the client asked for an acknowledgement.
func (e *Event) WantsAck() bool { return e.hasID }

// Ack answers the client's acknowledgement with args. It does nothing if
// the client asked for none or the event was already acknowledged.
func (e *Event) Ack(args ...any) error {
	if !e.hasID || e.acked {
		return nil
	}
	e.acked = true
	enc, err := encode(Packet{Type: PacketAck, Namespace: e.socket.nsp.name, HasID: true, ID: e.id}, "", args)
	if err != nil {
		return err
	}
	return e.socket.Send(enc)
}

func (s *Socket) onEvent(p *Packet, atts [][]byte) {
	var name string
	if json.Unmarshal(p.Args[0], &name) != nil {
		name = string(p.Args[0]) // numeric event names
	}
	e := &Event{Name: name, Args: Args{raw: p.Args[1:], attachments: atts}, socket: s, hasID: p.HasID, id: p.ID}
	f, h := s.nsp.handler(name)
	if f != nil && !f(s, e) {
		return
	}
	if h != nil {
		h(s, e)
	}
}

func (s *Socket) onAck(p *Packet, atts [][]byte) {
	if !p.HasID {
		return
	}
	if pa := s.takeAck(p.ID); pa != nil {
		pa.cb(Args{raw: p.Args, attachments: atts}, nil)
	}
}

// Broadcast returns an operator that emits to every socket of the namespace
// except this one; narrow it with To.
func (s *Socket) Broadcast() *BroadcastOperator {
	return &BroadcastOperator{adapter: s.nsp.adapter, nsp: s.nsp.name, except: []string{s.id}}
}

// Encoded is a packet encoded once, as the Engine.IO messages (text, then
// binary attachments) that every receiver gets. It also carries what a
// caller needs to know of it without decoding: its event name and an
// optional sequence number.
type Encoded struct {
	messages []*engineio.Message
	first    int    // messages of the first packet: its text and attachments
	size     int    // bytes of every message's websocket frame
	event    string // event name of the first packet, "" if not an event
	seq      int64  // set by WithSeq
	off      uint64 // recovery offset appended to it, 0 if none
}

// NewEncoded wraps an encoded packet's text and attachments, e.g. received
// from another node. Its Event is empty.
func NewEncoded(text []byte, attachments [][]byte) *Encoded {
	ms := make([]*engineio.Message, 0, 1+len(attachments))
	ms = append(ms, engineio.NewTextMessage(text))
	for _, a := range attachments {
		ms = append(ms, engineio.NewBinaryMessage(a))
	}
	e := &Encoded{messages: ms, first: len(ms)}
	for _, m := range ms {
		e.size += len(m.Frame())
	}
	return e
}

// Concat joins encoded packets into one unit that each receiver gets in
// order, with a single write where the transport allows. Only the first
// packet's Text, Attachments, Event and Seq are reported by the result.
func Concat(es ...*Encoded) *Encoded {
	var ms []*engineio.Message
	size := 0
	for _, e := range es {
		ms = append(ms, e.messages...)
		size += e.size
	}
	return &Encoded{messages: ms, first: es[0].first, size: size, event: es[0].event, seq: es[0].seq}
}

// WithSeq returns a copy of e that reports seq (e.g. a notification's
// sequence number), for callers that sort or skip packets by it.
func (e *Encoded) WithSeq(seq int64) *Encoded {
	c := *e
	c.seq = seq
	return &c
}

// Event returns the event name of an event packet (as EncodeEvent was
// given it), or "".
func (e *Encoded) Event() string { return e.event }

// Seq returns what WithSeq set, or 0.
func (e *Encoded) Seq() int64 { return e.seq }

// Size returns the bytes the packet takes in a client's write queue.
func (e *Encoded) Size() int { return e.size }

// Text returns the packet's text form; Attachments its binary attachments.
func (e *Encoded) Text() []byte { return e.messages[0].Packet()[1:] }

// Attachments returns the binary attachments, in order.
func (e *Encoded) Attachments() [][]byte {
	out := make([][]byte, 0, e.first-1)
	for _, m := range e.messages[1:e.first] {
		out = append(out, m.Packet())
	}
	return out
}

// EncodeEvent encodes an event for namespace nsp once, for any number of
// receivers.
func EncodeEvent(nsp, event string, args []any) (*Encoded, error) {
	return encode(Packet{Type: PacketEvent, Namespace: nsp}, event, args)
}

// encode builds the packet p carrying [head, args...] (head omitted when
// empty, for acks); binary args turn p into its binary type.
func encode(p Packet, head string, args []any) (*Encoded, error) {
	data, atts, err := encodeArray(make([]byte, 0, 64), head, args)
	if err != nil {
		return nil, err
	}
	if len(atts) > 0 {
		p.Attachments = len(atts)
		if p.Type == PacketEvent {
			p.Type = PacketBinaryEvent
		} else {
			p.Type = PacketBinaryAck
		}
	}
	p.Data = data
	text := p.Append(make([]byte, 0, 16+len(data)))
	e := NewEncoded(text, atts)
	if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
		e.event = head
	}
	return e, nil
}

func (s *Socket) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Conn returns the Engine.IO session under the socket (socket.conn in the
// reference server); closing it drops the transport without a DISCONNECT
// packet, so the client reconnects.
func (s *Socket) Conn() *engineio.Session { return s.sess }
