package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"herald"
	"herald/auth"
	"herald/gateway"
	"herald/httpapi"
	"herald/internal/sockettest"
	"herald/socketio"
	"herald/sqlite"
)

const apiKey = "test-api-key"

var secret = []byte("test-jwt-secret")

// env is an API on a real SQLite store and a real gateway.
type env struct {
	t       testing.TB
	handler http.Handler
	store   *sqlite.DB
	events  *eventLog
	logs    *bytes.Buffer
	io      *socketio.Server
}

// eventLog is a gateway.Observer that remembers the events emitted.
type eventLog struct {
	mu  sync.Mutex
	out []string
}

func (l *eventLog) EventIn(string)        {}
func (l *eventLog) Emitted(time.Duration) {}
func (l *eventLog) EventOut(name string) {
	l.mu.Lock()
	l.out = append(l.out, name)
	l.mu.Unlock()
}

func (l *eventLog) has(name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.out {
		if n == name {
			return true
		}
	}
	return false
}

// newEnv starts an API; edit changes its Config before New.
func newEnv(t testing.TB, edit ...func(*httpapi.Config)) *env {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := newEnvOn(t, store, edit...)
	e.store = store
	return e
}

// newEnvOn starts an API on store; edit changes its Config before New.
func newEnvOn(t testing.TB, store herald.Store, edit ...func(*httpapi.Config)) *env {
	t.Helper()
	verifier, err := auth.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	io := socketio.NewServer(socketio.Options{})
	t.Cleanup(io.Close)
	events := &eventLog{}
	gw := gateway.New(io, gateway.Config{Store: store, Verifier: verifier, Observer: events})
	t.Cleanup(gw.Close)
	logs := &bytes.Buffer{}
	cfg := httpapi.Config{
		Gateway:  gw,
		Verifier: verifier,
		APIKey:   apiKey,
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
	}
	for _, f := range edit {
		f(&cfg)
	}
	return &env{t: t, handler: httpapi.New(cfg), events: events, logs: logs, io: io}
}

// do sends a request; authz is the whole Authorization header ("" for none).
func (e *env) do(method, path, authz, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, r)
	return w
}

func (e *env) backend(method, path, body string) *httptest.ResponseRecorder {
	return e.do(method, path, "Bearer "+apiKey, body)
}

func (e *env) as(id herald.Identity, method, path string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(method, path, "Bearer "+token(e.t, id, time.Hour), "")
}

func token(t testing.TB, id herald.Identity, ttl time.Duration) string {
	t.Helper()
	tok, err := auth.Mint(secret, id, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// create stores one notification through the API and returns it.
func (e *env) create(tenant, user, title string) herald.Notification {
	e.t.Helper()
	body := fmt.Sprintf(`{"tenantId":%q,"userId":%q,"type":"info","title":%q,"message":"m"}`, tenant, user, title)
	w := e.backend("POST", "/v1/notifications", body)
	wantStatus(e.t, w, http.StatusCreated)
	var got struct{ Notifications []herald.Notification }
	decode(e.t, w, &got)
	if len(got.Notifications) != 1 {
		e.t.Fatalf("got %d notifications, want 1", len(got.Notifications))
	}
	return got.Notifications[0]
}

// stored returns every visible notification of the user, straight from the store.
func (e *env) stored(tenant, user string) []herald.Notification {
	e.t.Helper()
	ns, err := e.store.Since(context.Background(), tenant, user, 0, herald.MaxReplayLimit)
	if err != nil {
		e.t.Fatal(err)
	}
	return ns
}

func (e *env) get(tenant, user, id string) (herald.Notification, error) {
	return e.store.Get(context.Background(), tenant, user, id)
}

func wantStatus(t testing.TB, w *httptest.ResponseRecorder, status int) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status: got %d, want %d; body %s", w.Code, status, w.Body)
	}
	if w.Body.Len() > 0 && w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("Content-Type: got %q, want application/json", w.Header().Get("Content-Type"))
	}
}

