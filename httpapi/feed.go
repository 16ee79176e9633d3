package httpapi

import (
	"net/http"

	"herald"
)

// The feed routes beyond the seed's (README, "Feed operations"): delete
// all, mark many read, mark seen.

func (a *api) feedRoutes() []route {
	return []route{
		{"DELETE /v1/me/notifications", a.user(a.deleteAllMine)},
		{"POST /v1/me/notifications/read", a.user(a.markReadMany)},
		{"POST /v1/me/notifications/seen", a.user(a.markSeen)},
	}
}

// deleteAllMine serves DELETE /v1/me/notifications: {deleted}.
func (a *api) deleteAllMine(w http.ResponseWriter, r *http.Request, id herald.Identity) {
	n, err := a.gw.DeleteAll(r.Context(), id)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		Deleted int `json:"deleted"`
	}{n})
}

// markReadMany serves POST /v1/me/notifications/read {notificationIds}:
// {updated, notificationIds} with the ids that changed. Ids that are not
// the caller's are skipped like read ones, revealing nothing.
func (a *api) markReadMany(w http.ResponseWriter, r *http.Request, id herald.Identity) {
	var req struct {
		NotificationIDs []string `json:"notificationIds"`
	}
	if err := a.decodeBody(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	changed, err := a.gw.MarkReadMany(r.Context(), id, req.NotificationIDs)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		Updated         int      `json:"updated"`
		NotificationIDs []string `json:"notificationIds"`
	}{len(changed), changed})
}

// markSeen serves POST /v1/me/notifications/seen {notificationIds} or
// {all: true}: {updated}.
func (a *api) markSeen(w http.ResponseWriter, r *http.Request, id herald.Identity) {
	var req struct {
		NotificationIDs []string `json:"notificationIds"`
		All             bool     `json:"all"`
	}
	if err := a.decodeBody(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	n, err := a.gw.MarkSeen(r.Context(), id, req.NotificationIDs, req.All)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		Updated int `json:"updated"`
	}{n})
}
