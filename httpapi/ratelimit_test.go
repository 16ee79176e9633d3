package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"

	"herald"
	"herald/httpapi"
)

// Each credential has its own budget: the API key, and each user of the
// /v1/me routes. Over it: 429 rate_limited with Retry-After.
func TestRateLimitPerCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *httpapi.Config) { c.BackendRequestsPerSecond, c.UserRequestsPerSecond = 3, 3 })
	for range 3 {
		wantStatus(t, e.backend("GET", "/v1/stats", ""), http.StatusOK)
	}
	w := e.backend("GET", "/v1/stats", "")
	wantError(t, w, http.StatusTooManyRequests, herald.ERATELIMITED)
	if s, err := strconv.Atoi(w.Header().Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q, want a whole number of seconds >= 1", w.Header().Get("Retry-After"))
	}
	// Users are not held back by the backend's budget, nor by each other.
	alice, bob := herald.Identity{UserID: "alice"}, herald.Identity{UserID: "bob"}
	for range 3 {
		wantStatus(t, e.as(alice, "GET", "/v1/me/unread-count"), http.StatusOK)
	}
	wantError(t, e.as(alice, "GET", "/v1/me/unread-count"), http.StatusTooManyRequests, herald.ERATELIMITED)
	wantStatus(t, e.as(bob, "GET", "/v1/me/unread-count"), http.StatusOK)
	// A bad credential is refused as such, without spending anyone's budget.
	wantError(t, e.do("GET", "/v1/stats", "Bearer wrong", ""), http.StatusUnauthorized, herald.EUNAUTHORIZED)
}

func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(c *httpapi.Config) { c.BackendRequestsPerSecond, c.UserRequestsPerSecond = -1, -1 })
	for range 50 {
		wantStatus(t, e.backend("GET", "/v1/stats", ""), http.StatusOK)
	}
}
