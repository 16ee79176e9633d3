package socketio

// BroadcastOperator emits one event to a selection of sockets. It is built
// by Namespace.To, Namespace.Except and Socket.Broadcast and narrowed with
// To and Except.
type BroadcastOperator struct {
	adapter Adapter
	nsp     string
	rooms   []string
	except  []string
}

// To adds rooms to the selection.
func (b *BroadcastOperator) To(rooms ...string) *BroadcastOperator {
	c := *b
	c.rooms = append(append([]string(nil), b.rooms...), rooms...)
	return &c
}

// Except excludes the sockets in rooms.
func (b *BroadcastOperator) Except(rooms ...string) *BroadcastOperator {
	c := *b
	c.except = append(append([]string(nil), b.except...), rooms...)
	return &c
}

// Emit encodes the event once and delivers it to every selected socket.
func (b *BroadcastOperator) Emit(event string, args ...any) error {
	e, err := EncodeEvent(b.nsp, event, args)
	if err != nil {
		return err
	}
	b.adapter.Broadcast(e, BroadcastOptions{Rooms: b.rooms, Except: b.except})
	return nil
}

// Send delivers an already encoded packet to every selected socket.
func (b *BroadcastOperator) Send(e *Encoded) {
	b.adapter.Broadcast(e, BroadcastOptions{Rooms: b.rooms, Except: b.except})
}

// Sockets returns the local sockets in the selection.
func (b *BroadcastOperator) Sockets() []*Socket {
	return b.adapter.Sockets(BroadcastOptions{Rooms: b.rooms, Except: b.except})
}
