package httpapi

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"herald"
)

// userCORSPrefix is the path prefix of the routes that browsers call with
// the user's JWT; only they answer cross-origin requests. The backend
// routes hold an API key that never belongs in a page.
const userCORSPrefix = "/v1/me/"

// CORS wraps the API so that the user routes (/v1/me/...) answer browsers
// the way the socket transport does (engineio.CORS): an Origin in origins
// ("*" allows any) gets it back in Access-Control-Allow-Origin with
// credentials allowed, a preflight may ask for Authorization and
// Content-Type with GET, POST and DELETE, and any other Origin is refused
// with 403 forbidden (a preflight gets no CORS headers at all, so the
// browser refuses the call). Requests without an Origin header (servers,
// curl) and other paths pass through unchanged. Like the socket transport,
// a page on herald's own origin needs that origin in the list too, and
// empty origins mean no CORS at all: no headers, no origin checked (so
// browsers allow same-origin pages only).
func CORS(origins []string, next http.Handler) http.Handler {
	errs := &api{log: slog.Default()} // for writeError, which needs nothing else
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || len(origins) == 0 || !strings.HasPrefix(r.URL.Path, userCORSPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Add("Vary", "Origin")
		if !slices.Contains(origins, "*") && !slices.Contains(origins, origin) {
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusForbidden)
				return
			}
			errs.writeError(w, r, herald.Errorf(herald.EFORBIDDEN, "Origin %s is not allowed (CORS_ORIGIN).", origin))
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
