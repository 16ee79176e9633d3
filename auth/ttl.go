package auth

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// ttlUnits are the units of the "ms" notation that JWT_EXPIRES_IN uses in
// Node apps ("7d", "12h", "2 days"); a year is 365.25 days, as there.
var ttlUnits = map[string]time.Duration{
	"ms": time.Millisecond, "msec": time.Millisecond, "msecs": time.Millisecond,
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hrs": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
	"w": 7 * 24 * time.Hour, "week": 7 * 24 * time.Hour, "weeks": 7 * 24 * time.Hour,
	"y": 8766 * time.Hour, "yr": 8766 * time.Hour, "yrs": 8766 * time.Hour,
	"year": 8766 * time.Hour, "years": 8766 * time.Hour,
}

// ParseTTL parses a token lifetime such as JWT_EXPIRES_IN. It accepts Go
// durations ("90m", "1h30m"), a number with one unit as in Node's "ms"
// package ("7d", "2 days", "1.5h", "1y"; units ms, s, m, h, d, w, y and their
// long names, case-insensitive), and a bare number, which counts seconds
// (like a numeric expiresIn in jsonwebtoken). A leading minus is allowed.
func ParseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	// Split into number and unit.
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("auth: invalid duration %q", s)
	}
	scale := time.Second
	if unit != "" {
		var ok bool
		if scale, ok = ttlUnits[unit]; !ok {
			return 0, fmt.Errorf("auth: invalid duration %q: unknown unit %q", s, unit)
		}
	}
	d := n * float64(scale)
	if d >= math.MaxInt64 || d < math.MinInt64 {
		return 0, fmt.Errorf("auth: duration %q is out of range", s)
	}
	return time.Duration(d), nil
}
