package gateway

import (
	"strings"
	"unicode/utf8"

	"herald"
	"herald/socketio"
)

// CodeWatchLimit is the error code of a presence:subscribe refused because
// the socket would watch more than Config.PresenceWatchLimit users.
const CodeWatchLimit = "limit"

// Presence by subscription (DESIGN §2, §5): a socket watches users of its
// own tenant and gets user:online / user:offline for them only.

// onPresenceSubscribe serves presence:subscribe {userIds}: the socket
// watches those users of its tenant and the ack lists the ones online now,
// {success, online}. Over the watch limit nothing changes and the ack is
// {success: false, error: {code: "limit", message}}.
func (g *Gateway) onPresenceSubscribe(s *socketio.Socket, e *socketio.Event) {
	c, keys, ok := g.watchRequest(s, e)
	if !ok {
		return
	}
	if c.gone {
		c.watchMu.Unlock()
		return
	}
	added := 0
	for _, k := range keys {
		if _, ok := c.watching[k]; !ok {
			added++
		}
	}
	if len(c.watching)+added > g.cfg.PresenceWatchLimit {
		c.watchMu.Unlock()
		g.fail(e, herald.Errorf(CodeWatchLimit, "A socket watches at most %d users; it watches %d.", g.cfg.PresenceWatchLimit, len(c.watching)))
		return
	}
	if c.watching == nil {
		c.watching = make(map[userKey]struct{}, len(keys))
	}
	online := make([]string, 0, len(keys))
	snapshot, release := g.clusterSnapshot(keys)
	defer release()
	g.ackInOrder(c, e, keys, func() any {
		for i, k := range keys {
			c.watching[k] = struct{}{}
			g.watchers.watch(k, c)
			if snapshot != nil && snapshot[i] || snapshot == nil && g.presence.isOnline(k) {
				online = append(online, k.user)
			}
		}
		return map[string]any{"success": true, "online": online}
	})
}

// onPresenceUnsubscribe serves presence:unsubscribe {userIds}: the socket
// stops watching those users; no event about them follows the ack.
func (g *Gateway) onPresenceUnsubscribe(s *socketio.Socket, e *socketio.Event) {
	c, keys, ok := g.watchRequest(s, e)
	if !ok {
		return
	}
	g.ackInOrder(c, e, keys, func() any {
		for _, k := range keys {
			if _, ok := c.watching[k]; ok {
				delete(c.watching, k)
				g.watchers.unwatch(k, c)
			}
		}
		return map[string]any{"success": true}
	})
}

// ackInOrder runs change under the stripe locks of keys and answers e with
// its result in presence order: after every event about those users decided
// before, ahead of every event decided after. The caller holds c.watchMu;
// ackInOrder releases it before the ack, which may close the socket.
func (g *Gateway) ackInOrder(c *conn, e *socketio.Event, keys []userKey, change func() any) {
	unlock := g.presence.order.lock(keys...)
	ack := change()
	t := g.presence.seq.ticket()
	unlock()
	c.watchMu.Unlock()
	g.presence.seq.wait(t)
	e.Ack(ack)
	g.presence.seq.done()
}

// watchRequest counts a presence event and reads its {userIds} as keys of
// the socket's tenant, without repeats. Bad input is answered through the
// ack (ok false); on ok the caller holds c.watchMu.
func (g *Gateway) watchRequest(s *socketio.Socket, e *socketio.Event) (c *conn, keys []userKey, ok bool) {
	g.obs.EventIn(e.Name)
	c = connOf(s)
	if g.cfg.DisablePresence {
		g.fail(e, herald.Errorf(herald.EFORBIDDEN, "Presence is disabled on this server."))
		return nil, nil, false
	}
	var req struct {
		UserIDs []string `json:"userIds"`
	}
	err := decodeArg(e, &req)
	var ids []string
	if err == nil {
		ids, err = CheckUserIDs(req.UserIDs)
	}
	if err != nil {
		g.fail(e, err)
		return nil, nil, false
	}
	keys = make([]userKey, len(ids))
	for i, id := range ids {
		keys[i] = userKey{c.identity.TenantID, id}
	}
	c.watchMu.Lock()
	return c, keys, true
}

// CheckUserIDs checks a list of user ids given to a presence operation: at
// least one, each not blank, valid UTF-8 and at most herald.MaxIDBytes;
// anything else is EINVALID. Repeats are dropped; the result keeps the
// first occurrence of each id, in order. Callers bound the length.
func CheckUserIDs(ids []string) ([]string, error) {
	switch {
	case ids == nil:
		return nil, herald.Errorf(herald.EINVALID, "userIds is required.")
	case len(ids) == 0:
		return nil, herald.Errorf(herald.EINVALID, "userIds must not be empty.")
	}
	seen := make(map[string]struct{}, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		switch {
		case strings.TrimSpace(id) == "":
			return nil, herald.Errorf(herald.EINVALID, "userIds must not hold a blank id.")
		case len(id) > herald.MaxIDBytes:
			return nil, herald.Errorf(herald.EINVALID, "userIds must hold ids of at most %d bytes.", herald.MaxIDBytes)
		case !utf8.ValidString(id):
			return nil, herald.Errorf(herald.EINVALID, "userIds must hold valid UTF-8.")
		}
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			out = append(out, id)
		}
	}
	return out, nil
}

// unwatchAll drops every watch of a socket that left.
func (g *Gateway) unwatchAll(c *conn) {
	c.watchMu.Lock()
	c.gone = true
	watching := c.watching
	c.watching = nil
	c.watchMu.Unlock()
	for k := range watching {
		g.watchers.unwatch(k, c)
	}
}

// announcePresence sends user:online or user:offline about k to its
// watchers, encoding it once.
func (g *Gateway) announcePresence(k userKey, online bool, to []*conn) {
	event := EventUserOffline
	if online {
		event = EventUserOnline
	}
	e, err := encodeEvent(event, presenceEvent{k.user, g.now()})
	if err != nil {
		g.log.Error("encode", "event", event, "err", err)
		return
	}
	g.obs.EventOut(event)
	// Through the watchers' own rooms, so that with recovery on the event
	// carries an offset and is kept for a watcher whose transport dropped.
	rooms := make([]string, len(to))
	for i, w := range to {
		rooms[i] = w.socket.ID()
	}
	g.nsp.Adapter().Broadcast(e, socketio.BroadcastOptions{Rooms: rooms, Local: true})
}

// OnlineUsers returns those of the tenant's users that have a socket on
// this node, in the order given.
func (g *Gateway) OnlineUsers(tenant string, userIDs []string) []string {
	online := make([]string, 0, len(userIDs))
	for _, u := range userIDs {
		if g.presence.socketsOf(userKey{tenant, u}) > 0 {
			online = append(online, u)
		}
	}
	return online
}
