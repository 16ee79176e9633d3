package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"herald"
	"herald/gateway"
	"herald/ratelimit"
)

// DefaultUserRequestsPerSecond is each user's rate on the /v1/me routes
// when Config.UserRequestsPerSecond is zero: far above what an inbox
// needs, far below what one token could cost the server.
const DefaultUserRequestsPerSecond = 50

// maxRateKeys bounds the credentials whose rate is tracked at once.
const maxRateKeys = 65536

// rateLimiter limits the requests of each credential it is given: the API
// key of the backend routes, or each user (tenant and id) of the /v1/me
// routes.
type rateLimiter struct {
	buckets *ratelimit.Keyed // nil when off
	obs     gateway.LimitObserver
	now     func() time.Time
}

// newRateLimiter limits each key to perSecond (burst the same); zero or
// negative means no limit.
func newRateLimiter(perSecond float64, obs gateway.LimitObserver) *rateLimiter {
	rl := &rateLimiter{obs: obs, now: time.Now}
	if perSecond <= 0 {
		return rl
	}
	if l := ratelimit.PerSecond(perSecond); !l.Off() {
		rl.buckets = ratelimit.NewKeyed(l, maxRateKeys)
	}
	return rl
}

// backendKey and userKey are the rate keys of the two kinds of credential.
const backendKey = "backend"

func userRateKey(id herald.Identity) string {
	return "user:" + strconv.Itoa(len(id.TenantID)) + ":" + id.TenantID + ":" + id.UserID
}

// allow takes a token for key; over the limit it answers 429 rate_limited
// with Retry-After (whole seconds, at least 1) and returns false.
func (a *api) allow(w http.ResponseWriter, r *http.Request, rl *rateLimiter, key string) bool {
	if rl.buckets == nil {
		return true
	}
	ok, wait := rl.buckets.Take(key, rl.now())
	if ok {
		return true
	}
	if rl.obs != nil {
		rl.obs.Limited(gateway.LimitAPI)
	}
	w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
	a.writeError(w, r, herald.Errorf(herald.ERATELIMITED, "Too many requests; retry after the Retry-After delay."))
	return false
}

// userRate applies DefaultUserRequestsPerSecond to a zero rate.
func userRate(perSecond float64) float64 {
	if perSecond == 0 {
		return DefaultUserRequestsPerSecond
	}
	return perSecond
}
