package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"herald"
	"herald/gateway"
)

func (e *env) asWith(id herald.Identity, method, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.do(method, path, "Bearer "+token(e.t, id, time.Hour), body)
}

func TestFeedOperations(t *testing.T) {
	e := newEnv(t)
	me := herald.Identity{UserID: "u1", TenantID: "acme"}
	other := herald.Identity{UserID: "u2", TenantID: "acme"}
	a, b, c := e.create("acme", "u1", "a"), e.create("acme", "u1", "b"), e.create("acme", "u1", "c")
	theirs := e.create("acme", "u2", "theirs")

	counts := func(id herald.Identity, want string) {
		t.Helper()
		w := e.as(id, "GET", "/v1/me/unread-count")
		wantStatus(t, w, http.StatusOK)
		if got := strings.TrimSpace(w.Body.String()); got != want {
			t.Fatalf("unread-count: got %s, want %s", got, want)
		}
	}

	// Mark many read: only the caller's unread ones change.
	body := fmt.Sprintf(`{"notificationIds":[%q,%q,%q,"nope"]}`, c.ID, a.ID, theirs.ID)
	w := e.asWith(me, "POST", "/v1/me/notifications/read", body)
	wantStatus(t, w, http.StatusOK)
	if got, want := strings.TrimSpace(w.Body.String()), fmt.Sprintf(`{"updated":2,"notificationIds":[%q,%q]}`, c.ID, a.ID); got != want {
		t.Fatalf("read many: got %s, want %s", got, want)
	}
	if !e.events.has(gateway.EventNotificationRead) {
		t.Error("notification:read was not emitted")
	}
	counts(me, `{"unreadCount":1,"unseenCount":3}`)
	counts(other, `{"unreadCount":1,"unseenCount":1}`)
	wantError(t, e.asWith(me, "POST", "/v1/me/notifications/read", `{"notificationIds":[]}`), http.StatusBadRequest, herald.EINVALID)
	wantError(t, e.asWith(me, "POST", "/v1/me/notifications/read", `{"ids":[]}`), http.StatusBadRequest, herald.EINVALID)

	// Seen, apart from read.
	w = e.asWith(me, "POST", "/v1/me/notifications/seen", fmt.Sprintf(`{"notificationIds":[%q]}`, b.ID))
	wantStatus(t, w, http.StatusOK)
	if got := strings.TrimSpace(w.Body.String()); got != `{"updated":1}` {
		t.Fatalf("seen: got %s", got)
	}
	if !e.events.has(gateway.EventNotificationSeen) {
		t.Error("notification:seen was not emitted")
	}
	counts(me, `{"unreadCount":1,"unseenCount":2}`)
	if n, err := e.get("acme", "u1", b.ID); err != nil || n.SeenAt == nil || n.Status != herald.StatusUnread {
		t.Fatalf("seen notification: got %+v, %v; want seenAt set, unread", n, err)
	}
	w = e.asWith(me, "POST", "/v1/me/notifications/seen", `{"all":true}`)
	wantStatus(t, w, http.StatusOK)
	if got := strings.TrimSpace(w.Body.String()); got != `{"updated":2}` {
		t.Fatalf("seen all: got %s", got)
	}
	counts(me, `{"unreadCount":1,"unseenCount":0}`)
	wantError(t, e.asWith(me, "POST", "/v1/me/notifications/seen", `{}`), http.StatusBadRequest, herald.EINVALID)
	wantError(t, e.asWith(me, "POST", "/v1/me/notifications/seen", fmt.Sprintf(`{"all":true,"notificationIds":[%q]}`, a.ID)), http.StatusBadRequest, herald.EINVALID)

	// Delete all: the caller's only.
	w = e.as(me, "DELETE", "/v1/me/notifications")
	wantStatus(t, w, http.StatusOK)
	if got := strings.TrimSpace(w.Body.String()); got != `{"deleted":3}` {
		t.Fatalf("delete all: got %s", got)
	}
	if !e.events.has(gateway.EventAllDeleted) {
		t.Error("notification:all_deleted was not emitted")
	}
	if got := e.stored("acme", "u1"); len(got) != 0 {
		t.Fatalf("after delete all: %d left", len(got))
	}
	if got := e.stored("acme", "u2"); len(got) != 1 {
		t.Fatalf("other user after delete all: %d left, want 1", len(got))
	}
	counts(me, `{"unreadCount":0,"unseenCount":0}`)
}
