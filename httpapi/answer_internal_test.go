package httpapi

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"herald"
)

// TestWriteNotificationsMatchesWriteJSON checks that the create answer
// written by hand is the answer writeJSON gives: status, headers, bytes.
func TestWriteNotificationsMatchesWriteJSON(t *testing.T) {
	a := &api{log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	ok := []herald.Notification{
		{ID: "1", UserID: "u<1>", Seq: 1, Type: "t", Title: "é", Status: herald.StatusUnread, CreatedAt: at},
		{ID: "2", UserID: "u2", Seq: 9, Type: "t", Title: "x", Data: json.RawMessage(`{"a": 1}`), CreatedAt: at, GroupKey: "g"},
	}
	bad := []herald.Notification{{ID: "3", Data: json.RawMessage(`{"a":`)}}
	for _, ns := range [][]herald.Notification{ok, ok[:1], nil, bad} {
		r := httptest.NewRequest(http.MethodPost, "/v1/notifications", nil)
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		a.writeJSON(want, r, http.StatusCreated, struct {
			Notifications []herald.Notification `json:"notifications"`
		}{ns})
		a.writeNotifications(got, r, http.StatusCreated, ns)
		if got.Code != want.Code || got.Body.String() != want.Body.String() {
			t.Errorf("got %d %s\nwant %d %s", got.Code, got.Body, want.Code, want.Body)
		}
		for _, h := range []string{"Content-Type", "Cache-Control", "X-Content-Type-Options"} {
			if got.Header().Get(h) != want.Header().Get(h) || got.Header().Get(h) == "" {
				t.Errorf("%s: got %q, want %q", h, got.Header().Get(h), want.Header().Get(h))
			}
		}
	}
}
