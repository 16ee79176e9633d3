// Package httpapi is herald's HTTP API (DESIGN §5): routes for trusted
// backend services, authenticated with the API key, and routes for end
// users, authenticated with their own JWT. Every answer with a body is JSON;
// every error is {"error": {"code", "message"}} with a status chosen from the
// code in one place (status).
package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"

	"herald"
	"herald/auth"
	"herald/gateway"
)

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is
// zero, the same as Socket.IO's default maxHttpBufferSize.
const DefaultMaxBodyBytes = 1 << 20

// Config configures the API. Every zero value means the default given.
type Config struct {
	// Gateway stores and delivers notifications. Required.
	Gateway *gateway.Gateway
	// Verifier checks the JWTs of the /v1/me routes. Required.
	Verifier *auth.Verifier
	// APIKey is the bearer token of the backend routes. Empty disables
	// them: they answer 401 with a message saying that no key is set. They
	// are never open.
	APIKey string
	// MaxBodyBytes bounds request bodies; larger ones are 413 too_large.
	// Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Logger receives internal errors; nil means slog.Default().
	Logger *slog.Logger
	// BackendRequestsPerSecond bounds the requests made with the API key,
	// as a token bucket of that rate and burst; over it the answer is 429
	// rate_limited with Retry-After. Zero or negative means no limit: the
	// backend is the operator's own, and a refused create is a
	// notification its caller may drop.
	BackendRequestsPerSecond float64
	// UserRequestsPerSecond bounds each user's requests on the /v1/me
	// routes the same way. Zero means DefaultUserRequestsPerSecond;
	// negative, none.
	UserRequestsPerSecond float64
	// LimitObserver counts the requests refused by the rate; nil means none.
	LimitObserver gateway.LimitObserver
}

// api serves the routes of one Config.
type api struct {
	gw                    *gateway.Gateway
	verifier              *auth.Verifier
	keyHash               [sha256.Size]byte // of Config.APIKey; compared in constant time
	keySet                bool
	maxBody               int64
	log                   *slog.Logger
	mux                   *http.ServeMux
	backendRate, userRate *rateLimiter
}

// New returns the API handler. It panics if Gateway or Verifier is nil.
// Routes are registered on a Go 1.22 ServeMux, so the request's Pattern
// names the route (metrics use it); unknown paths are 404 not_found and
// known paths with another method 405, both as JSON errors.
func New(cfg Config) http.Handler {
	if cfg.Gateway == nil || cfg.Verifier == nil {
		panic("httpapi: Config.Gateway and Config.Verifier are required")
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &api{
		gw:          cfg.Gateway,
		verifier:    cfg.Verifier,
		keyHash:     sha256.Sum256([]byte(cfg.APIKey)),
		keySet:      cfg.APIKey != "",
		maxBody:     cfg.MaxBodyBytes,
		log:         cfg.Logger,
		mux:         http.NewServeMux(),
		backendRate: newRateLimiter(cfg.BackendRequestsPerSecond, cfg.LimitObserver),
		userRate:    newRateLimiter(userRate(cfg.UserRequestsPerSecond), cfg.LimitObserver),
	}

	for _, rt := range a.routes() {
		a.mux.HandleFunc(rt.pattern, rt.handler)
	}
	return a
}

// route is one entry of the API's route table.
type route struct {
	pattern string // a Go 1.22 ServeMux pattern: "METHOD /path/{param}"
	handler http.HandlerFunc
}

// routes is the one table of the API's routes: New registers exactly these,
// and Routes lists them (TestOpenAPIDocumentsEveryRoute checks that
// openapi.json documents each).
func (a *api) routes() []route {
	return append([]route{
		{"POST /v1/notifications", a.backend(a.createNotifications)},
		{"DELETE /v1/notifications/{id}", a.backend(a.deleteNotification)},
		{"POST /v1/emit", a.backend(a.emit)},
		{"GET /v1/users/{userId}/presence", a.backend(a.presence)},
		{"POST /v1/presence/query", a.backend(a.presenceQuery)},
		{"GET /v1/stats", a.backend(a.stats)},
		{"GET /v1/nodes", a.backend(a.nodes)},

		{"GET /v1/me/notifications", a.user(a.listMine)},
		{"GET /v1/me/unread-count", a.user(a.unreadCount)},
		{"POST /v1/me/notifications/{id}/read", a.user(a.markRead)},
		{"POST /v1/me/notifications/read-all", a.user(a.markAllRead)},
		{"DELETE /v1/me/notifications/{id}", a.user(a.deleteMine)},
	}, a.feedRoutes()...)
}

// Routes returns the ServeMux patterns ("METHOD /path/{param}") of every
// route that New serves, in registration order.
func Routes() []string {
	var out []string
	for _, rt := range (&api{}).routes() {
		out = append(out, rt.pattern)
	}
	return out
}

// ServeHTTP routes the request, turning the mux's plain-text 404 and 405
// answers into JSON errors.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, pattern := a.mux.Handler(r); pattern == "" {
		// Only the mux's own not-found and method-not-allowed handlers
		// have no pattern; they read nothing, so run one into a recorder.
		rec := &statusRecorder{header: w.Header()}
		h.ServeHTTP(rec, r)
		if rec.code == http.StatusMethodNotAllowed {
			a.writeError(w, r, herald.Errorf(codeMethodNotAllowed, "Method %s is not allowed here.", r.Method))
			return
		}
		a.writeError(w, r, herald.Errorf(herald.ENOTFOUND, "No such route."))
		return
	}
	a.mux.ServeHTTP(w, r)
}

