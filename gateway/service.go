package gateway

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"herald"
	"herald/socketio"
)

// The seed's WebSocketService, offered to Go programs that embed herald and
// used by the HTTP API. Tenant "" is the default tenant. Payloads given as
// JSON must be objects; the gateway adds their "timestamp".

// EmitToUser sends an event to every socket of a user.
func (g *Gateway) EmitToUser(tenant, userID, event string, data json.RawMessage) error {
	return g.EmitToUsers(tenant, []string{userID}, event, data)
}

// EmitToUsers sends one event to every socket of each user, encoding it once.
func (g *Gateway) EmitToUsers(tenant string, userIDs []string, event string, data json.RawMessage) error {
	rooms := make([]string, len(userIDs))
	for i, u := range userIDs {
		rooms[i] = userRoom(tenant, u)
	}
	return g.emitRaw(rooms, event, data)
}

// EmitToRoom sends an event to a room of the tenant (e.g. "user:42", or any
// room sockets joined).
func (g *Gateway) EmitToRoom(tenant, room, event string, data json.RawMessage) error {
	return g.emitRaw([]string{scopedRoom(tenant, room)}, event, data)
}

// Broadcast sends an event to every socket of the tenant.
func (g *Gateway) Broadcast(tenant, event string, data json.RawMessage) error {
	return g.emitRaw([]string{tenantRoom(tenant)}, event, data)
}

// EmitDataUpdated sends the seed's data:updated {type, data, timestamp}.
func (g *Gateway) EmitDataUpdated(tenant, userID, dataType string, data json.RawMessage) error {
	if len(data) == 0 {
		data = json.RawMessage("null")
	}
	if !json.Valid(data) {
		return herald.Errorf(herald.EINVALID, "data must be JSON.")
	}
	b, _ := json.Marshal(struct {
		Type string          `json:"type"`
		Data json.RawMessage `json:"data"`
	}{dataType, data})
	return g.EmitToUser(tenant, userID, EventDataUpdated, b)
}

// emitRaw adds the timestamp to data, encodes the event once and sends it
// to the rooms in one broadcast: in cluster mode the adapter then picks
// one message per room or one for every node, whichever is fewer.
func (g *Gateway) emitRaw(rooms []string, event string, data json.RawMessage) error {
	start := time.Now()
	payload, err := withTimestamp(data, g.now())
	if err != nil {
		return err
	}
	e, err := encodeEvent(event, payload)
	if err != nil {
		return err
	}
	g.obs.EventOut(event)
	g.nsp.To(rooms...).Send(e)
	g.obs.Emitted(time.Since(start))
	return nil
}

// IsUserConnected reports whether the user has a socket: on any node in
// cluster mode (on this one if Redis cannot be read), else on this one.
func (g *Gateway) IsUserConnected(tenant, userID string) bool {
	if _, n, err := g.UserPresence(context.Background(), tenant, userID); err == nil {
		return n > 0
	}
	return g.presence.socketsOf(userKey{tenant, userID}) > 0
}

// UserSocketCount returns the user's sockets on this node (the per-user
// socket limit is per node); UserPresence counts every node.
func (g *Gateway) UserSocketCount(tenant, userID string) int {
	return g.presence.socketsOf(userKey{tenant, userID})
}

// Counts returns the connected users and sockets on this node.
func (g *Gateway) Counts() (users, sockets int) { return g.presence.counts() }

