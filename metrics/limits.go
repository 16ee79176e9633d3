package metrics

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"herald/auth"
	"herald/gateway"
)

// CodeOrigin is the refusal code of a handshake from a browser origin
// that is not allowed (CORS), which the Engine.IO layer answers 403.
const CodeOrigin = "origin"

// limitNames and refusalCodes are the closed label sets of the limit
// metrics; other values count as OtherEvent ("other").
var (
	limitNames   = []string{gateway.LimitSockets, gateway.LimitEvents, gateway.LimitHandshakes, gateway.LimitAPI}
	refusalCodes = []string{auth.CodeMissing, auth.CodeInvalid, auth.CodeExpired, gateway.CodeLimit, CodeOrigin}
)

// limitMetrics are the counters of refusals by limits and of refused
// handshakes.
type limitMetrics struct {
	limited  map[string]prometheus.Counter // by limit; read-only after New
	refused  map[string]prometheus.Counter // by code; read-only after New
	flooders prometheus.Counter
}

var _ gateway.LimitObserver = (*Metrics)(nil)

// newLimitMetrics makes the counters and returns the collectors to register.
func newLimitMetrics() (limitMetrics, []prometheus.Collector) {
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_limited_total",
		Help: "Requests, events and connections refused by a limit, by limit (" + strings.Join(limitNames, ", ") + ").",
	}, []string{"limit"})
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_handshakes_refused_total",
		Help: "Socket.IO connections refused, by connect_error data.code (or " + CodeOrigin + " for a browser origin not allowed).",
	}, []string{"code"})
	m := limitMetrics{
		limited: make(map[string]prometheus.Counter, len(limitNames)+1),
		refused: make(map[string]prometheus.Counter, len(refusalCodes)+1),
		flooders: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "herald_flood_disconnects_total",
			Help: "Sockets disconnected because they kept sending events over their rate limit.",
		}),
	}
	for _, n := range append(limitNames, OtherEvent) {
		m.limited[n] = limited.WithLabelValues(n)
	}
	for _, c := range append(refusalCodes, OtherEvent) {
		m.refused[c] = refused.WithLabelValues(c)
	}
	return m, []prometheus.Collector{limited, refused, m.flooders}
}

// Limited counts a refusal by the named limit.
func (m *Metrics) Limited(limit string) { count(m.limits.limited, limit) }

// HandshakeRefused counts a refused connection by its code.
func (m *Metrics) HandshakeRefused(code string) { count(m.limits.refused, code) }

// FloodDisconnected counts a socket disconnected for flooding.
func (m *Metrics) FloodDisconnected() { m.limits.flooders.Inc() }