// statusRecorder keeps the status and headers (Allow) that a handler sets
// and drops its body.
type statusRecorder struct {
	header http.Header
	code   int
}

func (s *statusRecorder) Header() http.Header         { return s.header }
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusRecorder) WriteHeader(code int)        { s.code = code }

// backend wraps a handler of the backend routes with the API key check.
func (a *api) backend(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !a.keySet {
			a.writeError(w, r, herald.Errorf(herald.EUNAUTHORIZED, "The backend API is disabled: no API key is configured (HERALD_API_KEY)."))
			return
		}
		key := auth.BearerToken(r.Header.Get("Authorization"))
		if key == "" {
			a.writeError(w, r, herald.Errorf(herald.EUNAUTHORIZED, "An API key is required: Authorization: Bearer <key>."))
			return
		}
		h := sha256.Sum256([]byte(key))
		if subtle.ConstantTimeCompare(h[:], a.keyHash[:]) != 1 {
			a.writeError(w, r, herald.Errorf(herald.EUNAUTHORIZED, "Invalid API key."))
			return
		}
		if !a.allow(w, r, a.backendRate, backendKey) {
			return
		}
		next(w, r)
	}
}

// userHandler is a handler of the /v1/me routes, called with the caller's
// verified identity.
type userHandler func(w http.ResponseWriter, r *http.Request, id herald.Identity)

// user wraps a handler of the user routes with JWT verification. Failures
// are 401 with the auth codes token_missing, token_invalid, token_expired.
func (a *api) user(next userHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token := auth.BearerToken(r.Header.Get("Authorization"))
		if token == "" {
			a.writeError(w, r, herald.Errorf(auth.CodeMissing, "Authentication token required: Authorization: Bearer <jwt>."))
			return
		}
		id, _, err := a.verifier.Verify(token)
		if err != nil {
			msg := "Invalid token."
			if e := (*auth.Error)(nil); errors.As(err, &e) && e.Message != "" {
				msg = e.Message
			}
			a.writeError(w, r, herald.Errorf(auth.Code(err), "%s", msg))
			return
		}
		if !a.allow(w, r, a.userRate, userRateKey(id)) {
			return
		}
		next(w, r, id)
	}
}
