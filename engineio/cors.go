package engineio

import (
	"net/http"
	"slices"
)

// CORS is the cross-origin policy for browser clients. Requests without an
// Origin header (non-browser clients) are always allowed.
type CORS struct {
	// Origins that may connect; "*" allows any. Empty means no CORS headers
	// are sent and no origin is checked.
	Origins []string
	// Credentials allows cookies and auth headers cross-origin.
	Credentials bool
}

// Allows reports whether a request with the given Origin header ("" for
// none) may connect; the server answers the others 403.
func (c CORS) Allows(origin string) bool {
	return len(c.Origins) == 0 || origin == "" || slices.Contains(c.Origins, "*") || slices.Contains(c.Origins, origin)
}

// apply writes the CORS headers for r and reports whether its origin is allowed.
func (c CORS) apply(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if !c.Allows(origin) {
		return false
	}
	if len(c.Origins) == 0 || origin == "" {
		return true
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	if c.Credentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	if r.Method == http.MethodOptions {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		}
		h.Set("Access-Control-Max-Age", "86400")
	}
	return true
}
