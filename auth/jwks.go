package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWKSOptions tune the fetching of a JWKS. Every zero value means the
// default given.
type JWKSOptions struct {
	// Client makes the requests. Nil means a plain http.Client; Timeout
	// bounds each fetch whatever the client.
	Client *http.Client
	// Timeout bounds each fetch, from the request to the end of the body.
	// Zero means 5s.
	Timeout time.Duration
	// MaxBytes bounds the body of the key set; a larger one is an error.
	// Zero means 256 KiB.
	MaxBytes int64
	// RefreshInterval is how old the key set may grow before a Verify
	// fetches it again, so that keys removed by the provider stop
	// verifying, when the response does not say: a Cache-Control max-age
	// of the response takes its place, clamped to [MinMaxAge, MaxMaxAge]
	// (no-cache and no-store mean MinMaxAge). Zero means 5m.
	RefreshInterval time.Duration
	// MinMaxAge and MaxMaxAge bound the Cache-Control max-age honoured, so
	// that a provider can neither make herald fetch its keys on every
	// token nor keep a removed key verifying for days. Zero means 1m and
	// 24h.
	MinMaxAge, MaxMaxAge time.Duration
	// MinInterval is the least time between two fetches, whatever the
	// tokens say: a flood of tokens with made-up kids costs at most one
	// fetch per MinInterval. Zero means 10s.
	MinInterval time.Duration
	// Logger receives a warning for each failed fetch after the first
	// (the first fails New); nil means slog.Default().
	Logger *slog.Logger
}

// jwksAlgorithms are the algorithms JWKS keys may verify.
var jwksAlgorithms = []string{jwt.SigningMethodRS256.Alg(), jwt.SigningMethodES256.Alg(), jwt.SigningMethodEdDSA.Alg()}

// maxJWKSKeys bounds the usable keys of one key set, and so the keys a
// token without kid is tried against.
const maxJWKSKeys = 64

// jwks is a JWKS URL's key set, cached. A Verify that needs a fresher set
// (the set is older than RefreshInterval, or has no key with the token's
// kid) fetches it, unless the last fetch began less than MinInterval ago.
// There is one fetch at a time: callers with an unknown kid wait for the
// one under way, callers whose set is only stale go on without it. A
// failed fetch keeps the last good set.
type jwks struct {
	url  string
	opts JWKSOptions
	now  func() time.Time

	mu          sync.Mutex
	keys        []key
	fetchedAt   time.Time     // of the current keys
	ttl         time.Duration // of the current keys: RefreshInterval or the response's max-age
	lastAttempt time.Time     // of the last fetch, good or not
	lastErr     error         // of the last fetch
	inflight    chan struct{} // closed when the running fetch ends; nil if none
}

func newJWKS(url string, opts JWKSOptions, now func() time.Time) (*jwks, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 256 << 10
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 5 * time.Minute
	}
	if opts.MinInterval <= 0 {
		opts.MinInterval = 10 * time.Second
	}
	if opts.MinMaxAge <= 0 {
		opts.MinMaxAge = time.Minute
	}
	if opts.MaxMaxAge <= 0 {
		opts.MaxMaxAge = 24 * time.Hour
	}
	if opts.MaxMaxAge < opts.MinMaxAge {
		opts.MaxMaxAge = opts.MinMaxAge
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Client == nil {
		opts.Client = &http.Client{}
	}
	j := &jwks{url: url, opts: opts, now: now}
	j.refresh(true, true)
	if j.lastErr != nil {
		return nil, fmt.Errorf("auth: JWKS %s: %w", url, j.lastErr)
	}
	return j, nil
}

// lookup returns the public keys of the set for alg with the given kid
// (every key of alg when kid is empty), fetching the set again when it is
// stale or lacks kid, as far as MinInterval allows.
func (j *jwks) lookup(alg, kid string) []jwt.VerificationKey {
	j.mu.Lock()
	stale := j.now().Sub(j.fetchedAt) >= j.ttl
	j.mu.Unlock()
	if stale {
		// Only removals are at stake: when another caller is fetching,
		// go on with the keys at hand rather than wait.
		j.refresh(false, false)
	}
	found := j.match(alg, kid)
	if len(found) == 0 && kid != "" {
		if j.refresh(false, true) {
			found = j.match(alg, kid)
		}
	}
	return found
}

func (j *jwks) match(alg, kid string) []jwt.VerificationKey {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []jwt.VerificationKey
	for _, k := range j.keys {
		if k.alg == alg && (kid == "" || k.kid == kid) {
			out = append(out, k.pub)
		}
	}
	return out
}

// refresh fetches the set, or with wait waits for the fetch under way,
// and reports whether a fetch ended meanwhile. Without force it does
// nothing when the last fetch began less than MinInterval ago.
func (j *jwks) refresh(force, wait bool) bool {
	j.mu.Lock()
	if ch := j.inflight; ch != nil {
		j.mu.Unlock()
		if !wait {
			return false
		}
		<-ch
		return true
	}
	now := j.now()
	if !force && now.Sub(j.lastAttempt) < j.opts.MinInterval {
		j.mu.Unlock()
		return false
	}
	j.lastAttempt = now
	ch := make(chan struct{})
	j.inflight = ch
	j.mu.Unlock()

	keys, ttl, err := j.fetch()

	j.mu.Lock()
	j.lastErr = err
	if err == nil {
		j.keys, j.fetchedAt, j.ttl = keys, now, ttl
	} else if !j.fetchedAt.IsZero() {
		j.opts.Logger.Warn("JWKS fetch failed; keeping the last keys", "url", j.url, "err", err, "keys_age", now.Sub(j.fetchedAt).String())
	}
	j.inflight = nil
	j.mu.Unlock()
	close(ch)
	return true
}

