package auth_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"herald"
	"herald/auth"
)

// testKey is a signing key a test made, with its JWT algorithm.
type testKey struct {
	kid    string
	method jwt.SigningMethod
	priv   crypto.Signer
}

func newRSAKey(t testing.TB, kid string) testKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid, jwt.SigningMethodRS256, k}
}

func newECKey(t testing.TB, kid string) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid, jwt.SigningMethodES256, k}
}

func newEdKey(t testing.TB, kid string) testKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid, jwt.SigningMethodEdDSA, k}
}

// token signs claims with the key, its kid in the header when set.
func (k testKey) token(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.method, c)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func (k testKey) pem(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// jwk returns the public JWK of the key.
func (k testKey) jwk() map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	switch pub := k.priv.Public().(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": k.kid, "use": "sig", "alg": "RS256", "n": enc(pub.N.Bytes()), "e": enc(big.NewInt(int64(pub.E)).Bytes())}
	case *ecdsa.PublicKey:
		b, _ := pub.Bytes()
		return map[string]string{"kty": "EC", "kid": k.kid, "crv": "P-256", "x": enc(b[1:33]), "y": enc(b[33:])}
	case ed25519.PublicKey:
		return map[string]string{"kty": "OKP", "kid": k.kid, "crv": "Ed25519", "alg": "EdDSA", "x": enc(pub)}
	}
	panic("unknown key type")
}

func verifyCode(v *auth.Verifier, token string) string {
	_, _, err := v.Verify(token)
	return auth.Code(err)
}

func TestPublicKeysFromPEM(t *testing.T) {
	t.Parallel()
	rsaKey, ecKey, edKey := newRSAKey(t, ""), newECKey(t, ""), newEdKey(t, "")
	pems := append(append(rsaKey.pem(t), ecKey.pem(t)...), edKey.pem(t)...)
	v, err := auth.New(auth.Config{PublicKeysPEM: pems, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, k := range []testKey{rsaKey, ecKey, edKey} {
		id, exp, err := v.Verify(k.token(t, goodClaims()))
		if err != nil {
			t.Errorf("%s: %v", k.method.Alg(), err)
			continue
		}
		if id.UserID != "user-1" || id.TenantID != "acme" || !exp.Equal(now.Add(time.Hour)) {
			t.Errorf("%s: got %+v, exp %v", k.method.Alg(), id, exp)
		}
	}
	strangers := []testKey{newRSAKey(t, ""), newECKey(t, ""), newEdKey(t, "")}
	rsaPEM := rsaKey.pem(t)
	cases := map[string]string{
		"RS256 by another key": strangers[0].token(t, goodClaims()),
		"ES256 by another key": strangers[1].token(t, goodClaims()),
		"EdDSA by another key": strangers[2].token(t, goodClaims()),
		// Key confusion: the public key (as the PEM text or its DER) as an HMAC secret.
		"HS256 with the PEM as secret": sign(t, jwt.SigningMethodHS256, goodClaims(), rsaPEM),
		"HS256 with the DER as secret": sign(t, jwt.SigningMethodHS256, goodClaims(), mustDER(t, rsaPEM)),
		"PS256 by the RSA key":         sign(t, jwt.SigningMethodPS256, goodClaims(), rsaKey.priv),
		"RS512 by the RSA key":         sign(t, jwt.SigningMethodRS512, goodClaims(), rsaKey.priv),
		"alg none":                     sign(t, jwt.SigningMethodNone, goodClaims(), jwt.UnsafeAllowNoneSignatureType),
		"ES256 header, RSA signature":  swapAlg(rsaKey.token(t, goodClaims()), "ES256"),
	}
	for name, tok := range cases {
		if got := verifyCode(v, tok); got != auth.CodeInvalid {
			t.Errorf("%s: got %q, want %q", name, got, auth.CodeInvalid)
		}
	}
}

// With a secret and public keys together, each still verifies its own
// algorithm only.
func TestSecretAndPublicKeysStayApart(t *testing.T) {
	t.Parallel()
	rsaKey := newRSAKey(t, "")
	v, err := auth.New(auth.Config{Secret: secret, PublicKeysPEM: rsaKey.pem(t), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if got := verifyCode(v, sign(t, jwt.SigningMethodHS256, goodClaims(), secret)); got != "" {
		t.Errorf("HS256 with the secret: %q", got)
	}
	if got := verifyCode(v, rsaKey.token(t, goodClaims())); got != "" {
		t.Errorf("RS256 with the key: %q", got)
	}
	if got := verifyCode(v, sign(t, jwt.SigningMethodHS256, goodClaims(), rsaKey.pem(t))); got != auth.CodeInvalid {
		t.Errorf("HS256 with the public key as secret: got %q", got)
	}
}

func mustDER(t *testing.T, p []byte) []byte {
	b, _ := pem.Decode(p)
	return b.Bytes
}

// swapAlg rewrites the alg of a token's header, keeping the signature.
func swapAlg(token, alg string) string {
	parts := strings.Split(token, ".")
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var m map[string]any
	json.Unmarshal(h, &m)
	m["alg"] = alg
	h, _ = json.Marshal(m)
	parts[0] = base64.RawURLEncoding.EncodeToString(h)
	return strings.Join(parts, ".")
}

func TestNewRefusesBadKeys(t *testing.T) {
	t.Parallel()
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384DER, _ := x509.MarshalPKIXPublicKey(&p384.PublicKey)
	privDER, _ := x509.MarshalPKCS8PrivateKey(p384)
	cases := map[string]auth.Config{
		"no key":      {},
		"not PEM":     {PublicKeysPEM: []byte("hello")},
		"private key": {PublicKeysPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})},
		"RSA 1024":    {PublicKeysPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER})},
		"EC P-384":    {PublicKeysPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: p384DER})},
		"bad DER":     {PublicKeysPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte("x")})},
		"leeway < 0":  {Secret: secret, Leeway: -time.Second},
	}
	for name, cfg := range cases {
		if _, err := auth.New(cfg); err == nil {
			t.Errorf("%s: New succeeded, want an error", name)
		}
	}
}