// wantError checks a JSON error answer.
func wantError(t testing.TB, w *httptest.ResponseRecorder, status int, code string) {
	t.Helper()
	wantStatus(t, w, status)
	var got struct {
		Error struct{ Code, Message string }
	}
	decode(t, w, &got)
	if got.Error.Code != code || got.Error.Message == "" {
		t.Fatalf("error: got %+v, want code %q and a message", got.Error, code)
	}
}

func decode(t testing.TB, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
}

func TestCreateNotificationShape(t *testing.T) {
	e := newEnv(t)
	w := e.backend("POST", "/v1/notifications", `{"userId":"u1","tenantId":"acme","type":"order.shipped",
		"title":"Shipped","message":"Your order left","data":{"orderId":7},"groupKey":"orders",
		"expiresAt":"2999-01-02T03:04:05Z"}`)
	wantStatus(t, w, http.StatusCreated)
	var got struct {
		Notifications []map[string]any `json:"notifications"`
	}
	decode(t, w, &got)
	if len(got.Notifications) != 1 {
		t.Fatalf("got %d notifications, want 1", len(got.Notifications))
	}
	n := got.Notifications[0]
	want := map[string]any{
		"userId": "u1", "tenantId": "acme", "seq": 1.0, "type": "order.shipped", "title": "Shipped",
		"message": "Your order left", "status": "unread", "readAt": nil, "groupKey": "orders",
		"expiresAt": "2999-01-02T03:04:05.000Z", "data": map[string]any{"orderId": 7.0},
	}
	for k, v := range want {
		if fmt.Sprint(n[k]) != fmt.Sprint(v) {
			t.Errorf("%s: got %v, want %v", k, n[k], v)
		}
	}
	id, _ := n["id"].(string)
	if id == "" || n["createdAt"] == nil {
		t.Fatalf("got id %v createdAt %v, want both set", n["id"], n["createdAt"])
	}
	if _, err := e.get("acme", "u1", id); err != nil {
		t.Fatalf("stored: %v", err)
	}
	if !e.events.has(gateway.EventNotificationNew) {
		t.Fatal("notification:new was not emitted")
	}
}

func TestCreateNotificationsForManyUsers(t *testing.T) {
	e := newEnv(t)
	w := e.backend("POST", "/v1/notifications", `{"userIds":["a","b","c"],"type":"t","title":"T","message":"m"}`)
	wantStatus(t, w, http.StatusCreated)
	var got struct{ Notifications []herald.Notification }
	decode(t, w, &got)
	for i, user := range []string{"a", "b", "c"} {
		if got.Notifications[i].UserID != user {
			t.Errorf("notification %d: got user %q, want %q", i, got.Notifications[i].UserID, user)
		}
		if n := len(e.stored("", user)); n != 1 {
			t.Errorf("user %s: got %d stored, want 1", user, n)
		}
	}
}