// fetch gets and parses the key set, and tells how long it stays fresh.
func (j *jwks) fetch() ([]key, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), j.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Accept", "application/json, application/jwk-set+json")
	res, err := j.opts.Client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("status %s", res.Status)
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, j.opts.MaxBytes+1))
	if err != nil {
		return nil, 0, err
	}
	if int64(len(body)) > j.opts.MaxBytes {
		return nil, 0, fmt.Errorf("key set larger than %d bytes", j.opts.MaxBytes)
	}
	keys, err := parseJWKS(body)
	return keys, j.freshFor(res.Header.Values("Cache-Control")), err
}

// freshFor is how long a response with these Cache-Control lines stays
// fresh: its max-age clamped to [MinMaxAge, MaxMaxAge], MinMaxAge for
// no-cache or no-store, RefreshInterval when it says nothing of it or
// says it badly (a malformed or repeated max-age).
func (j *jwks) freshFor(cacheControl []string) time.Duration {
	age, ok := maxAge(cacheControl)
	if !ok {
		return j.opts.RefreshInterval
	}
	return min(max(age, j.opts.MinMaxAge), j.opts.MaxMaxAge)
}

// maxAge reads the freshness of Cache-Control lines (RFC 9111 §5.2.2):
// the delta-seconds of max-age, or 0 for no-cache and no-store; false
// when none is given, or max-age is malformed or repeated. Directive
// names are case-insensitive; other directives are skipped; delta-seconds
// too large for a Duration saturate.
func maxAge(lines []string) (time.Duration, bool) {
	var age time.Duration
	seen, none := false, false
	for _, l := range lines {
		for _, d := range strings.Split(l, ",") {
			name, val, hasVal := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-cache", "no-store":
				none = true
			case "max-age":
				val = strings.TrimSpace(val)
				if v, err := strconv.Unquote(val); err == nil && strings.HasPrefix(val, `"`) {
					val = v
				}
				if seen || !hasVal || val == "" || strings.Trim(val, "0123456789") != "" {
					return 0, false
				}
				seen = true
				age = time.Duration(1<<63 - 1)
				if n, err := strconv.ParseInt(val, 10, 64); err == nil && n < int64(age/time.Second) {
					age = time.Duration(n) * time.Second
				}
			}
		}
	}
	if none {
		return 0, true
	}
	return age, seen
}

// jwk is one JSON Web Key (RFC 7517, 7518 §6, 8037) as far as herald
// reads it.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	N   string `json:"n"`
	E   string `json:"e"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

// parseJWKS returns the signature keys of a JWK Set that herald can use:
// RSA (RS256), EC P-256 (ES256) and OKP Ed25519 (EdDSA). Keys for
// encryption, of other types or curves, or whose alg names another
// algorithm are skipped, as RFC 7517 §5 allows; a malformed key of a
// supported type is an error, and so is a set with no usable key.
func parseJWKS(b []byte) ([]key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("key set: %w", err)
	}
	var keys []key
	for i, raw := range set.Keys {
		var k jwk
		if err := json.Unmarshal(raw, &k); err != nil {
			return nil, fmt.Errorf("key %d: %w", i, err)
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub, err := k.publicKey()
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		if pub == nil {
			continue
		}
		alg, err := algorithmOf(pub)
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q): %w", i, k.Kid, err)
		}
		if k.Alg != "" && k.Alg != alg {
			continue // e.g. an RSA key for PS256 or RSA-OAEP
		}
		if len(keys) == maxJWKSKeys {
			return nil, fmt.Errorf("more than %d usable keys", maxJWKSKeys)
		}
		keys = append(keys, key{kid: k.Kid, alg: alg, pub: pub})
	}
	if len(keys) == 0 {
		return nil, errors.New("no usable signature key (RS256, ES256 P-256 or EdDSA Ed25519)")
	}
	return keys, nil
}

// publicKey decodes the key; nil, nil for a type or curve herald skips.
func (k *jwk) publicKey() (any, error) {
	switch {
	case k.Kty == "RSA":
		n, err := b64Int(k.N)
		if err != nil {
			return nil, fmt.Errorf("n: %w", err)
		}
		e, err := b64Int(k.E)
		if err != nil {
			return nil, fmt.Errorf("e: %w", err)
		}
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
			return nil, errors.New("e: not an odd exponent of at most 31 bits")
		}
		return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
	case k.Kty == "EC" && k.Crv == "P-256":
		x, errX := b64Fixed(k.X, 32)
		y, errY := b64Fixed(k.Y, 32)
		if err := errors.Join(errX, errY); err != nil {
			return nil, err
		}
		return ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	case k.Kty == "OKP" && k.Crv == "Ed25519":
		x, err := b64Fixed(k.X, ed25519.PublicKeySize)
		if err != nil {
			return nil, err
		}
		return ed25519.PublicKey(x), nil
	}
	return nil, nil
}

func b64Int(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, errors.New("not a base64url integer")
	}
	return new(big.Int).SetBytes(b), nil
}

func b64Fixed(s string, size int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != size {
		return nil, fmt.Errorf("coordinate is not %d base64url bytes", size)
	}
	return b, nil
}