func TestIssuerAudienceLeeway(t *testing.T) {
	t.Parallel()
	v, err := auth.New(auth.Config{Secret: secret, Issuer: "https://idp.example/", Audience: "herald", Leeway: 30 * time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	good := with(with(goodClaims(), "iss", "https://idp.example/"), "aud", "herald")
	cases := []struct {
		name   string
		claims jwt.MapClaims
		code   string
	}{
		{"issuer and audience", good, ""},
		{"audience in an array", with(good, "aud", []string{"other", "herald"}), ""},
		{"nbf within the leeway", with(good, "nbf", now.Add(20*time.Second).Unix()), ""},
		{"nbf past the leeway", with(good, "nbf", now.Add(40*time.Second).Unix()), auth.CodeInvalid},
		{"exp just passed: no leeway on exp", with(good, "exp", now.Add(-time.Second).Unix()), auth.CodeExpired},
		{"exp long passed", with(good, "exp", now.Add(-time.Hour).Unix()), auth.CodeExpired},
		{"wrong issuer", with(good, "iss", "https://evil.example/"), auth.CodeInvalid},
		{"no issuer", with(good, "iss", nil), auth.CodeInvalid},
		{"issuer not a string", with(good, "iss", 1), auth.CodeInvalid},
		{"wrong audience", with(good, "aud", "other"), auth.CodeInvalid},
		{"no audience", with(good, "aud", nil), auth.CodeInvalid},
		{"audience not strings", with(good, "aud", []int{1}), auth.CodeInvalid},
	}
	for _, c := range cases {
		if got := verifyCode(v, sign(t, jwt.SigningMethodHS256, c.claims, secret)); got != c.code {
			t.Errorf("%s: got %q, want %q", c.name, got, c.code)
		}
	}
}

func TestClaimMapping(t *testing.T) {
	t.Parallel()
	v, err := auth.New(auth.Config{Secret: secret, UserClaim: "uid", TenantClaim: "https://app.example/org", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	c := with(with(goodClaims(), "uid", "u-7"), "https://app.example/org", 12)
	id, _, err := v.Verify(sign(t, jwt.SigningMethodHS256, c, secret))
	if err != nil {
		t.Fatal(err)
	}
	if want := (herald.Identity{UserID: "u-7", TenantID: "12", Email: "a@example.com", Role: "admin"}); id != want {
		t.Errorf("got %+v, want %+v", id, want)
	}
	// sub and tenant_id are not read any more.
	if got := verifyCode(v, sign(t, jwt.SigningMethodHS256, goodClaims(), secret)); got != auth.CodeInvalid {
		t.Errorf("no uid claim: got %q, want %q", got, auth.CodeInvalid)
	}
}

// jwksServer is a JWKS endpoint on loopback whose keys the test changes;
// it counts the fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []testKey
	fetches atomic.Int64
	delay   time.Duration
	body    string // served instead of the keys when set
	cache   string // the Cache-Control header, when set
}

func newJWKSServer(t *testing.T, keys ...testKey) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		var set struct {
			Keys []map[string]string `json:"keys"`
		}
		for _, k := range s.keys {
			set.Keys = append(set.Keys, k.jwk())
		}
		delay, body := s.delay, s.body
		if s.cache != "" {
			w.Header().Set("Cache-Control", s.cache)
		}
		s.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if body != "" {
			w.Write([]byte(body))
			return
		}
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...testKey) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	a, b, c := newRSAKey(t, "a"), newECKey(t, "b"), newEdKey(t, "c")
	srv := newJWKSServer(t, a, b)
	clk := &clock{t: now}
	v, err := auth.New(auth.Config{JWKSURL: srv.URL, JWKS: auth.JWKSOptions{RefreshInterval: time.Minute, MinInterval: 10 * time.Second}, Now: clk.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	check := func(what, token, want string) {
		t.Helper()
		if got := verifyCode(v, token); got != want {
			t.Errorf("%s: got %q, want %q", what, got, want)
		}
	}
	check("key a", a.token(t, goodClaims()), "")
	check("key b", b.token(t, goodClaims()), "")
	check("kid a, signed by b's twin", testKey{"a", jwt.SigningMethodES256, b.priv}.token(t, goodClaims()), auth.CodeInvalid)
	check("kid b, signed by a", testKey{"b", jwt.SigningMethodRS256, a.priv}.token(t, goodClaims()), auth.CodeInvalid)
	check("no kid, signed by a", testKey{"", jwt.SigningMethodRS256, a.priv}.token(t, goodClaims()), "")
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}

	// c appears: its first token triggers a fetch (MinInterval has passed).
	srv.set(a, b, c)
	clk.Add(11 * time.Second)
	check("new key c", c.token(t, goodClaims()), "")
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// a is removed: known kid, so no fetch until the set is a minute old.
	srv.set(b, c)
	check("removed key a, set still fresh", a.token(t, goodClaims()), "")
	clk.Add(time.Minute)
	check("removed key a, set refreshed", a.token(t, goodClaims()), auth.CodeInvalid)
	check("key c after the refresh", c.token(t, goodClaims()), "")
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}
}

// The provider's Cache-Control max-age replaces RefreshInterval, within
// [MinMaxAge, MaxMaxAge]; an unknown kid still fetches at MinInterval.
func TestJWKSCacheControl(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cache string
		fresh time.Duration // how long a removed key keeps verifying
	}{
		{"", 5 * time.Minute}, // RefreshInterval
		{"public, max-age=3600", time.Hour},
		{"max-age=1, must-revalidate", time.Minute},      // clamped up
		{"max-age=99999999999999999999", 24 * time.Hour}, // clamped down, no overflow
		{"no-store", time.Minute},                        // the least
		{"max-age=600, max-age=7200", 5 * time.Minute},   // repeated: ignored
		{"max-age=-5", 5 * time.Minute},                  // malformed: ignored
		{`MAX-AGE="120"`, 2 * time.Minute},               // quoted, any case
		{"s-maxage=9000, private", 5 * time.Minute},      // not max-age
		{"max-age=86400000, stale-while-revalidate=9", 24 * time.Hour},
	} {
		t.Run(c.cache, func(t *testing.T) {
			t.Parallel()
			long := goodClaims()
			long["exp"] = now.Add(72 * time.Hour).Unix()
			a, b := newEdKey(t, "a"), newECKey(t, "b")
			srv := newJWKSServer(t, a, b)
			srv.cache = c.cache
			clk := &clock{t: now}
			v, err := auth.New(auth.Config{JWKSURL: srv.URL, JWKS: auth.JWKSOptions{RefreshInterval: 5 * time.Minute, MinInterval: 10 * time.Second}, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			srv.set(b)
			clk.Add(c.fresh - time.Second)
			if got := verifyCode(v, a.token(t, long)); got != "" {
				t.Errorf("removed key a within %v: %q", c.fresh, got)
			}
			// An unknown kid still fetches at once, whatever the max-age.
			d := newEdKey(t, "d")
			srv.set(b, d)
			if got := verifyCode(v, d.token(t, long)); got != "" {
				t.Errorf("new key d within %v: %q", c.fresh, got)
			}
			if n := srv.fetches.Load(); n != 2 {
				t.Fatalf("%d fetches, want 2 (start, unknown kid)", n)
			}
			srv.set(b)
			// Fresh again from the second fetch: d stays until c.fresh after it.
			clk.Add(c.fresh - time.Second)
			if got := verifyCode(v, d.token(t, long)); got != "" {
				t.Errorf("removed key d within %v of the refetch: %q", c.fresh, got)
			}
			clk.Add(time.Second)
			if got := verifyCode(v, d.token(t, long)); got != auth.CodeInvalid {
				t.Errorf("removed key d %v after the refetch: got %q, want %q", c.fresh, got, auth.CodeInvalid)
			}
			if n := srv.fetches.Load(); n != 3 {
				t.Fatalf("%d fetches, want 3", n)
			}
		})
	}
}

// A flood of tokens with made-up kids costs at most one fetch per
// MinInterval, however many arrive at once.
func TestJWKSUnknownKidFlood(t *testing.T) {
	t.Parallel()
	a := newEdKey(t, "a")
	srv := newJWKSServer(t, a)
	clk := &clock{t: now}
	v, err := auth.New(auth.Config{JWKSURL: srv.URL, JWKS: auth.JWKSOptions{RefreshInterval: time.Hour, MinInterval: 10 * time.Second}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	flood := func() {
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 200 {
					k := testKey{fmt.Sprintf("made-up-%d-%d", g, i), jwt.SigningMethodEdDSA, a.priv}
					if got := verifyCode(v, k.token(t, goodClaims())); got != auth.CodeInvalid {
						t.Errorf("made-up kid: got %q", got)
						return
					}
				}
			})
		}
		wg.Wait()
	}
	flood() // within MinInterval of the first fetch: none
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("after a flood within MinInterval: %d fetches, want 1", n)
	}
	clk.Add(11 * time.Second)
	flood() // one fetch, shared by the whole flood
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("after a flood past MinInterval: %d fetches, want 2", n)
	}
	if got := verifyCode(v, a.token(t, goodClaims())); got != "" {
		t.Errorf("the real key after the flood: %q", got)
	}
}

