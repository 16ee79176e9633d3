package gateway

import (
	"herald/socketio"
)

// Connection state recovery (socketio.RecoveryOptions): a socket whose
// transport dropped is parked by the Socket.IO server with its conn. While
// parked it does not count as online (onDisconnect ran as for any socket),
// but it keeps its presence watches, so that the user:online / user:offline
// it misses are kept for it with its own room's frames. A client that
// recovers must present a valid token of the same tenant and user; the new
// socket then takes over the watches and skips the seq replay (the missed
// frames were sent). A session that expires drops its watches.

// recoveryHooks are the gateway's socketio.RecoveryHooks.
func (g *Gateway) recoveryHooks() socketio.RecoveryHooks {
	return socketio.RecoveryHooks{Accept: g.acceptRecovery, OnRecover: g.onRecover, OnExpire: g.onRecoveryExpired}
}

// acceptRecovery lets s take over prev's session only for the same tenant
// and user.
func (g *Gateway) acceptRecovery(s *socketio.Socket, prev any) bool {
	c, old := connOf(s), prev.(*conn)
	return c != nil && old != nil && c.identity.TenantID == old.identity.TenantID && c.identity.UserID == old.identity.UserID
}

// onRecover moves the watches of the parked conn prev to s's conn, under
// the presence order of those users: an announcement reaches one of them,
// never both, and none is lost.
func (g *Gateway) onRecover(s *socketio.Socket, prev any) {
	c, old := connOf(s), prev.(*conn)
	old.watchMu.Lock()
	keys := make([]userKey, 0, len(old.watching))
	for k := range old.watching {
		keys = append(keys, k)
	}
	c.watchMu.Lock() // as in onPresenceSubscribe: watchMu, then the order
	unlock := g.presence.order.lock(keys...)
	c.watching, old.watching, old.gone = old.watching, nil, true
	for _, k := range keys {
		g.watchers.watch(k, c)
		g.watchers.unwatch(k, old)
	}
	unlock()
	c.watchMu.Unlock()
	old.watchMu.Unlock()
}

// onRecoveryExpired drops the watches of a parked conn that did not come back.
func (g *Gateway) onRecoveryExpired(prev any) {
	if old, ok := prev.(*conn); ok {
		g.unwatchAll(old)
	}
}
