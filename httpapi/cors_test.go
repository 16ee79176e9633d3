package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"herald"
	"herald/httpapi"
)

func TestCORSUserRoutes(t *testing.T) {
	e := newEnv(t)
	h := httpapi.CORS([]string{"http://app.test", "http://other.test"}, e.handler)
	tok := token(t, herald.Identity{UserID: "u1"}, time.Hour)
	send := func(method, path, origin string, hdr map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	preflight := map[string]string{"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}

	t.Run("preflight of an allowed origin", func(t *testing.T) {
		w := send("OPTIONS", "/v1/me/unread-count", "http://app.test", preflight)
		if w.Code != http.StatusNoContent {
			t.Fatalf("status %d, want 204: %s", w.Code, w.Body)
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":      "http://app.test",
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Headers":     "Authorization, Content-Type",
		}
		for k, v := range want {
			if got := w.Header().Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if m := w.Header().Get("Access-Control-Allow-Methods"); !strings.Contains(m, "DELETE") || !strings.Contains(m, "POST") {
			t.Errorf("Access-Control-Allow-Methods = %q", m)
		}
	})
	t.Run("request of an allowed origin", func(t *testing.T) {
		w := send("GET", "/v1/me/unread-count", "http://other.test", map[string]string{"Authorization": "Bearer " + tok})
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "http://other.test" || w.Header().Get("Access-Control-Allow-Credentials") != "true" {
			t.Fatalf("status %d, headers %v", w.Code, w.Header())
		}
	})
	t.Run("another origin is refused", func(t *testing.T) {
		w := send("OPTIONS", "/v1/me/unread-count", "http://evil.test", preflight)
		if w.Code != http.StatusForbidden || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("preflight: status %d, headers %v", w.Code, w.Header())
		}
		before, _ := e.store.UnreadCount(t.Context(), "", "u1")
		w = send("POST", "/v1/me/notifications/read-all", "http://evil.test", map[string]string{"Authorization": "Bearer " + tok})
		if w.Code != http.StatusForbidden || w.Header().Get("Access-Control-Allow-Origin") != "" || !strings.Contains(w.Body.String(), `"forbidden"`) {
			t.Fatalf("request: status %d, headers %v, body %s", w.Code, w.Header(), w.Body)
		}
		after, _ := e.store.UnreadCount(t.Context(), "", "u1")
		if before != after {
			t.Fatalf("unread count changed from %d to %d", before, after)
		}
	})
	t.Run("backend routes and requests without Origin are untouched", func(t *testing.T) {
		w := send("GET", "/v1/stats", "http://app.test", map[string]string{"Authorization": "Bearer " + apiKey})
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("backend route: status %d, headers %v", w.Code, w.Header())
		}
		w = send("GET", "/v1/me/unread-count", "", map[string]string{"Authorization": "Bearer " + tok})
		if w.Code != 200 || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Fatalf("no Origin: status %d, headers %v", w.Code, w.Header())
		}
	})
}