func TestCreateIdempotencyKey(t *testing.T) {
	e := newEnv(t)
	body := `{"userId":"u1","type":"t","title":"T","message":"m","idempotencyKey":"k1"}`
	var ids []string
	for range 2 {
		w := e.backend("POST", "/v1/notifications", body)
		wantStatus(t, w, http.StatusCreated)
		var got struct{ Notifications []herald.Notification }
		decode(t, w, &got)
		ids = append(ids, got.Notifications[0].ID)
	}
	if ids[0] != ids[1] {
		t.Fatalf("ids: got %v, want the same id twice", ids)
	}
	if n := len(e.stored("", "u1")); n != 1 {
		t.Fatalf("stored: got %d, want 1", n)
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.MaxBodyBytes = 4 << 10 })
	many := make([]string, herald.MaxCreateBatch+1)
	for i := range many {
		many[i] = fmt.Sprint("u", i)
	}
	manyJSON, _ := json.Marshal(many)
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"empty body", ``, 400, herald.EINVALID},
		{"malformed", `{"userId":"u1",`, 400, herald.EINVALID},
		{"not an object", `["u1"]`, 400, herald.EINVALID},
		{"trailing data", `{"userId":"u1","type":"t","title":"T"} {}`, 400, herald.EINVALID},
		{"unknown field", `{"userId":"u1","type":"t","title":"T","priority":1}`, 400, herald.EINVALID},
		{"wrong type", `{"userId":"u1","type":"t","title":5}`, 400, herald.EINVALID},
		{"missing type", `{"userId":"u1","title":"T"}`, 400, herald.EINVALID},
		{"missing title", `{"userId":"u1","type":"t"}`, 400, herald.EINVALID},
		{"blank userId", `{"userId":" ","type":"t","title":"T"}`, 400, herald.EINVALID},
		{"no user", `{"type":"t","title":"T"}`, 400, herald.EINVALID},
		{"both userId and userIds", `{"userId":"u1","userIds":["u2"],"type":"t","title":"T"}`, 400, herald.EINVALID},
		{"empty userIds", `{"userIds":[],"type":"t","title":"T"}`, 400, herald.EINVALID},
		{"repeated userIds", `{"userIds":["u1","u1"],"type":"t","title":"T"}`, 400, herald.EINVALID},
		{"one bad id of many", `{"userIds":["u1","u2",""],"type":"t","title":"T"}`, 400, herald.EINVALID},
		{"bad expiresAt", `{"userId":"u1","type":"t","title":"T","expiresAt":"tomorrow"}`, 400, herald.EINVALID},
		{"long title", `{"userId":"u1","type":"t","title":"` + strings.Repeat("x", herald.MaxTitleBytes+1) + `"}`, 400, herald.EINVALID},
		{"oversized body", `{"userId":"u1","type":"t","title":"T","message":"` + strings.Repeat("x", 5<<10) + `"}`, 413, herald.ETOOLARGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.backend("POST", "/v1/notifications", tt.body), tt.status, tt.code)
		})
	}
	t.Run("too many userIds", func(t *testing.T) {
		big := newEnv(t) // default 1 MiB limit holds 1001 ids
		w := big.backend("POST", "/v1/notifications", `{"userIds":`+string(manyJSON)+`,"type":"t","title":"T"}`)
		wantError(t, w, 400, herald.EINVALID)
		if n := len(big.stored("", "u0")); n != 0 {
			t.Fatalf("stored: got %d, want 0", n)
		}
	})
	for _, user := range []string{"u1", "u2"} {
		if n := len(e.stored("", user)); n != 0 {
			t.Fatalf("user %s: got %d stored, want 0", user, n)
		}
	}
}

func TestBackendAuth(t *testing.T) {
	e := newEnv(t)
	body := `{"userId":"u1","type":"t","title":"T"}`
	for _, authz := range []string{"", "Bearer", "Bearer wrong", "Bearer " + apiKey + "x", "Basic " + apiKey, apiKey} {
		w := e.do("POST", "/v1/notifications", authz, body)
		wantError(t, w, http.StatusUnauthorized, herald.EUNAUTHORIZED)
		if w.Header().Get("WWW-Authenticate") == "" {
			t.Errorf("%q: no WWW-Authenticate header", authz)
		}
	}
	for _, route := range []struct{ method, path string }{
		{"DELETE", "/v1/notifications/x"}, {"POST", "/v1/emit"}, {"GET", "/v1/users/u1/presence"}, {"GET", "/v1/stats"},
	} {
		wantError(t, e.do(route.method, route.path, "Bearer nope", `{}`), http.StatusUnauthorized, herald.EUNAUTHORIZED)
	}
	if n := len(e.stored("", "u1")); n != 0 {
		t.Fatalf("stored: got %d, want 0", n)
	}
	if w := e.do("POST", "/v1/notifications", "bearer "+apiKey, body); w.Code != http.StatusCreated {
		t.Fatalf("lower-case scheme: got %d, want 201", w.Code)
	}
}