func TestJWKSFetchLimits(t *testing.T) {
	t.Parallel()
	a := newECKey(t, "a")
	slow := newJWKSServer(t, a)
	slow.delay = 5 * time.Second
	start := time.Now()
	if _, err := auth.New(auth.Config{JWKSURL: slow.URL, JWKS: auth.JWKSOptions{Timeout: 200 * time.Millisecond}}); err == nil {
		t.Error("a JWKS slower than the timeout: New succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("New took %v with a 200ms timeout", d)
	}
	big := newJWKSServer(t, a)
	if _, err := auth.New(auth.Config{JWKSURL: big.URL, JWKS: auth.JWKSOptions{MaxBytes: 64}}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a JWKS over MaxBytes: got %v", err)
	}
	for name, body := range map[string]string{
		"not JSON":        "nope",
		"no keys":         `{"keys":[]}`,
		"only enc keys":   `{"keys":[{"kty":"OKP","crv":"Ed25519","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		"bad EC point":    `{"keys":[{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`,
		"even RSA expont": `{"keys":[{"kty":"RSA","n":"AQAB","e":"Ag"}]}`,
	} {
		srv := newJWKSServer(t)
		srv.body = body
		if _, err := auth.New(auth.Config{JWKSURL: srv.URL}); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}

	// A failed refresh keeps the last good keys.
	srv := newJWKSServer(t, a)
	clk := &clock{t: now}
	v, err := auth.New(auth.Config{JWKSURL: srv.URL, JWKS: auth.JWKSOptions{RefreshInterval: time.Minute}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	srv.mu.Lock()
	srv.body = "broken"
	srv.mu.Unlock()
	clk.Add(2 * time.Minute)
	if got := verifyCode(v, a.token(t, goodClaims())); got != "" {
		t.Errorf("after a failed refresh: %q, want the old key to verify", got)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Errorf("%d fetches, want 2", n)
	}
}

// BenchmarkVerify measures a whole Verify per algorithm: strict parsing,
// key selection and the signature check.
func BenchmarkVerify(b *testing.B) {
	keys := []testKey{{"", jwt.SigningMethodHS256, nil}, newRSAKey(b, "rsa"), newECKey(b, "ec"), newEdKey(b, "ed")}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var set struct {
			Keys []map[string]string `json:"keys"`
		}
		for _, k := range keys[1:] {
			set.Keys = append(set.Keys, k.jwk())
		}
		json.NewEncoder(w).Encode(set)
	}))
	defer srv.Close()
	v, err := auth.New(auth.Config{Secret: secret, JWKSURL: srv.URL, Now: func() time.Time { return now }, JWKS: auth.JWKSOptions{RefreshInterval: 1000 * time.Hour}})
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range keys {
		tok := sign(b, jwt.SigningMethodHS256, goodClaims(), secret)
		if k.priv != nil {
			tok = k.token(b, goodClaims())
		}
		b.Run(k.method.Alg(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := v.Verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// While the refresh of a stale set is under way, tokens of known keys
// verify with the keys at hand instead of waiting for it.
func TestJWKSStaleRefreshDoesNotBlock(t *testing.T) {
	t.Parallel()
	a := newEdKey(t, "a")
	var calls atomic.Int64
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 2 { // the refresh: hold it
			close(arrived)
			<-release
		}
		fmt.Fprintf(w, `{"keys":[%s]}`, mustJSON(a.jwk()))
	}))
	defer srv.Close()
	defer close(release)
	clk := &clock{t: now}
	v, err := auth.New(auth.Config{JWKSURL: srv.URL, JWKS: auth.JWKSOptions{RefreshInterval: time.Minute, Timeout: time.Minute}, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	tok := a.token(t, goodClaims())
	go v.Verify(tok) // fetches, held by the server
	<-arrived
	done := make(chan string, 1)
	go func() { done <- verifyCode(v, tok) }()
	select {
	case got := <-done:
		if got != "" {
			t.Errorf("during the refresh: %q", got)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a token of a known key waited for the refresh under way")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
