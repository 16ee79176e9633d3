package gateway

import (
	"context"
	"errors"

	"herald"
	"herald/auth"
	"herald/socketio"
)

// Socket event handlers. Each answers through the client's ack, when it
// asked for one, with {success: true, ...} or {success: false, error:
// {code, message}}.

type idRequest struct {
	NotificationID string `json:"notificationId"`
}

// fail answers a failed operation through the ack. Internal errors are
// logged, as the HTTP API does, and the client gets a generic message.
func (g *Gateway) fail(e *socketio.Event, err error) {
	if herald.ErrorCode(err) == herald.EINTERNAL {
		g.log.Error("socket event", "event", e.Name, "err", err)
	}
	e.Ack(failure(err))
}

// decodeArg reads the event's first argument into v; a missing argument
// leaves v as it is.
func decodeArg(e *socketio.Event, v any) error {
	if e.Args.Len() == 0 {
		return nil
	}
	if err := e.Args.Decode(0, v); err != nil {
		return herald.Errorf(herald.EINVALID, "The payload must be a JSON object.")
	}
	return nil
}

// onMarkRead is the seed's handleMarkAsRead, backed by the store.
func (g *Gateway) onMarkRead(s *socketio.Socket, e *socketio.Event) {
	g.obs.EventIn(e.Name)
	c := connOf(s)
	var req idRequest
	err := decodeArg(e, &req)
	if err == nil {
		err = g.MarkRead(context.Background(), c.identity, req.NotificationID)
	}
	if err != nil {
		// The seed also tells the socket through an error event.
		g.sendNow(s, EventError, errorEvent{Message: "Error marking the notification as read", Code: herald.ErrorCode(err)})
		g.fail(e, err)
		return
	}
	e.Ack(map[string]any{"success": true})
}

func (g *Gateway) onMarkAllRead(s *socketio.Socket, e *socketio.Event) {
	g.obs.EventIn(e.Name)
	n, err := g.MarkAllRead(context.Background(), connOf(s).identity)
	if err != nil {
		g.fail(e, err)
		return
	}
	e.Ack(map[string]any{"success": true, "updated": n})
}

func (g *Gateway) onDelete(s *socketio.Socket, e *socketio.Event) {
	g.obs.EventIn(e.Name)
	var req idRequest
	err := decodeArg(e, &req)
	if err == nil {
		err = g.Delete(context.Background(), connOf(s).identity, req.NotificationID)
	}
	if err != nil {
		g.fail(e, err)
		return
	}
	e.Ack(map[string]any{"success": true})
}

func (g *Gateway) onList(s *socketio.Socket, e *socketio.Event) {
	g.obs.EventIn(e.Name)
	var req struct {
		Limit  int    `json:"limit"`
		Before string `json:"before"`
		Unread bool   `json:"unread"`
	}
	err := decodeArg(e, &req)
	var page herald.Page
	if err == nil {
		id := connOf(s).identity
		page, err = g.List(context.Background(), id, herald.ListOptions{Limit: req.Limit, Before: req.Before, UnreadOnly: req.Unread})
	}
	if err != nil {
		g.fail(e, err)
		return
	}
	e.Ack(map[string]any{"success": true, "notifications": page.Notifications, "nextCursor": page.NextCursor})
}

func (g *Gateway) onUnreadCount(s *socketio.Socket, e *socketio.Event) {
	g.obs.EventIn(e.Name)
	n, err := g.FeedCounts(context.Background(), connOf(s).identity)
	if err != nil {
		g.fail(e, err)
		return
	}
	e.Ack(map[string]any{"success": true, "unreadCount": n.Unread, "unseenCount": n.Unseen})
}

// onAuthRefresh replaces the socket's token by a fresh one for the same
// user, moving its expiry.
func (g *Gateway) onAuthRefresh(s *socketio.Socket, e *socketio.Event) {
	g.obs.EventIn(e.Name)
	c := connOf(s)
	var req struct {
		Token string `json:"token"`
	}
	if err := decodeArg(e, &req); err != nil {
		g.fail(e, err)
		return
	}
	if req.Token == "" {
		e.Ack(map[string]any{"success": false, "error": ackError{auth.CodeMissing, "Authentication token required"}})
		return
	}
	id, exp, err := g.cfg.Verifier.Verify(req.Token)
	if err != nil {
		e.Ack(map[string]any{"success": false, "error": ackError{auth.Code(err), authMessage(err)}})
		return
	}
	if id.UserID != c.identity.UserID || id.TenantID != c.identity.TenantID {
		g.fail(e, herald.Errorf(herald.EFORBIDDEN, "The token is for another user."))
		return
	}
	g.expiry.set(c, exp)
	e.Ack(map[string]any{"success": true})
}

// authMessage returns the client-safe message of a verification failure.
func authMessage(err error) string {
	var ae *auth.Error
	if errors.As(err, &ae) {
		return ae.Message
	}
	return "Authentication failed"
}