func TestBackendClosedWithoutKey(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.APIKey = "" })
	for _, authz := range []string{"", "Bearer ", "Bearer x"} {
		w := e.do("POST", "/v1/notifications", authz, `{"userId":"u1","type":"t","title":"T"}`)
		wantError(t, w, http.StatusUnauthorized, herald.EUNAUTHORIZED)
		if !strings.Contains(w.Body.String(), "no API key") {
			t.Fatalf("message: got %s, want it to say that no API key is configured", w.Body)
		}
	}
	if n := len(e.stored("", "u1")); n != 0 {
		t.Fatalf("stored: got %d, want 0", n)
	}
}

func TestDeleteByID(t *testing.T) {
	e := newEnv(t)
	n := e.create("acme", "u1", "T")
	w := e.backend("DELETE", "/v1/notifications/"+n.ID, "")
	wantStatus(t, w, http.StatusNoContent)
	if w.Body.Len() != 0 {
		t.Fatalf("body: got %q, want none", w.Body)
	}
	if _, err := e.get("acme", "u1", n.ID); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Fatalf("after delete: got %v, want not_found", err)
	}
	if !e.events.has(gateway.EventNotificationDeleted) {
		t.Fatal("notification:deleted was not emitted")
	}
	wantError(t, e.backend("DELETE", "/v1/notifications/"+n.ID, ""), 404, herald.ENOTFOUND)
	wantError(t, e.backend("DELETE", "/v1/notifications/nope", ""), 404, herald.ENOTFOUND)
}

func TestEmit(t *testing.T) {
	for _, body := range []string{
		`{"event":"e.user","data":{"a":1},"userId":"u1"}`,
		`{"event":"e.users","data":{"a":1},"userIds":["u1","u2"],"tenantId":"acme"}`,
		`{"event":"e.room","data":{},"room":"user:u1"}`,
		`{"event":"e.broadcast","broadcast":true}`,
		`{"event":"e.null","data":null,"userId":"u1"}`,
	} {
		e := newEnv(t)
		w := e.backend("POST", "/v1/emit", body)
		wantStatus(t, w, http.StatusAccepted)
		var req struct{ Event string }
		json.Unmarshal([]byte(body), &req)
		if !e.events.has(req.Event) {
			t.Errorf("%s: event was not emitted", body)
		}
	}
}

func TestEmitRejectsBadInput(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config) { c.MaxBodyBytes = 1 << 10 })
	tests := []struct {
		name, body string
		status     int
		code       string
	}{
		{"malformed", `{"event":`, 400, herald.EINVALID},
		{"unknown field", `{"event":"e","userId":"u1","volume":11}`, 400, herald.EINVALID},
		{"no event", `{"userId":"u1"}`, 400, herald.EINVALID},
		{"long event", `{"event":"` + strings.Repeat("e", httpapi.MaxEventBytes+1) + `","userId":"u1"}`, 400, herald.EINVALID},
		{"connect", `{"event":"connect","userId":"u1"}`, 400, herald.EINVALID},
		{"disconnect", `{"event":"disconnect","userId":"u1"}`, 400, herald.EINVALID},
		{"connect_error", `{"event":"connect_error","userId":"u1"}`, 400, herald.EINVALID},
		{"newListener", `{"event":"newListener","userId":"u1"}`, 400, herald.EINVALID},
		{"no target", `{"event":"e"}`, 400, herald.EINVALID},
		{"broadcast false", `{"event":"e","broadcast":false}`, 400, herald.EINVALID},
		{"two targets", `{"event":"e","userId":"u1","room":"r"}`, 400, herald.EINVALID},
		{"empty userIds", `{"event":"e","userIds":[]}`, 400, herald.EINVALID},
		{"blank userId", `{"event":"e","userId":""}`, 400, herald.EINVALID},
		{"blank room", `{"event":"e","room":""}`, 400, herald.EINVALID},
		{"data array", `{"event":"e","userId":"u1","data":[1]}`, 400, herald.EINVALID},
		{"data string", `{"event":"e","userId":"u1","data":"x"}`, 400, herald.EINVALID},
		{"data number", `{"event":"e","userId":"u1","data":1}`, 400, herald.EINVALID},
		{"oversized body", `{"event":"e","userId":"u1","data":{"x":"` + strings.Repeat("x", 2<<10) + `"}}`, 413, herald.ETOOLARGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, e.backend("POST", "/v1/emit", tt.body), tt.status, tt.code)
		})
	}
	if e.events.has("e") || e.events.has("connect") {
		t.Fatal("a rejected emit reached the gateway")
	}
}

