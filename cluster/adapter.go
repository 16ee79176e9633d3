package cluster

import (
	"sync"

	"herald/socketio"
)

// Adapter is the socketio.Adapter of one namespace in cluster mode. Rooms
// and local delivery are a socketio.MemoryAdapter's; on top of it the node
// subscribes to the channel of each room while it holds a socket in it,
// and forwards broadcasts to the channels of their target rooms.
//
// Channels: "<prefix>:<nsp>:r:<room>" per room, "<prefix>:<nsp>:all" for
// broadcasts to every socket (subscribed from the start). A room named
// after a local socket's id stays local; one named after a socket of
// another node is not reached (no node subscribes to socket ids).
//
// Order: the broadcasts of one node to one room reach every node in the
// order they were made (one publisher, one connection per channel); there
// is no order between rooms or between origin nodes.
type Adapter struct {
	node  *Node
	nsp   *socketio.Namespace
	local *socketio.MemoryAdapter
	base  string // "<prefix>:<nsp>:"
	all   string

	// mu orders membership changes, so that each room's acquire and
	// release reach the node in the order of the joins and leaves.
	mu sync.Mutex
}

var _ socketio.Adapter = (*Adapter)(nil)

// NewAdapter returns the adapter of nsp; pass it as
// socketio.Options.NewAdapter:
//
//	NewAdapter: func(nsp *socketio.Namespace) socketio.Adapter { return node.NewAdapter(nsp) }
func (n *Node) NewAdapter(nsp *socketio.Namespace) socketio.Adapter {
	base := n.opts.Prefix + ":" + nsp.Name() + ":"
	a := &Adapter{node: n, nsp: nsp, local: socketio.NewMemoryAdapter(nsp), base: base, all: base + "all"}
	n.acquire(a.all, func(payload string) { a.receive("", payload) })
	return a
}

func (a *Adapter) channel(room string) string { return a.base + "r:" + room }

// Add joins s to rooms. When a room gets its first socket on this node,
// Add returns once Redis confirmed the room's subscription (at most
// Options.SubscribeTimeout; at once while Redis is down): from then on no
// broadcast to the room is missed, so the caller may replay from its store
// and go live.
func (a *Adapter) Add(s *socketio.Socket, rooms ...string) {
	if len(rooms) == 0 {
		a.local.Add(s)
		return
	}
	a.mu.Lock()
	before := a.local.Rooms(s)
	a.local.Add(s, rooms...)
	var ready []<-chan struct{}
	for _, r := range a.local.Rooms(s) {
		if !contains(before, r) {
			if c := a.node.acquire(a.channel(r), a.handler(r)); c != nil {
				ready = append(ready, c)
			}
		}
	}
	a.mu.Unlock()
	a.node.wait(ready...)
}

// handler returns the message handler of a room's channel.
func (a *Adapter) handler(room string) func(string) {
	return func(payload string) { a.receive(room, payload) }
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Del removes s from room.
func (a *Adapter) Del(s *socketio.Socket, room string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if contains(a.local.Rooms(s), room) {
		a.local.Del(s, room)
		a.node.release(a.channel(room))
	}
}

// DelAll removes s from every room.
func (a *Adapter) DelAll(s *socketio.Socket) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rooms := a.local.Rooms(s)
	a.local.DelAll(s)
	for _, r := range rooms {
		a.node.release(a.channel(r))
	}
}

// Rooms returns the rooms s joined, not counting its own.
func (a *Adapter) Rooms(s *socketio.Socket) []string { return a.local.Rooms(s) }

// Sockets returns the local sockets a broadcast with opts would reach.
func (a *Adapter) Sockets(opts socketio.BroadcastOptions) []*socketio.Socket {
	return a.local.Sockets(opts)
}

