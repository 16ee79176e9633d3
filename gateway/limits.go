package gateway

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"herald"
	"herald/auth"
	"herald/ratelimit"
	"herald/socketio"
)

// CodeLimit is the connect_error data.code of a connection refused by the
// sockets-per-user limit.
const CodeLimit = "limit"

// The names of the limits, as LimitObserver.Limited reports them (the
// handshake and API limits are enforced over HTTP, by their callers).
const (
	LimitSockets    = "sockets_per_user"
	LimitEvents     = "events_per_socket"
	LimitHandshakes = "handshakes_per_address"
	LimitAPI        = "api_per_key"
)

// Limits bound what one user or socket may do. Every zero value means
// the default given; a negative value turns the limit off.
type Limits struct {
	// SocketsPerUser bounds a user's sockets on this node. One more is
	// refused with connect_error data.code "limit"; none already
	// connected is dropped. Handshakes of one user racing each other may
	// pass it by as many as are in flight at once. Zero means 50.
	SocketsPerUser int
	// EventsPerSecond bounds the client events of one socket (a token
	// bucket of that rate and burst). An event over it is answered
	// {success: false, error: {code: "rate_limited"}} and not handled; a
	// socket that keeps sending more than twice as fast for about a
	// second gets an error event with that code and is disconnected ("io
	// server disconnect": the client does not reconnect). Every client event
	// counts, whether herald handles its name or not. Zero means 20.
	EventsPerSecond float64
}

// LimitObserver is told about refusals, for metrics. An Observer that
// implements it gets these calls too. Its methods must be cheap and safe
// for concurrent use.
type LimitObserver interface {
	// Limited counts something refused by the named limit (Limit*).
	Limited(limit string)
	// FloodDisconnected counts a socket disconnected for flooding events.
	FloodDisconnected()
	// HandshakeRefused counts a refused connection by its data.code
	// (auth.Code*, CodeLimit).
	HandshakeRefused(code string)
}

// limiter holds the limits' state shared by all sockets.
type limiter struct {
	sockets int
	events  ratelimit.Limit
	obs     LimitObserver // nil means none
	log     *slog.Logger
	logs    ratelimit.Sampler // of refused handshakes
}

func newLimiter(l Limits, obs Observer, log *slog.Logger) *limiter {
	def := func(v, d float64) float64 {
		if v == 0 {
			return d
		}
		return v
	}
	if l.SocketsPerUser == 0 {
		l.SocketsPerUser = 50
	}
	lim := &limiter{
		sockets: l.SocketsPerUser,
		events:  ratelimit.PerSecond(def(l.EventsPerSecond, 20)),
		log:     log,
		logs:    ratelimit.Sampler{Limit: ratelimit.Limit{Rate: 10, Burst: 20}},
	}
	lim.obs, _ = obs.(LimitObserver)
	return lim
}

func (l *limiter) limited(name string) {
	if l.obs != nil {
		l.obs.Limited(name)
	}
}

func limitError(msg string) *socketio.ConnectError {
	return &socketio.ConnectError{Message: msg, Data: map[string]string{"code": CodeLimit}}
}

// admit is the namespace's one middleware: the token (authenticate),
// then the user's socket limit. Every refusal is counted and logged at
// warn, sampled.
func (g *Gateway) admit(s *socketio.Socket) error {
	err := g.admitSocket(s)
	if err != nil {
		g.lim.refused(s, err, g.cfg.Now())
	}
	return err
}

func (g *Gateway) admitSocket(s *socketio.Socket) error {
	if err := g.authenticate(s); err != nil {
		return err
	}
	if id := connOf(s).identity; g.lim.sockets > 0 && g.UserSocketCount(id.TenantID, id.UserID) >= g.lim.sockets {
		g.lim.limited(LimitSockets)
		return limitError("Too many connections for this user.")
	}
	return nil
}

// causedRefusal is a connect error that keeps its cause for the log;
// errors.As finds both.
type causedRefusal struct {
	ce    *socketio.ConnectError
	cause error
}

func (r *causedRefusal) Error() string   { return r.ce.Error() }
func (r *causedRefusal) Unwrap() []error { return []error{r.ce, r.cause} }

// withCause returns ce, which the client sees, carrying cause for the log.
func withCause(ce *socketio.ConnectError, cause error) error {
	return &causedRefusal{ce, cause}
}

// refused counts and logs a refused connection: its reason, code, source
// and, for a token, the verifier's cause.
func (l *limiter) refused(s *socketio.Socket, err error, now time.Time) {
	code := auth.CodeInvalid
	var ce *socketio.ConnectError
	if errors.As(err, &ce) {
		if d, ok := ce.Data.(map[string]string); ok && d["code"] != "" {
			code = d["code"]
		}
	}
	if l.obs != nil {
		l.obs.HandshakeRefused(code)
	}
	ok, suppressed := l.logs.Allow(now)
	if !ok {
		return
	}
	attrs := []any{"reason", err.Error(), "code", code, "remote", s.RemoteAddr(), "transport", s.Transport()}
	var ae *auth.Error
	if errors.As(err, &ae) && ae.Err != nil {
		attrs = append(attrs, "cause", ae.Err.Error())
	}
	if suppressed > 0 {
		attrs = append(attrs, "suppressed", suppressed)
	}
	l.log.Warn("handshake refused", attrs...)
}

// eventBudget is a socket's event limit: the events it may send, and its
// patience, which every refused event draws on and which refills at the
// same rate; when patience runs out the socket is disconnected.
type eventBudget struct {
	mu       sync.Mutex
	bucket   ratelimit.Bucket
	patience ratelimit.Bucket
}

// take decides the fate of one event: handle it, refuse it, or
// disconnect the socket.
func (b *eventBudget) take(l ratelimit.Limit, now time.Time) (ok, flooding bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok, _ := b.bucket.Take(l, now); ok {
		return true, false
	}
	ok, _ = b.patience.Take(l, now)
	return false, !ok
}

// limitEvents is the namespace's EventFilter: every client event, known
// or not, takes a token from its socket's budget, so that a flood of
// made-up event names costs the flooder what a flood of real ones does.
// An event within budget goes on to its handler (one without a handler is
// dropped unanswered, as before); one over it is answered rate_limited
// and dropped; a socket that keeps flooding is disconnected.
func (g *Gateway) limitEvents(s *socketio.Socket, e *socketio.Event) bool {
	c := connOf(s)
	if c == nil || g.lim.events.Off() {
		return true
	}
	ok, flooding := c.events.take(g.lim.events, g.cfg.Now())
	if ok {
		return true
	}
	g.lim.limited(LimitEvents)
	err := herald.Errorf(herald.ERATELIMITED, "Too many events; slow down.")
	e.Ack(failure(err))
	if flooding {
		if g.lim.obs != nil {
			g.lim.obs.FloodDisconnected()
		}
		g.log.Warn("socket disconnected for flooding", "user", c.identity.UserID, "tenant", c.identity.TenantID, "remote", s.RemoteAddr())
		g.sendNow(s, EventError, errorEvent{Message: "Too many events", Code: herald.ERATELIMITED})
		// The socket only, not the transport: closing a connection
		// the client is still writing to resets it, and the client
		// would see "transport close" and reconnect instead of "io
		// server disconnect". The official client closes the
		// transport itself; further events on it find no socket.
		s.Disconnect(false)
	}
	return false
}