func TestPresenceAndStats(t *testing.T) {
	e := newEnv(t)
	w := e.backend("GET", "/v1/users/u1/presence?tenantId=acme", "")
	wantStatus(t, w, http.StatusOK)
	if got, want := strings.TrimSpace(w.Body.String()), `{"userId":"u1","online":false,"sockets":0}`; got != want {
		t.Fatalf("presence: got %s, want %s", got, want)
	}
	w = e.backend("GET", "/v1/stats", "")
	wantStatus(t, w, http.StatusOK)
	if got, want := strings.TrimSpace(w.Body.String()), `{"connectedUsers":0,"sockets":0,"nodes":1}`; got != want {
		t.Fatalf("stats: got %s, want %s", got, want)
	}
	long := strings.Repeat("u", herald.MaxIDBytes+1)
	wantError(t, e.backend("GET", "/v1/users/"+long+"/presence", ""), 400, herald.EINVALID)
	wantError(t, e.backend("GET", "/v1/users/%FF/presence", ""), 400, herald.EINVALID)
}

// socketURL serves the env's Socket.IO server on a loopback port.
func (e *env) socketURL() string {
	srv := httptest.NewServer(e.io)
	e.t.Cleanup(srv.Close)
	return srv.URL
}

// connect opens a socket of id and waits until the gateway greeted it.
func (e *env) connect(url string, id herald.Identity) *sockettest.Client {
	e.t.Helper()
	c := sockettest.Dial(e.t, url, map[string]string{"token": token(e.t, id, time.Hour)})
	if _, err := c.WaitEvent(gateway.EventAuthenticated, 1, 10*time.Second); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func TestPresenceQuery(t *testing.T) {
	e := newEnv(t)
	url := e.socketURL()
	e.connect(url, herald.Identity{UserID: "u1", TenantID: "acme"})
	e.connect(url, herald.Identity{UserID: "u3", TenantID: "acme"})
	e.connect(url, herald.Identity{UserID: "u2", TenantID: "other"})
	query := func(body string) string {
		t.Helper()
		w := e.backend("POST", "/v1/presence/query", body)
		wantStatus(t, w, http.StatusOK)
		return strings.TrimSpace(w.Body.String())
	}
	if got, want := query(`{"tenantId":"acme","userIds":["u3","u2","u1","u1","nobody"]}`), `{"online":["u3","u1"]}`; got != want {
		t.Fatalf("query acme: got %s, want %s", got, want)
	}
	if got, want := query(`{"userIds":["u1","u2","u3"]}`), `{"online":[]}`; got != want {
		t.Fatalf("query default tenant: got %s, want %s (same ids, other tenants)", got, want)
	}
	if got, want := query(`{"tenantId":"other","userIds":["u1","u2"]}`), `{"online":["u2"]}`; got != want {
		t.Fatalf("query other: got %s, want %s", got, want)
	}
	ids := make([]string, httpapi.MaxPresenceQuery)
	for i := range ids {
		ids[i] = fmt.Sprintf("%q", fmt.Sprint("u", i))
	}
	if got, want := query(`{"tenantId":"acme","userIds":[`+strings.Join(ids, ",")+`]}`), `{"online":["u1","u3"]}`; got != want {
		t.Fatalf("query of %d ids: got %s, want %s", len(ids), got, want)
	}
	ids = append(ids, `"one-more"`)
	for _, bad := range []string{
		`{"tenantId":"acme","userIds":[` + strings.Join(ids, ",") + `]}`,
		`{"tenantId":"acme"}`,
		`{"userIds":[]}`,
		`{"userIds":[""]}`,
		`{"userIds":["` + strings.Repeat("u", herald.MaxIDBytes+1) + `"]}`,
		`{"userIds":"u1"}`,
		`{"userIds":["u1"],"extra":1}`,
	} {
		wantError(t, e.backend("POST", "/v1/presence/query", bad), 400, herald.EINVALID)
	}
	wantError(t, e.do("POST", "/v1/presence/query", "", `{"userIds":["u1"]}`), 401, herald.EUNAUTHORIZED)
}

func TestUserAuth(t *testing.T) {
	e := newEnv(t)
	id := herald.Identity{UserID: "u1"}
	other, _ := auth.Mint([]byte("another secret"), id, time.Hour)
	cases := []struct{ authz, code string }{
		{"", auth.CodeMissing},
		{"Bearer ", auth.CodeMissing},
		{"Bearer not.a.jwt", auth.CodeInvalid},
		{"Bearer " + other, auth.CodeInvalid},
		{"Bearer " + token(t, id, -time.Minute), auth.CodeExpired},
	}
	routes := []struct{ method, path string }{
		{"GET", "/v1/me/notifications"}, {"GET", "/v1/me/unread-count"}, {"POST", "/v1/me/notifications/x/read"},
		{"POST", "/v1/me/notifications/read-all"}, {"DELETE", "/v1/me/notifications/x"},
	}
	for _, c := range cases {
		for _, r := range routes {
			wantError(t, e.do(r.method, r.path, c.authz, ""), http.StatusUnauthorized, c.code)
		}
	}
	// The API key is not a user token.
	wantError(t, e.do("GET", "/v1/me/unread-count", "Bearer "+apiKey, ""), http.StatusUnauthorized, auth.CodeInvalid)
}

func TestUserFeed(t *testing.T) {
	e := newEnv(t)
	me := herald.Identity{UserID: "u1", TenantID: "acme"}
	first := e.create("acme", "u1", "first")
	second := e.create("acme", "u1", "second")

	w := e.as(me, "GET", "/v1/me/notifications")
	wantStatus(t, w, http.StatusOK)
	var page struct {
		Notifications []herald.Notification `json:"notifications"`
		NextCursor    *string               `json:"nextCursor"`
	}
	decode(t, w, &page)
	if len(page.Notifications) != 2 || page.Notifications[0].ID != second.ID || page.NextCursor == nil {
		t.Fatalf("list: got %s, want both, newest first, with nextCursor", w.Body)
	}

	wantUnread := func(want int) {
		t.Helper()
		w := e.as(me, "GET", "/v1/me/unread-count")
		wantStatus(t, w, http.StatusOK)
		if got := strings.TrimSpace(w.Body.String()); !strings.HasPrefix(got, fmt.Sprintf(`{"unreadCount":%d,"unseenCount":`, want)) {
			t.Fatalf("unread-count: got %s, want %d", got, want)
		}
	}
	wantUnread(2)

	w = e.as(me, "POST", "/v1/me/notifications/"+first.ID+"/read")
	wantStatus(t, w, http.StatusOK)
	if got, want := strings.TrimSpace(w.Body.String()), fmt.Sprintf(`{"notificationId":%q,"success":true}`, first.ID); got != want {
		t.Fatalf("read: got %s, want %s", got, want)
	}
	if n, _ := e.get("acme", "u1", first.ID); n.Status != herald.StatusRead {
		t.Fatalf("status: got %q, want read", n.Status)
	}
	wantUnread(1)
	wantError(t, e.as(me, "POST", "/v1/me/notifications/nope/read"), 404, herald.ENOTFOUND)

	w = e.as(me, "POST", "/v1/me/notifications/read-all")
	wantStatus(t, w, http.StatusOK)
	if got := strings.TrimSpace(w.Body.String()); got != `{"updated":1}` {
		t.Fatalf("read-all: got %s, want {\"updated\":1}", got)
	}
	wantUnread(0)

	wantStatus(t, e.as(me, "DELETE", "/v1/me/notifications/"+second.ID), http.StatusNoContent)
	if _, err := e.get("acme", "u1", second.ID); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Fatalf("after delete: got %v, want not_found", err)
	}
	wantError(t, e.as(me, "DELETE", "/v1/me/notifications/"+second.ID), 404, herald.ENOTFOUND)
}

