package metrics

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"time"
)

// UnmatchedRoute is the route label of requests that no pattern matched.
const UnmatchedRoute = "unmatched"

// Middleware counts the requests that next serves, by route and status
// class, and times them by route. The route is the Request.Pattern set by
// the http.ServeMux that served the request (inside next, on the same
// *http.Request), so its values are the registered patterns; a request no
// mux matched is UnmatchedRoute. A handler that writes nothing counts as
// 200. The ResponseWriter given to next still supports Flush and Hijack
// when the server's does (websocket upgrades, long polling).
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = UnmatchedRoute
		}
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(route, statusClass(code)).Inc()
		m.requestSeconds.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// statusClass returns "1xx" to "5xx"; codes outside 100-599 are "other".
func statusClass(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

// statusWriter remembers the first status written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 { // 1xx are informational, a final status follows
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher; it does nothing if the server's writer
// cannot flush.
func (w *statusWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// Hijack implements http.Hijacker for websocket upgrades. A hijacked
// connection counts as 101 unless the handler wrote a status.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil && w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}
