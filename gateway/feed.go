package gateway

import (
	"context"
	"encoding/json"

	"herald"
	"herald/socketio"
)

// The feed operations that inbox users ask for beyond the seed: delete
// all, a seen state apart from read, and marking many read in one call.
// Each tells every socket of the user what changed, then the new counts.

// Event names of the feed operations (DESIGN.md §5 as extended in README).
const (
	// Client → server.
	RequestDeleteAll = "notification:delete_all"
	RequestMarkSeen  = "notification:mark_seen"
	// Server → client.
	EventAllDeleted       = "notification:all_deleted"
	EventNotificationSeen = "notification:seen"
)

// Payloads of the server → client events of this file.
type (
	allDeleted struct {
		Deleted   int    `json:"deleted"`
		Timestamp string `json:"timestamp"`
	}
	notificationSeen struct {
		// NotificationIDs are the ids the client marked; absent when it
		// marked all.
		NotificationIDs []string `json:"notificationIds,omitempty"`
		All             bool     `json:"all"`
		Updated         int      `json:"updated"`
		Timestamp       string   `json:"timestamp"`
	}
)

func (g *Gateway) onFeedEvents() {
	g.nsp.On(RequestDeleteAll, g.onDeleteAll)
	g.nsp.On(RequestMarkSeen, g.onMarkSeen)
}

// FeedCounts returns the user's exact unread and unseen counts.
func (g *Gateway) FeedCounts(ctx context.Context, id herald.Identity) (herald.Counts, error) {
	ctx, cancel := g.readContext(ctx)
	defer cancel()
	return g.cfg.Store.Counts(ctx, id.TenantID, id.UserID)
}

// DeleteAll removes all of the user's notifications and tells every socket
// of the user (notification:all_deleted, then the counts). It returns how
// many were deleted.
func (g *Gateway) DeleteAll(ctx context.Context, id herald.Identity) (int, error) {
	ctx, cancel := g.writeContext(ctx)
	defer cancel()
	n, err := g.cfg.Store.DeleteAll(ctx, id.TenantID, id.UserID)
	if err != nil {
		return 0, err
	}
	k := userKey{id.TenantID, id.UserID}
	unlock := g.order.lock(k)
	defer unlock()
	g.emit(userRoom(k.tenant, k.user), EventAllDeleted, allDeleted{n, g.now()})
	g.pushUnreadCount(ctx, k)
	return n, nil
}

// MarkReadMany marks the given notifications of the user read and tells
// every socket of the user with one seed notification:read per changed
// notification, then the counts. It returns the ids that changed.
func (g *Gateway) MarkReadMany(ctx context.Context, id herald.Identity, ids []string) ([]string, error) {
	ctx, cancel := g.writeContext(ctx)
	defer cancel()
	changed, err := g.cfg.Store.MarkReadMany(ctx, id.TenantID, id.UserID, ids)
	if err != nil {
		return nil, err
	}
	k := userKey{id.TenantID, id.UserID}
	unlock := g.order.lock(k)
	defer unlock()
	ts := g.now()
	for _, nid := range changed {
		g.emit(userRoom(k.tenant, k.user), EventNotificationRead, notificationRead{nid, true, ts})
	}
	if len(changed) > 0 {
		g.pushUnreadCount(ctx, k)
	}
	return changed, nil
}

// MarkSeen marks the given notifications of the user seen, or all of them
// when all is set (ids must then be empty), and tells every socket of the
// user (notification:seen, then the counts). It returns how many changed.
func (g *Gateway) MarkSeen(ctx context.Context, id herald.Identity, ids []string, all bool) (int, error) {
	if all == (len(ids) > 0) {
		return 0, herald.Errorf(herald.EINVALID, "Give either notificationIds or all: true.")
	}
	ctx, cancel := g.writeContext(ctx)
	defer cancel()
	var n int
	var err error
	if all {
		n, err = g.cfg.Store.MarkAllSeen(ctx, id.TenantID, id.UserID)
	} else {
		n, err = g.cfg.Store.MarkSeen(ctx, id.TenantID, id.UserID, ids)
	}
	if err != nil {
		return 0, err
	}
	k := userKey{id.TenantID, id.UserID}
	unlock := g.order.lock(k)
	defer unlock()
	g.emit(userRoom(k.tenant, k.user), EventNotificationSeen, notificationSeen{ids, all, n, g.now()})
	g.pushUnreadCount(ctx, k)
	return n, nil
}

// onMarkReadEvent serves notification:mark_read: {notificationIds} marks
// many (ack {success, updated, notificationIds}), anything else is the
// seed's one-notification form.
func (g *Gateway) onMarkReadEvent(s *socketio.Socket, e *socketio.Event) {
	var req struct {
		NotificationIDs json.RawMessage `json:"notificationIds"`
	}
	if decodeArg(e, &req) != nil || len(req.NotificationIDs) == 0 {
		g.onMarkRead(s, e)
		return
	}
	g.obs.EventIn(e.Name)
	var ids []string
	if err := json.Unmarshal(req.NotificationIDs, &ids); err != nil {
		e.Ack(failure(herald.Errorf(herald.EINVALID, "notificationIds must be an array of strings.")))
		return
	}
	changed, err := g.MarkReadMany(context.Background(), connOf(s).identity, ids)
	if err != nil {
		e.Ack(failure(err))
		return
	}
	e.Ack(map[string]any{"success": true, "updated": len(changed), "notificationIds": changed})
}

func (g *Gateway) onDeleteAll(s *socketio.Socket, e *socketio.Event) {
	g.obs.EventIn(e.Name)
	n, err := g.DeleteAll(context.Background(), connOf(s).identity)
	if err != nil {
		e.Ack(failure(err))
		return
	}
	e.Ack(map[string]any{"success": true, "deleted": n})
}

// onMarkSeen serves notification:mark_seen {notificationIds} or {all: true}.
func (g *Gateway) onMarkSeen(s *socketio.Socket, e *socketio.Event) {
	g.obs.EventIn(e.Name)
	var req struct {
		NotificationIDs []string `json:"notificationIds"`
		All             bool     `json:"all"`
	}
	err := decodeArg(e, &req)
	var n int
	if err == nil {
		n, err = g.MarkSeen(context.Background(), connOf(s).identity, req.NotificationIDs, req.All)
	}
	if err != nil {
		e.Ack(failure(err))
		return
	}
	e.Ack(map[string]any{"success": true, "updated": n})
}