// TestOtherUsersNotifications checks that nobody reads or changes another
// user's notification, in the same tenant or in another one with the same
// user id: every attempt is 404 and nothing changes.
func TestOtherUsersNotifications(t *testing.T) {
	e := newEnv(t)
	mine := e.create("acme", "alice", "for alice")
	intruders := []herald.Identity{
		{UserID: "bob", TenantID: "acme"},    // another user
		{UserID: "alice", TenantID: "other"}, // same user id, another tenant
		{UserID: "alice"},                    // same user id, default tenant
	}
	for _, who := range intruders {
		wantError(t, e.as(who, "POST", "/v1/me/notifications/"+mine.ID+"/read"), 404, herald.ENOTFOUND)
		wantError(t, e.as(who, "DELETE", "/v1/me/notifications/"+mine.ID), 404, herald.ENOTFOUND)
		wantStatus(t, e.as(who, "POST", "/v1/me/notifications/read-all"), http.StatusOK)
		w := e.as(who, "GET", "/v1/me/notifications")
		if strings.Contains(w.Body.String(), mine.ID) {
			t.Fatalf("%+v sees alice's notification: %s", who, w.Body)
		}
		if w := e.as(who, "GET", "/v1/me/unread-count"); strings.TrimSpace(w.Body.String()) != `{"unreadCount":0,"unseenCount":0}` {
			t.Fatalf("%+v unread-count: got %s, want 0", who, w.Body)
		}
	}
	n, err := e.get("acme", "alice", mine.ID)
	if err != nil || n.Status != herald.StatusUnread {
		t.Fatalf("alice's notification: got %+v, %v; want it unread", n, err)
	}
}