// Broadcast delivers e to the local sockets selected by opts and, unless
// opts.Local, publishes it once per target room, or once in all for a
// broadcast to every socket. It never waits for Redis.
//
// The message on the channel of Rooms[k] lists Rooms[0..k], so that each
// socket gets it once without receiver state. A broadcast to at least as
// many rooms held elsewhere as there are other live nodes is published
// once in all instead, listing its rooms: every other node receives one
// message rather than each node one per room it holds. Either way an emit
// to k rooms costs the cluster at most min(k, nodes-1) messages received.
func (a *Adapter) Broadcast(e *socketio.Encoded, opts socketio.BroadcastOptions) {
	if opts.Local {
		a.local.Broadcast(e, opts)
		return
	}
	a.deliver(e, opts)
	text, atts := e.Text(), e.Attachments()
	size := 64 + len(text) + len(a.node.id)
	for _, x := range atts {
		size += 8 + len(x)
	}
	if len(opts.Rooms) == 0 {
		a.node.pub.publish(a.all, appendMessage(make([]byte, 0, size), a.node.id, nil, opts.Except, text, atts, e.Seq()))
		return
	}
	remote := make([]string, 0, len(opts.Rooms))
	for _, r := range opts.Rooms {
		if a.nsp.Socket(r) != nil || contains(remote, r) {
			continue // a local socket's own room, or a repeat
		}
		remote = append(remote, r)
		size += 8 + len(r)
	}
	if others := a.node.liveNodes.Load() - 1; len(remote) > 1 && others > 0 && int64(len(remote)) >= others {
		a.node.pub.publish(a.all, appendMessage(make([]byte, 0, size), a.node.id, remote, opts.Except, text, atts, 0))
		return
	}
	for k, r := range remote {
		a.node.pub.publish(a.channel(r), appendMessage(make([]byte, 0, size), a.node.id, remote[:k+1], opts.Except, text, atts, e.Seq()))
	}
}

// receive delivers a message that arrived on the channel of room ("" for
// the all channel) to the local sockets it is meant for: those in room that
// are in no earlier target room and in no except room; on the all channel
// those in any of its rooms (every socket if it lists none) and in no
// except room. The packet is
// wrapped once and shared by every receiving socket.
func (a *Adapter) receive(room, payload string) {
	m, err := decodeMessage([]byte(payload))
	if err != nil || (room != "" && (len(m.Rooms) == 0 || m.Rooms[len(m.Rooms)-1] != room)) || (room == "" && len(m.Rooms) > 0 && m.Seq > 0) {
		a.node.stats.invalid.Add(1)
		return
	}
	if m.Origin == a.node.id {
		a.node.stats.echoes.Add(1)
		return
	}
	a.node.stats.received.Add(1)
	opts := socketio.BroadcastOptions{Except: m.Except, Local: true}
	if room == "" {
		opts.Rooms = m.Rooms // every socket of these rooms (all of them if none)
	} else {
		opts.Rooms = []string{room}
		opts.Except = append(m.Except, m.Rooms[:len(m.Rooms)-1]...)
	}
	e := socketio.NewEncoded(m.Text, m.Attachments)
	if m.Seq > 0 {
		e = e.WithSeq(m.Seq)
	}
	a.deliver(e, opts)
}

// deliver delivers e to the local sockets selected by opts, through
// Options.Sequenced when it is set and e has a seq and one target room.
func (a *Adapter) deliver(e *socketio.Encoded, opts socketio.BroadcastOptions) {
	seqd := a.node.opts.Sequenced
	if seqd == nil || e.Seq() <= 0 || len(opts.Rooms) != 1 {
		a.local.Broadcast(e, opts)
		return
	}
	opts.Local = true
	seqd(opts.Rooms[0], e, func(x *socketio.Encoded) { a.local.Broadcast(x, opts) })
}

// Close releases the every-socket channel. Rooms are released as their
// sockets leave (socketio.Server.Close disconnects them first).
func (a *Adapter) Close() {
	a.node.release(a.all)
}