// CreateNotifications stores the notifications, then announces each new
// one to its user's sockets with notification:new and the new unread
// count. Persist first: a failed emit never loses a stored notification.
//
// Whatever commits is announced, whatever becomes of the caller: the store
// call runs detached from ctx's cancellation (bounded by
// Config.StoreTimeout), so a caller that gives up while the create waits
// for its commit does not leave a stored notification unannounced. A
// notification that already existed (same idempotency key) is returned and
// announced only if this process has not announced it (it was stored by a
// call that failed, or before a restart); a retry after an announced create
// announces nothing again.
func (g *Gateway) CreateNotifications(ctx context.Context, ns []herald.NewNotification) ([]herald.Notification, error) {
	keys := make([]userKey, len(ns))
	for i, n := range ns {
		keys[i] = userKey{n.TenantID, n.UserID}
	}
	// From the seq assignment to the last emit, so that each user's
	// sockets get notification:new in seq order and the latest count last.
	unlock := g.order.lock(keys...)
	defer unlock()
	ctx, cancel := g.writeContext(ctx)
	defer cancel()
	created, err := g.cfg.Store.Create(ctx, ns)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	announce := make([]bool, len(created))
	last := make(map[userKey]int, len(created)) // each user's last new notification
	var recount []userKey                       // users told of an existing one
	for i, n := range created {
		k := userKey{n.TenantID, n.UserID}
		switch {
		case !n.Existing:
			announce[i], last[k] = true, i
			if ns[i].IdempotencyKey != "" { // only these can come back Existing
				g.announced.add(n.ID)
			}
		case n.Status == herald.StatusUnread && g.announced.add(n.ID):
			announce[i] = true
			if !slices.Contains(recount, k) {
				recount = append(recount, k)
			}
		}
	}
	ts := g.now()
	for i, n := range created {
		if !announce[i] {
			continue
		}
		k := userKey{n.TenantID, n.UserID}
		e, err := encodeNotificationNew(&n, ts)
		if err != nil {
			g.log.Error("encode", "event", EventNotificationNew, "err", err)
			continue
		}
		g.obs.EventOut(EventNotificationNew)
		if !n.Existing && last[k] == i {
			// The count, read by the store in the transaction that stored
			// these, rides with the user's last notification: one write
			// per socket for both.
			if c, err := encodeEvent(EventUnreadCount, appendUnreadCount(make([]byte, 0, 96), n.UnreadCount, n.UnseenCount, ts)); err == nil {
				g.obs.EventOut(EventUnreadCount)
				if g.cfg.Cluster != nil { // other nodes get one packet per message
					g.nsp.To(userRoom(k.tenant, k.user)).Send(e)
					e = c
				} else {
					e = socketio.Concat(e, c)
				}
			}
		}
		g.nsp.To(userRoom(k.tenant, k.user)).Send(e)
	}
	for _, k := range recount {
		if _, told := last[k]; !told { // else the new ones' count covers it
			g.pushUnreadCount(ctx, k)
		}
	}
	g.obs.Emitted(time.Since(start))
	return created, nil
}

// appendUnreadCount appends the payload of unread-count (unreadCount) to
// dst; ts is a Timestamp, which needs no escaping.
func appendUnreadCount(dst []byte, unread, unseen int, ts string) json.RawMessage {
	dst = strconv.AppendInt(append(dst, `{"unreadCount":`...), int64(unread), 10)
	dst = strconv.AppendInt(append(dst, `,"unseenCount":`...), int64(unseen), 10)
	return append(append(append(dst, `,"timestamp":"`...), ts...), `"}`...)
}

// pushUnreadCount sends the user's current unread count to their sockets.
// Users without a socket on this node are skipped unless a cluster adapter
// reaches other nodes. The caller holds the user's g.order lock, so that
// counts leave in the order they were read.
func (g *Gateway) pushUnreadCount(ctx context.Context, k userKey) {
	n, err := g.cfg.Store.Counts(ctx, k.tenant, k.user)
	if err != nil {
		g.log.Error("unread count", "err", err)
		return
	}
	g.emit(userRoom(k.tenant, k.user), EventUnreadCount, unreadCount{n, g.now()})
}

