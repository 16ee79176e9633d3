package socketio

import (
	"sync"

	"herald/engineio"
)

// BroadcastOptions select the receivers of a broadcast: the sockets in any
// of Rooms (every socket if Rooms is empty) that are in none of Except. A
// socket's id is the name of a room holding only it.
type BroadcastOptions struct {
	Rooms  []string
	Except []string
	// Local limits a cluster adapter to this node.
	Local bool
}

// Adapter keeps a namespace's rooms and delivers broadcasts. The in-memory
// adapter serves one node; a cluster adapter also forwards broadcasts to
// the other nodes. Implementations must be safe for concurrent use and must
// not block on a slow client: delivery only queues on each socket.
type Adapter interface {
	// Add registers s (on connect, with no rooms) or adds it to rooms.
	Add(s *Socket, rooms ...string)
	// Del removes s from room.
	Del(s *Socket, room string)
	// DelAll removes s from every room and forgets it.
	DelAll(s *Socket)
	// Rooms returns the rooms s joined, not counting its own.
	Rooms(s *Socket) []string
	// Sockets returns the local sockets a broadcast with opts would reach.
	Sockets(opts BroadcastOptions) []*Socket
	// Broadcast delivers e to the sockets selected by opts.
	Broadcast(e *Encoded, opts BroadcastOptions)
	// Close releases the adapter's resources.
	Close()
}

// MemoryAdapter is the single-node Adapter.
type MemoryAdapter struct {
	nsp *Namespace

	mu sync.RWMutex
	// Each room maps its sockets to their writers (Socket.w), so that a
	// broadcast reaches a receiver's connection without reading the Socket.
	rooms   map[string]map[*Socket]engineio.Writer
	sockets map[*Socket][]string // every registered socket and its rooms
}

var _ Adapter = (*MemoryAdapter)(nil)

// NewMemoryAdapter returns an empty adapter for nsp.
func NewMemoryAdapter(nsp *Namespace) *MemoryAdapter {
	return &MemoryAdapter{nsp: nsp, rooms: make(map[string]map[*Socket]engineio.Writer), sockets: make(map[*Socket][]string)}
}

func (a *MemoryAdapter) Add(s *Socket, rooms ...string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	joined, ok := a.sockets[s]
	if !ok && s.isClosed() {
		return // left before it could join
	}
	for _, r := range rooms {
		if r == s.id || contains(joined, r) {
			continue
		}
		set := a.rooms[r]
		if set == nil {
			set = make(map[*Socket]engineio.Writer, 1)
			a.rooms[r] = set
		}
		set[s] = s.w
		joined = append(joined, r)
	}
	a.sockets[s] = joined
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (a *MemoryAdapter) Del(s *Socket, room string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	joined, ok := a.sockets[s]
	if !ok {
		return
	}
	for i, r := range joined {
		if r == room {
			a.sockets[s] = append(joined[:i:i], joined[i+1:]...)
			a.leave(s, room)
			return
		}
	}
}

func (a *MemoryAdapter) leave(s *Socket, room string) {
	if set := a.rooms[room]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(a.rooms, room)
		}
	}
}

func (a *MemoryAdapter) DelAll(s *Socket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, r := range a.sockets[s] {
		a.leave(s, r)
	}
	delete(a.sockets, s)
}

func (a *MemoryAdapter) Rooms(s *Socket) []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return append([]string(nil), a.sockets[s]...)
}

// target is a receiver of a broadcast and its writer.
type target struct {
	s *Socket
	w engineio.Writer // s.w
}

// targets is a pooled slice for collecting the receivers of a broadcast.
var targets = sync.Pool{New: func() any { s := make([]target, 0, 64); return &s }}

func (a *MemoryAdapter) Sockets(opts BroadcastOptions) []*Socket {
	p := targets.Get().(*[]target)
	list := a.collect((*p)[:0], opts)
	out := make([]*Socket, len(list))
	for i, t := range list {
		out[i] = t.s
	}
	clear(list)
	*p = list[:0]
	targets.Put(p)
	return out
}

// collect appends the sockets selected by opts to dst.
func (a *MemoryAdapter) collect(dst []target, opts BroadcastOptions) []target {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var except map[*Socket]struct{}
	if len(opts.Except) > 0 {
		except = make(map[*Socket]struct{})
		for _, r := range opts.Except {
			a.each(r, func(s *Socket, _ engineio.Writer) { except[s] = struct{}{} })
		}
	}
	keep := func(s *Socket, w engineio.Writer) {
		if _, skip := except[s]; !skip {
			dst = append(dst, target{s, w})
		}
	}
	switch len(opts.Rooms) {
	case 0:
		for s := range a.sockets {
			keep(s, s.w)
		}
	case 1:
		a.each(opts.Rooms[0], keep)
	default:
		seen := make(map[*Socket]struct{})
		for _, r := range opts.Rooms {
			a.each(r, func(s *Socket, w engineio.Writer) {
				if _, dup := seen[s]; !dup {
					seen[s] = struct{}{}
					keep(s, w)
				}
			})
		}
	}
	return dst
}

// each calls fn for every socket in room and its writer; a room named
// after a socket id holds that socket. The caller holds a.mu.
func (a *MemoryAdapter) each(room string, fn func(*Socket, engineio.Writer)) {
	if set, ok := a.rooms[room]; ok {
		for s, w := range set {
			fn(s, w)
		}
		return
	}
	if s := a.nsp.Socket(room); s != nil {
		if _, ok := a.sockets[s]; ok {
			fn(s, s.w)
		}
	}
}

// Broadcast queues e on every selected socket. The packet was encoded
// once; each socket only queues a reference to the same bytes. A receiver
// on websocket that is not paused is written through its writer alone
// (what Socket.Send does first, without reading the Socket).
//
// With recovery on, an event without an ack id gets an offset as its last
// argument (in the one shared encoding) and is kept for the rooms that
// have a receiver or a parked session, before the receivers are collected.
func (a *MemoryAdapter) Broadcast(e *Encoded, opts BroadcastOptions) {
	if rec := a.nsp.srv.rec; rec != nil {
		e = rec.record(a.nsp, e, opts, a.live)
	}
	p := targets.Get().(*[]target)
	list := a.collect((*p)[:0], opts)
	for _, t := range list {
		if t.w.Ready() {
			t.w.SendAll(e.messages)
		} else {
			t.s.Send(e)
		}
	}
	clear(list)
	*p = list[:0]
	targets.Put(p)
}

// live reports whether room has a local socket ("" is every socket).
func (a *MemoryAdapter) live(room string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if room == "" {
		return len(a.sockets) > 0
	}
	return len(a.rooms[room]) > 0 || a.nsp.Socket(room) != nil
}

func (a *MemoryAdapter) Close() {}
