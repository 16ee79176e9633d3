package gateway

import (
	"testing"
	"time"

	"herald/ratelimit"
)

// A socket a little over its rate is only throttled; one far over it
// runs out of patience within about a second.
func TestEventBudget(t *testing.T) {
	t.Parallel()
	l := ratelimit.PerSecond(10)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	run := func(perSecond int, seconds int) (handled, refused int, floodedAt time.Duration) {
		var b eventBudget
		step := time.Second / time.Duration(perSecond)
		for i := 0; i < perSecond*seconds; i++ {
			at := time.Duration(i) * step
			ok, flooding := b.take(l, t0.Add(at))
			switch {
			case flooding:
				return handled, refused, at
			case ok:
				handled++
			default:
				refused++
			}
		}
		return handled, refused, -1
	}
	if h, r, f := run(12, 10); f >= 0 || r == 0 || h < 100 {
		t.Errorf("12/s against 10/s: handled %d, refused %d, flooded at %v; want throttled, never disconnected", h, r, f)
	}
	if _, _, f := run(100, 10); f < 0 || f > 2*time.Second {
		t.Errorf("100/s against 10/s: flooded at %v, want within 2s", f)
	}
}
