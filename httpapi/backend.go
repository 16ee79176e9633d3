package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"herald"
	"herald/gateway"
	"herald/socketio"
)

// MaxEventBytes bounds the event name of POST /v1/emit.
const MaxEventBytes = 128

// createRequest is the body of POST /v1/notifications.
type createRequest struct {
	UserID         *string         `json:"userId"`
	UserIDs        []string        `json:"userIds"`
	TenantID       string          `json:"tenantId"`
	Type           string          `json:"type"`
	Title          string          `json:"title"`
	Message        string          `json:"message"`
	Data           json.RawMessage `json:"data"`
	IdempotencyKey string          `json:"idempotencyKey"`
	ExpiresAt      string          `json:"expiresAt"`
	GroupKey       string          `json:"groupKey"`
}

// createNotifications serves POST /v1/notifications: one notification per
// user, all stored or none, then announced to the users' sockets. A
// retry with the same idempotencyKey returns the stored notification.
func (a *api) createNotifications(w http.ResponseWriter, r *http.Request) {
	var req createRequest
	if err := a.decodeBody(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	users, err := targetUsers(req.UserID, req.UserIDs)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var expires time.Time
	if req.ExpiresAt != "" {
		if expires, err = time.Parse(time.RFC3339, req.ExpiresAt); err != nil {
			a.writeError(w, r, herald.Errorf(herald.EINVALID, "expiresAt must be an RFC 3339 time."))
			return
		}
	}
	if string(req.Data) == "null" {
		req.Data = nil
	}
	ns := make([]herald.NewNotification, len(users))
	for i, u := range users {
		ns[i] = herald.NewNotification{
			TenantID:       req.TenantID,
			UserID:         u,
			Type:           req.Type,
			Title:          req.Title,
			Message:        req.Message,
			Data:           req.Data,
			IdempotencyKey: req.IdempotencyKey,
			ExpiresAt:      expires,
			GroupKey:       req.GroupKey,
		}
	}
	created, err := a.gw.CreateNotifications(r.Context(), ns)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeNotifications(w, r, http.StatusCreated, created)
}

// targetUsers returns the users named by exactly one of userId and userIds:
// userIds must hold 1 to herald.MaxCreateBatch distinct ids.
func targetUsers(userID *string, userIDs []string) ([]string, error) {
	switch {
	case userID != nil && userIDs != nil:
		return nil, herald.Errorf(herald.EINVALID, "Give either userId or userIds, not both.")
	case userID != nil:
		return []string{*userID}, nil
	case userIDs == nil:
		return nil, herald.Errorf(herald.EINVALID, "userId or userIds is required.")
	case len(userIDs) == 0:
		return nil, herald.Errorf(herald.EINVALID, "userIds must not be empty.")
	case len(userIDs) > herald.MaxCreateBatch:
		return nil, herald.Errorf(herald.EINVALID, "userIds holds at most %d ids.", herald.MaxCreateBatch)
	}
	seen := make(map[string]bool, len(userIDs))
	for _, u := range userIDs {
		if seen[u] {
			return nil, herald.Errorf(herald.EINVALID, "userIds must not repeat an id.")
		}
		seen[u] = true
	}
	return userIDs, nil
}

// deleteNotification serves DELETE /v1/notifications/{id}: any user's
// notification, for trusted backends.
func (a *api) deleteNotification(w http.ResponseWriter, r *http.Request) {
	if err := a.gw.DeleteByID(r.Context(), r.PathValue("id")); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// emitRequest is the body of POST /v1/emit.
type emitRequest struct {
	Event     string          `json:"event"`
	Data      json.RawMessage `json:"data"`
	UserID    *string         `json:"userId"`
	UserIDs   []string        `json:"userIds"`
	Room      *string         `json:"room"`
	Broadcast bool            `json:"broadcast"`
	TenantID  string          `json:"tenantId"`
}

// emit serves POST /v1/emit: an event to a user, several users, a room of
// the tenant or the whole tenant (exactly one of them). Nothing is stored.
func (a *api) emit(w http.ResponseWriter, r *http.Request) {
	var req emitRequest
	if err := a.decodeBody(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := req.validate(); err != nil {
		a.writeError(w, r, err)
		return
	}
	var err error
	switch {
	case req.Broadcast:
		err = a.gw.Broadcast(req.TenantID, req.Event, req.Data)
	case req.Room != nil:
		err = a.gw.EmitToRoom(req.TenantID, *req.Room, req.Event, req.Data)
	default:
		users, _ := targetUsers(req.UserID, req.UserIDs) // checked by validate
		err = a.gw.EmitToUsers(req.TenantID, users, req.Event, req.Data)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// validate checks an emit: a non-reserved event name of 1 to
// MaxEventBytes, data that is a JSON object or absent, exactly one target.
func (req *emitRequest) validate() error {
	switch {
	case req.Event == "":
		return herald.Errorf(herald.EINVALID, "event is required.")
	case len(req.Event) > MaxEventBytes:
		return herald.Errorf(herald.EINVALID, "event must be at most %d bytes.", MaxEventBytes)
	case socketio.Reserved(req.Event):
		return herald.Errorf(herald.EINVALID, "event %q is reserved by Socket.IO.", req.Event)
	}
	data := strings.TrimSpace(string(req.Data))
	if data == "null" {
		req.Data, data = nil, ""
	}
	if data != "" && (data[0] != '{' || !utf8.ValidString(data)) {
		return herald.Errorf(herald.EINVALID, "data must be a JSON object.")
	}
	if err := checkID("tenantId", req.TenantID, false); err != nil {
		return err
	}
	targets := 0
	for _, set := range []bool{req.UserID != nil, req.UserIDs != nil, req.Room != nil, req.Broadcast} {
		if set {
			targets++
		}
	}
	if targets != 1 {
		return herald.Errorf(herald.EINVALID, "Give exactly one target: userId, userIds, room or broadcast: true.")
	}
	if req.Room != nil {
		return checkID("room", *req.Room, true)
	}
	if req.Broadcast {
		return nil
	}
	users, err := targetUsers(req.UserID, req.UserIDs)
	if err != nil {
		return err
	}
	for _, u := range users {
		if err := checkID("userId", u, true); err != nil {
			return err
		}
	}
	return nil
}

// checkID applies the rules of herald ids to a request field: valid UTF-8,
// at most herald.MaxIDBytes, and not blank when required.
func checkID(name, v string, required bool) error {
	switch {
	case required && strings.TrimSpace(v) == "":
		return herald.Errorf(herald.EINVALID, "%s is required.", name)
	case len(v) > herald.MaxIDBytes:
		return herald.Errorf(herald.EINVALID, "%s must be at most %d bytes.", name, herald.MaxIDBytes)
	case !utf8.ValidString(v):
		return herald.Errorf(herald.EINVALID, "%s must be valid UTF-8.", name)
	}
	return nil
}

// presence serves GET /v1/users/{userId}/presence?tenantId=: whether the
// user has sockets on this node, and how many.
func (a *api) presence(w http.ResponseWriter, r *http.Request) {
	user, tenant := r.PathValue("userId"), r.URL.Query().Get("tenantId")
	if err := checkID("userId", user, true); err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := checkID("tenantId", tenant, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	online, n, err := a.gw.UserPresence(r.Context(), tenant, user)
	if err != nil {
		a.writeError(w, r, unavailable(err))
		return
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		UserID  string `json:"userId"`
		Online  bool   `json:"online"`
		Sockets int    `json:"sockets"`
	}{user, online, n})
}

// MaxPresenceQuery bounds the userIds of POST /v1/presence/query.
const MaxPresenceQuery = 1000

// presenceQuery serves POST /v1/presence/query {tenantId?, userIds}: which
// of those users of the tenant have sockets on this node, {online: [...]},
// in the order asked. More than MaxPresenceQuery ids is 400.
func (a *api) presenceQuery(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TenantID string   `json:"tenantId"`
		UserIDs  []string `json:"userIds"`
	}
	if err := a.decodeBody(w, r, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	if len(req.UserIDs) > MaxPresenceQuery {
		a.writeError(w, r, herald.Errorf(herald.EINVALID, "userIds holds at most %d ids.", MaxPresenceQuery))
		return
	}
	if err := checkID("tenantId", req.TenantID, false); err != nil {
		a.writeError(w, r, err)
		return
	}
	ids, err := gateway.CheckUserIDs(req.UserIDs)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	online, err := a.gw.QueryOnline(r.Context(), req.TenantID, ids)
	if err != nil {
		a.writeError(w, r, unavailable(err))
		return
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		Online []string `json:"online"`
	}{online})
}

// stats serves GET /v1/stats: connected users and sockets of every node
// (cluster mode), and the live nodes.
func (a *api) stats(w http.ResponseWriter, r *http.Request) {
	st, err := a.gw.Stats(r.Context())
	if err != nil {
		a.writeError(w, r, unavailable(err))
		return
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		ConnectedUsers int `json:"connectedUsers"`
		Sockets        int `json:"sockets"`
		Nodes          int `json:"nodes"`
	}{st.Users, st.Sockets, st.Nodes})
}

// nodes serves GET /v1/nodes: the live nodes with their counts, {nodes}.
func (a *api) nodes(w http.ResponseWriter, r *http.Request) {
	nodes, err := a.gw.Nodes(r.Context())
	if err != nil {
		a.writeError(w, r, unavailable(err))
		return
	}
	a.writeJSON(w, r, http.StatusOK, struct {
		Nodes []gateway.NodeInfo `json:"nodes"`
	}{nodes})
}

// unavailable is the error of a cluster read that failed (Redis down).
func unavailable(err error) error {
	return herald.Errorf(herald.EUNAVAILABLE, "The cluster cannot be read: %v", err)
}
