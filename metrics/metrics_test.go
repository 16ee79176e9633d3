package metrics_test

import (
	"bufio"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"herald/gateway"
	"herald/metrics"
)

func newMetrics(t *testing.T, src metrics.Sources) (*metrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, src)
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func wantMetrics(t *testing.T, reg *prometheus.Registry, want string, names ...string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
}

func TestEventsHaveBoundedLabels(t *testing.T) {
	m, reg := newMetrics(t, metrics.Sources{})
	m.EventIn(gateway.RequestMarkRead)
	m.EventIn(gateway.RequestMarkRead)
	m.EventIn("made-up")
	m.EventOut(gateway.EventNotificationNew)
	for i := range 1000 { // backend event names do not become label values
		m.EventOut("custom:" + string(rune('a'+i%26)) + strings.Repeat("x", i%7))
	}
	if got, want := value(t, reg, "herald_events_in_total", gateway.RequestMarkRead), 2.0; got != want {
		t.Fatalf("mark_read in: got %v, want %v", got, want)
	}
	if got := value(t, reg, "herald_events_in_total", metrics.OtherEvent); got != 1 {
		t.Fatalf("other in: got %v, want 1", got)
	}
	if got := value(t, reg, "herald_events_out_total", metrics.OtherEvent); got != 1000 {
		t.Fatalf("other out: got %v, want 1000", got)
	}
	if got := value(t, reg, "herald_events_out_total", gateway.EventNotificationNew); got != 1 {
		t.Fatalf("notification:new out: got %v, want 1", got)
	}
	n, err := testutil.GatherAndCount(reg, "herald_events_out_total")
	if err != nil {
		t.Fatal(err)
	}
	// Every distinct contract name (unread_count goes both ways) + other.
	names := map[string]bool{}
	for _, e := range append(gateway.ServerEvents(), gateway.Requests()...) {
		names[e] = true
	}
	if want := len(names) + 1; n != want {
		t.Fatalf("events_out series: got %d, want %d", n, want)
	}
	m.EventOut(gateway.EventReplayTruncated)
	if got := value(t, reg, "herald_events_out_total", gateway.EventReplayTruncated); got != 1 {
		t.Fatalf("%s out: got %v, want 1 (not %s)", gateway.EventReplayTruncated, got, metrics.OtherEvent)
	}
}

// value returns the value of the counter name{event="event"} in reg.
func value(t *testing.T, reg *prometheus.Registry, name, event string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, s := range f.GetMetric() {
			if f.GetName() == name && s.GetLabel()[0].GetValue() == event {
				return s.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{event=%q}", name, event)
	return 0
}

func TestEmitted(t *testing.T) {
	m, reg := newMetrics(t, metrics.Sources{})
	m.Emitted(50 * time.Microsecond)
	m.Emitted(time.Second)
	n, err := testutil.GatherAndCount(reg, "herald_emit_duration_seconds")
	if err != nil || n != 1 {
		t.Fatalf("histogram series: got %d, %v; want 1", n, err)
	}
	families, _ := reg.Gather()
	for _, f := range families {
		if f.GetName() == "herald_emit_duration_seconds" {
			h := f.GetMetric()[0].GetHistogram()
			if h.GetSampleCount() != 2 || h.GetSampleSum() < 1 {
				t.Fatalf("histogram: got count %d sum %v, want 2 and >= 1", h.GetSampleCount(), h.GetSampleSum())
			}
		}
	}
}

func TestSourcesAreReadAtScrape(t *testing.T) {
	sockets, slow := 3, uint64(0)
	_, reg := newMetrics(t, metrics.Sources{
		Sockets:       func() int { return sockets },
		Users:         func() int { return 2 },
		Connections:   func() int { return 4 },
		Opened:        func() uint64 { return 9 },
		SlowConsumers: func() uint64 { return slow },
	})
	sockets, slow = 5, 7
	wantMetrics(t, reg, `
# HELP herald_sockets Socket.IO sockets connected to this node.
# TYPE herald_sockets gauge
herald_sockets 5
# HELP herald_users Distinct users with a socket on this node.
# TYPE herald_users gauge
herald_users 2
# HELP herald_connections Engine.IO sessions open on this node.
# TYPE herald_connections gauge
herald_connections 4
# HELP herald_connections_opened_total Engine.IO sessions opened on this node.
# TYPE herald_connections_opened_total counter
herald_connections_opened_total 9
# HELP herald_slow_consumers_total Sessions closed because their write queue overflowed.
# TYPE herald_slow_consumers_total counter
herald_slow_consumers_total 7
`, "herald_sockets", "herald_users", "herald_connections", "herald_connections_opened_total", "herald_slow_consumers_total")
}

func TestNilSourcesAreLeftOut(t *testing.T) {
	_, reg := newMetrics(t, metrics.Sources{Sockets: func() int { return 1 }})
	for name, want := range map[string]int{"herald_sockets": 1, "herald_users": 0, "herald_slow_consumers_total": 0} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Errorf("%s: got %d series, %v; want %d", name, n, err, want)
		}
	}
}

func TestNewFailsOnDuplicateRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := metrics.New(reg, metrics.Sources{}); err != nil {
		t.Fatal(err)
	}
	if _, err := metrics.New(reg, metrics.Sources{}); err == nil {
		t.Fatal("second New on one registry: got nil error, want an error")
	}
}

func TestMiddleware(t *testing.T) {
	m, reg := newMetrics(t, metrics.Sources{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/users/{userId}/presence", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("{}")) })
	mux.HandleFunc("POST /v1/emit", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadRequest) })
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) {}) // writes nothing: 200
	h := m.Middleware(mux)
	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/users/a/presence"}, {"GET", "/v1/users/b/presence"}, {"POST", "/v1/emit"},
		{"GET", "/v1/stats"}, {"GET", "/nowhere"}, {"GET", "/nowhere/else"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	wantMetrics(t, reg, `
# HELP herald_http_requests_total HTTP requests, by route pattern (unmatched when none) and status class (2xx, 4xx, ...).
# TYPE herald_http_requests_total counter
herald_http_requests_total{route="GET /v1/stats",status="2xx"} 1
herald_http_requests_total{route="GET /v1/users/{userId}/presence",status="2xx"} 2
herald_http_requests_total{route="POST /v1/emit",status="4xx"} 1
herald_http_requests_total{route="unmatched",status="4xx"} 2
`, "herald_http_requests_total")
	if n, err := testutil.GatherAndCount(reg, "herald_http_request_duration_seconds"); err != nil || n != 4 {
		t.Fatalf("duration series: got %d, %v; want 4", n, err)
	}
}

// TestMiddlewareKeepsHijack checks that websocket upgrades still work
// behind the middleware, and count as 101.
func TestMiddlewareKeepsHijack(t *testing.T) {
	m, reg := newMetrics(t, metrics.Sources{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		rw.Flush()
	})
	srv := httptest.NewServer(m.Middleware(mux))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n"))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 101") {
		t.Fatalf("got %q, %v; want a 101", line, err)
	}
	checkFor(t, time.Second, func() bool {
		n, _ := testutil.GatherAndCount(reg, "herald_http_requests_total")
		return n == 1
	})
	wantMetrics(t, reg, `
# HELP herald_http_requests_total HTTP requests, by route pattern (unmatched when none) and status class (2xx, 4xx, ...).
# TYPE herald_http_requests_total counter
herald_http_requests_total{route="GET /ws",status="1xx"} 1
`, "herald_http_requests_total")
}

// checkFor polls cond until it holds or total passes.
func checkFor(t *testing.T, total time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(total); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
	}
}

func TestHandler(t *testing.T) {
	m, reg := newMetrics(t, metrics.Sources{})
	m.EventOut(gateway.EventNotificationNew)
	w := httptest.NewRecorder()
	metrics.Handler(reg).ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `herald_events_out_total{event="notification:new"} 1`) {
		t.Fatalf("got %d %s", w.Code, w.Body)
	}
}

func TestConcurrentUse(t *testing.T) {
	m, reg := newMetrics(t, metrics.Sources{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				m.EventIn(gateway.RequestList)
				m.EventOut("x")
				m.Emitted(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if got := value(t, reg, "herald_events_out_total", metrics.OtherEvent); got != 8000 {
		t.Fatalf("other out: got %v, want 8000", got)
	}
}