// MarkRead marks one of the user's notifications read and tells every
// socket of the user. Like every change, it is not abandoned half-way when
// ctx is cancelled (see writeContext).
func (g *Gateway) MarkRead(ctx context.Context, id herald.Identity, notificationID string) error {
	if notificationID == "" {
		return herald.Errorf(herald.EINVALID, "notificationId is required.")
	}
	ctx, cancel := g.writeContext(ctx)
	defer cancel()
	if _, err := g.cfg.Store.MarkRead(ctx, id.TenantID, id.UserID, notificationID); err != nil {
		return err
	}
	k := userKey{id.TenantID, id.UserID}
	unlock := g.order.lock(k)
	defer unlock()
	g.emit(userRoom(k.tenant, k.user), EventNotificationRead, notificationRead{notificationID, true, g.now()})
	g.pushUnreadCount(ctx, k)
	return nil
}

// MarkAllRead marks all of the user's notifications read and tells every
// socket of the user.
func (g *Gateway) MarkAllRead(ctx context.Context, id herald.Identity) (int, error) {
	ctx, cancel := g.writeContext(ctx)
	defer cancel()
	n, err := g.cfg.Store.MarkAllRead(ctx, id.TenantID, id.UserID)
	if err != nil {
		return 0, err
	}
	k := userKey{id.TenantID, id.UserID}
	unlock := g.order.lock(k)
	defer unlock()
	g.emit(userRoom(k.tenant, k.user), EventNotificationAllRead, allRead{n, g.now()})
	// Read, not 0: a notification created since the write is unread.
	g.pushUnreadCount(ctx, k)
	return n, nil
}

// Delete removes one of the user's notifications and tells every socket.
func (g *Gateway) Delete(ctx context.Context, id herald.Identity, notificationID string) error {
	if notificationID == "" {
		return herald.Errorf(herald.EINVALID, "notificationId is required.")
	}
	ctx, cancel := g.writeContext(ctx)
	defer cancel()
	if err := g.cfg.Store.Delete(ctx, id.TenantID, id.UserID, notificationID); err != nil {
		return err
	}
	g.announceDeleted(ctx, id.TenantID, id.UserID, notificationID)
	return nil
}

// DeleteByID removes any user's notification (backend services) and tells
// that user's sockets.
func (g *Gateway) DeleteByID(ctx context.Context, notificationID string) error {
	ctx, cancel := g.writeContext(ctx)
	defer cancel()
	n, err := g.cfg.Store.DeleteByID(ctx, notificationID)
	if err != nil {
		return err
	}
	g.announceDeleted(ctx, n.TenantID, n.UserID, n.ID)
	return nil
}

func (g *Gateway) announceDeleted(ctx context.Context, tenant, user, notificationID string) {
	unlock := g.order.lock(userKey{tenant, user})
	defer unlock()
	g.emit(userRoom(tenant, user), EventNotificationDeleted, notificationDeleted{notificationID, g.now()})
	g.pushUnreadCount(ctx, userKey{tenant, user})
}

// List returns a page of the user's feed.
func (g *Gateway) List(ctx context.Context, id herald.Identity, opts herald.ListOptions) (herald.Page, error) {
	ctx, cancel := g.readContext(ctx)
	defer cancel()
	return g.cfg.Store.List(ctx, id.TenantID, id.UserID, opts)
}

// UnreadCount returns the user's exact unread count.
func (g *Gateway) UnreadCount(ctx context.Context, id herald.Identity) (int, error) {
	ctx, cancel := g.readContext(ctx)
	defer cancel()
	return g.cfg.Store.UnreadCount(ctx, id.TenantID, id.UserID)
}

// readContext bounds a store read made for ctx by Config.StoreTimeout.
func (g *Gateway) readContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, g.cfg.StoreTimeout)
}

// writeContext is the context of a store change made for ctx: its values,
// not its cancellation, and Config.StoreTimeout. A change the caller gave up
// on may still commit, and whatever commits must be announced, so the
// change and its announcement run to the end together.
func (g *Gateway) writeContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), g.cfg.StoreTimeout)
}
