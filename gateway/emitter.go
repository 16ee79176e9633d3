package gateway

import "herald/socketio"

// The entry points of the socket.io Redis emitter (package emitter): every
// node receives each emitter message itself, so these reach this node's
// sockets only and publish nothing to other nodes. Rooms are the
// emitter's names, scoped to tenant here; no rooms means every socket of
// the tenant. A socket is selected if it is in one of rooms and in none of
// except, as socket.io means them. A room named after the id of a socket
// of this node and of tenant is that socket, as in socket.io.

// emitterOptions selects this node's sockets of tenant for an emitter.
func (g *Gateway) emitterOptions(tenant string, rooms, except []string) socketio.BroadcastOptions {
	opts := socketio.BroadcastOptions{Local: true}
	if len(rooms) == 0 {
		opts.Rooms = []string{tenantRoom(tenant)}
	}
	for _, r := range rooms {
		opts.Rooms = append(opts.Rooms, g.emitterRoom(tenant, r))
	}
	for _, r := range except {
		opts.Except = append(opts.Except, g.emitterRoom(tenant, r))
	}
	return opts
}

// emitterRoom is the internal name of an emitter's room of tenant: the
// socket's id if it names a local socket of tenant (the adapter reaches a
// socket by its id), else the scoped room.
func (g *Gateway) emitterRoom(tenant, room string) string {
	if s := g.nsp.Socket(room); s != nil {
		if c := connOf(s); c != nil && c.identity.TenantID == tenant {
			return room
		}
	}
	return scopedRoom(tenant, room)
}

// EmitterBroadcast delivers an emitted packet to the selected sockets.
func (g *Gateway) EmitterBroadcast(tenant string, rooms, except []string, e *socketio.Encoded) {
	g.nsp.Adapter().Broadcast(e, g.emitterOptions(tenant, rooms, except))
}

// EmitterJoin makes the selected sockets join the tenant's rooms join
// (socketsJoin). The caller refuses user rooms: those follow identities.
func (g *Gateway) EmitterJoin(tenant string, rooms, except, join []string) {
	scoped := make([]string, len(join))
	for i, r := range join {
		scoped[i] = scopedRoom(tenant, r)
	}
	for _, s := range g.nsp.Adapter().Sockets(g.emitterOptions(tenant, rooms, except)) {
		s.Join(scoped...)
	}
}

// EmitterLeave makes the selected sockets leave the tenant's rooms leave
// (socketsLeave).
func (g *Gateway) EmitterLeave(tenant string, rooms, except, leave []string) {
	for _, s := range g.nsp.Adapter().Sockets(g.emitterOptions(tenant, rooms, except)) {
		for _, r := range leave {
			s.Leave(scopedRoom(tenant, r))
		}
	}
}

// EmitterDisconnect disconnects the selected sockets ("io server
// disconnect": their clients do not reconnect by themselves), closing
// their connections too with close (disconnectSockets).
func (g *Gateway) EmitterDisconnect(tenant string, rooms, except []string, close bool) {
	for _, s := range g.nsp.Adapter().Sockets(g.emitterOptions(tenant, rooms, except)) {
		s.Disconnect(close)
	}
}