func TestTenantIsolation(t *testing.T) {
	e := newEnv(t)
	a := e.create("a", "u1", "in a")
	b := e.create("b", "u1", "in b")
	for _, c := range []struct {
		tenant       string
		mine, theirs herald.Notification
	}{{"a", a, b}, {"b", b, a}} {
		w := e.as(herald.Identity{UserID: "u1", TenantID: c.tenant}, "GET", "/v1/me/notifications")
		var page herald.Page
		decode(t, w, &page)
		if len(page.Notifications) != 1 || page.Notifications[0].ID != c.mine.ID {
			t.Fatalf("tenant %s: got %s, want only %s", c.tenant, w.Body, c.mine.ID)
		}
	}
	wantError(t, e.as(herald.Identity{UserID: "u1", TenantID: "a"}, "DELETE", "/v1/me/notifications/"+b.ID), 404, herald.ENOTFOUND)
	if _, err := e.get("b", "u1", b.ID); err != nil {
		t.Fatalf("tenant b's notification: %v", err)
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t)
	post := func(title, expires string) {
		body := fmt.Sprintf(`{"userId":"u1","type":"t","title":%q,"expiresAt":%q}`, title, expires)
		wantStatus(t, e.backend("POST", "/v1/notifications", body), http.StatusCreated)
	}
	post("gone", time.Now().Add(-time.Minute).Format(time.RFC3339))
	post("kept", time.Now().Add(time.Hour).Format(time.RFC3339Nano))
	me := herald.Identity{UserID: "u1"}
	var page herald.Page
	decode(t, e.as(me, "GET", "/v1/me/notifications"), &page)
	if len(page.Notifications) != 1 || page.Notifications[0].Title != "kept" {
		t.Fatalf("list: got %+v, want only the unexpired one", page.Notifications)
	}
	if w := e.as(me, "GET", "/v1/me/unread-count"); strings.TrimSpace(w.Body.String()) != `{"unreadCount":1,"unseenCount":1}` {
		t.Fatalf("unread-count: got %s, want 1", w.Body)
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	me := herald.Identity{UserID: "u1"}
	for i := range 7 {
		e.create("", "u1", fmt.Sprint("n", i))
	}
	var seqs []int64
	cursor, pages := "", 0
	for {
		w := e.as(me, "GET", "/v1/me/notifications?limit=3&before="+cursor)
		wantStatus(t, w, http.StatusOK)
		var page herald.Page
		decode(t, w, &page)
		pages++
		for _, n := range page.Notifications {
			seqs = append(seqs, n.Seq)
		}
		if cursor = page.NextCursor; cursor == "" || pages > 10 {
			break
		}
	}
	if fmt.Sprint(seqs) != "[7 6 5 4 3 2 1]" || pages != 3 {
		t.Fatalf("got seqs %v in %d pages, want [7 6 5 4 3 2 1] in 3", seqs, pages)
	}

	wantStatus(t, e.as(me, "POST", "/v1/me/notifications/"+e.stored("", "u1")[0].ID+"/read"), http.StatusOK)
	var unread herald.Page
	decode(t, e.as(me, "GET", "/v1/me/notifications?unread=true&limit=100"), &unread)
	if len(unread.Notifications) != 6 {
		t.Fatalf("unread=true: got %d, want 6", len(unread.Notifications))
	}
	for _, q := range []string{"limit=x", "limit=-1", "limit=0", "unread=maybe", "before=garbage"} {
		wantError(t, e.as(me, "GET", "/v1/me/notifications?"+q), 400, herald.EINVALID)
	}
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	wantError(t, e.backend("GET", "/v1/nothing", ""), 404, herald.ENOTFOUND)
	w := e.backend("GET", "/v1/emit", "")
	wantError(t, w, 405, "method_not_allowed")
	if w.Header().Get("Allow") == "" {
		t.Fatal("405 without an Allow header")
	}
}

func TestInternalErrorsAreLoggedNotShown(t *testing.T) {
	e := newEnv(t)
	e.store.Close()
	w := e.backend("POST", "/v1/notifications", `{"userId":"u1","type":"t","title":"T"}`)
	wantError(t, w, 500, herald.EINTERNAL)
	if !strings.Contains(w.Body.String(), `"Internal error."`) {
		t.Fatalf("body: got %s, want the generic message", w.Body)
	}
	if !strings.Contains(e.logs.String(), "level=ERROR") {
		t.Fatalf("log: got %q, want the error logged", e.logs)
	}
}

// FuzzBackendBodies feeds arbitrary bodies to the two backend routes that
// take one: the answer is never a 5xx and nothing panics.
func FuzzBackendBodies(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"userId":"u1","type":"t","title":"T"}`,
		`{"userIds":["a","b"],"type":"t","title":"T","data":{"k":[1,2]},"expiresAt":"2030-01-01T00:00:00Z"}`,
		`{"userId":"u1","type":"t","title":"T","data":"\ud800"}`, `{"userId":"u1","type":"t","title":"T","expiresAt":"0000-01-01T00:00:00Z"}`,
		`{"event":"e","userId":"u1","data":{"a":1}}`, `{"event":"e","broadcast":true,"data":{"x":"\u0000"}}`,
		`{"event":"e","room":"r","data":{"a":"` + "\xff" + `"}}`, `{"event":"e","room":"r","data":{}} x`,
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/v1/notifications", "/v1/emit"} {
			r := httptest.NewRequest("POST", path, bytes.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+apiKey)
			w := httptest.NewRecorder()
			e.handler.ServeHTTP(w, r)
			if w.Code >= 500 || w.Code < 200 {
				t.Fatalf("POST %s %q: got %d %s", path, body, w.Code, w.Body)
			}
			if w.Code >= 400 && !json.Valid(w.Body.Bytes()) {
				t.Fatalf("POST %s %q: error body is not JSON: %s", path, body, w.Body)
			}
		}
	})
}
