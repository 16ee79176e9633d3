package httpapi

import (
	"net/http"
	"strconv"

	"herald"
)

// listMine serves GET /v1/me/notifications?limit=&before=&unread=: a page
// of the caller's feed, newest first. limit is a positive integer (clamped
// to herald.MaxListLimit, default herald.DefaultListLimit), before the
// nextCursor of the previous page, unread a boolean.
func (a *api) listMine(w http.ResponseWriter, r *http.Request, id herald.Identity) {
	q := r.URL.Query()
	opts := herald.ListOptions{Before: q.Get("before")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			a.writeError(w, r, herald.Errorf(herald.EINVALID, "limit must be a positive integer."))
			return
		}
		opts.Limit = min(n, herald.MaxListLimit)
	}
	if s := q.Get("unread"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			a.writeError(w, r, herald.Errorf(herald.EINVALID, "unread must be true or false."))
			return
		}
		opts.UnreadOnly = b
	}
	page, err := a.gw.List(r.Context(), id, opts)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, page)
}

// unreadCount serves GET /v1/me/unread-count: {unreadCount, unseenCount}.
func (a *api) unreadCount(w http.ResponseWriter, r *http.Request, id herald.Identity) {
	n, err := a.gw.FeedCounts(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, n)
}

// markRead serves POST /v1/me/notifications/{id}/read. Another user's or
// tenant's notification is 404 not_found and stays as it is.
func (a *api) markRead(w http.ResponseWriter, r *http.Request, id herald.Identity) {
	nid := r.PathValue("id")
	if err := a.gw.MarkRead(r.Context(), id, nid); err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		NotificationID string `json:"notificationId"`
		Success        bool   `json:"success"`
	}{nid, true})
}

// markAllRead serves POST /v1/me/notifications/read-all.
func (a *api) markAllRead(w http.ResponseWriter, r *http.Request, id herald.Identity) {
	n, err := a.gw.MarkAllRead(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		Updated int `json:"updated"`
	}{n})
}

// deleteMine serves DELETE /v1/me/notifications/{id}. Another user's or
// tenant's notification is 404 not_found and stays as it is.
func (a *api) deleteMine(w http.ResponseWriter, r *http.Request, id herald.Identity) {
	if err := a.gw.Delete(r.Context(), id, r.PathValue("id")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
