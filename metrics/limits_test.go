package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"herald/auth"
	"herald/gateway"
	"herald/metrics"
)

func TestLimitMetricsHaveBoundedLabels(t *testing.T) {
	m, reg := newMetrics(t, metrics.Sources{})
	m.Limited(gateway.LimitEvents)
	m.Limited(gateway.LimitEvents)
	m.Limited(gateway.LimitAPI)
	m.HandshakeRefused(auth.CodeExpired)
	m.HandshakeRefused(metrics.CodeOrigin)
	m.FloodDisconnected()
	for i := range 100 {
		m.Limited("made-up-" + string(rune('a'+i%26)))
		m.HandshakeRefused("made-up-" + string(rune('a'+i%26)))
	}
	for _, c := range []struct {
		name, label string
		want        float64
	}{
		{"herald_limited_total", gateway.LimitEvents, 2},
		{"herald_limited_total", gateway.LimitAPI, 1},
		{"herald_limited_total", gateway.LimitSockets, 0},
		{"herald_limited_total", metrics.OtherEvent, 100},
		{"herald_handshakes_refused_total", auth.CodeExpired, 1},
		{"herald_handshakes_refused_total", metrics.CodeOrigin, 1},
		{"herald_handshakes_refused_total", metrics.OtherEvent, 100},
	} {
		if got := value(t, reg, c.name, c.label); got != c.want {
			t.Errorf("%s{%q}: got %v, want %v", c.name, c.label, got, c.want)
		}
	}
	wantMetrics(t, reg, `
# HELP herald_flood_disconnects_total Sockets disconnected because they kept sending events over their rate limit.
# TYPE herald_flood_disconnects_total counter
herald_flood_disconnects_total 1
`, "herald_flood_disconnects_total")
	for name, want := range map[string]int{"herald_limited_total": 5, "herald_handshakes_refused_total": 6} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != want {
			t.Errorf("%s: %d series (%v), want %d: the label sets are closed", name, n, err, want)
		}
	}
}
