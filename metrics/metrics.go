// Package metrics exposes herald's Prometheus metrics. Everything is
// registered on a Registerer given by the caller; nothing is global. Label
// values come from closed sets (known event names, route patterns, status
// classes), so the number of series is bounded whatever clients send.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"herald/gateway"
)

// OtherEvent is the event label of every event name outside the contract.
const OtherEvent = "other"

// knownEvents are the event names of the contract, both directions, as
// the gateway lists them; each is its own label value, anything else counts
// as OtherEvent.
var knownEvents = append(gateway.ServerEvents(), gateway.Requests()...)

// Sources are read when Prometheus scrapes, so that the numbers come from
// their owners instead of being copied. A nil field leaves its metric out.
// Each function must be safe for concurrent use.
type Sources struct {
	Sockets       func() int    // herald_sockets: Socket.IO sockets connected to this node
	Users         func() int    // herald_users: distinct users connected to this node
	Connections   func() int    // herald_connections: Engine.IO sessions open on this node
	Opened        func() uint64 // herald_connections_opened_total: Engine.IO sessions ever opened
	SlowConsumers func() uint64 // herald_slow_consumers_total: sessions closed for a full write queue
}

// Metrics records herald's traffic. It implements gateway.Observer; its
// methods are safe for concurrent use and do not allocate.
type Metrics struct {
	eventsIn, eventsOut map[string]prometheus.Counter // by event label; read-only after New
	emit                prometheus.Histogram
	requests            *prometheus.CounterVec
	requestSeconds      *prometheus.HistogramVec
	limits              limitMetrics
}

var _ gateway.Observer = (*Metrics)(nil)

// New registers herald's metrics on reg and returns the recorder. It fails
// if a metric is already registered there.
func New(reg prometheus.Registerer, src Sources) (*Metrics, error) {
	in := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_events_in_total",
		Help: "Socket.IO events received from clients, by event name (" + OtherEvent + " for names outside the contract).",
	}, []string{"event"})
	out := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_events_out_total",
		Help: "Socket.IO events emitted, once per emit (not per receiver), by event name (" + OtherEvent + " for names outside the contract).",
	}, []string{"event"})
	m := &Metrics{
		eventsIn:  make(map[string]prometheus.Counter, len(knownEvents)+1),
		eventsOut: make(map[string]prometheus.Counter, len(knownEvents)+1),
		emit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "herald_emit_duration_seconds",
			Help:    "Time for an API emit to reach every local socket's write queue.",
			Buckets: prometheus.ExponentialBuckets(10e-6, 4, 9), // 10µs to 655ms
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "herald_http_requests_total",
			Help: "HTTP requests, by route pattern (unmatched when none) and status class (2xx, 4xx, ...).",
		}, []string{"route", "status"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "herald_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	for _, name := range knownEvents {
		m.eventsIn[name] = in.WithLabelValues(name)
		m.eventsOut[name] = out.WithLabelValues(name)
	}
	m.eventsIn[OtherEvent] = in.WithLabelValues(OtherEvent)
	m.eventsOut[OtherEvent] = out.WithLabelValues(OtherEvent)
	collectors := []prometheus.Collector{in, out, m.emit, m.requests, m.requestSeconds}
	var limitCollectors []prometheus.Collector
	m.limits, limitCollectors = newLimitMetrics()
	collectors = append(collectors, limitCollectors...)
	gauge := func(name, help string, f func() int) {
		if f != nil {
			collectors = append(collectors, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
				func() float64 { return float64(f()) }))
		}
	}
	counter := func(name, help string, f func() uint64) {
		if f != nil {
			collectors = append(collectors, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
				func() float64 { return float64(f()) }))
		}
	}
	gauge("herald_sockets", "Socket.IO sockets connected to this node.", src.Sockets)
	gauge("herald_users", "Distinct users with a socket on this node.", src.Users)
	gauge("herald_connections", "Engine.IO sessions open on this node.", src.Connections)
	counter("herald_connections_opened_total", "Engine.IO sessions opened on this node.", src.Opened)
	counter("herald_slow_consumers_total", "Sessions closed because their write queue overflowed.", src.SlowConsumers)
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// EventIn counts an event received from a client.
func (m *Metrics) EventIn(name string) { count(m.eventsIn, name) }

// EventOut counts an event emitted.
func (m *Metrics) EventOut(name string) { count(m.eventsOut, name) }

func count(counters map[string]prometheus.Counter, name string) {
	c, ok := counters[name]
	if !ok {
		c = counters[OtherEvent]
	}
	c.Inc()
}

// Emitted records the duration of an API emit.
func (m *Metrics) Emitted(d time.Duration) { m.emit.Observe(d.Seconds()) }

// Handler serves the metrics of g in the Prometheus exposition formats, for
// /metrics.
func Handler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{})
}
