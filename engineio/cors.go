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

// apply writes the CORS headers for r and reports whether its origin is allowed.
func (c CORS) apply(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if len(c.Origins) == 0 || origin == "" {
		return true
	}
	if !slices.Contains(c.Origins, "*") && !slices.Contains(c.Origins, origin) {
		return false
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
