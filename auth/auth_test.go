package auth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"herald"
	"herald/auth"
)

var secret = []byte("test-secret-with-enough-entropy-0123456789")

// now is the fixed time of every test; tokens are built around it.
var now = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newVerifier(t testing.TB) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(secret)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	v.Now = func() time.Time { return now }
	return v
}

// sign returns a token with the given method, claims and key.
func sign(t testing.TB, m jwt.SigningMethod, c jwt.MapClaims, key any) string {
	t.Helper()
	s, err := jwt.NewWithClaims(m, c).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

func goodClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"sub":       "user-1",
		"email":     "a@example.com",
		"role":      "admin",
		"tenant_id": "acme",
		"iat":       now.Add(-time.Minute).Unix(),
		"exp":       now.Add(time.Hour).Unix(),
	}
}

func with(c jwt.MapClaims, key string, value any) jwt.MapClaims {
	out := jwt.MapClaims{}
	for k, v := range c {
		out[k] = v
	}
	if value == nil {
		delete(out, key)
	} else {
		out[key] = value
	}
	return out
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// hmacToken signs header.payload with HMAC-SHA256 whatever the header says.
func hmacToken(header, payload string, key []byte) string {
	unsigned := b64(header) + "." + b64(payload)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(unsigned))
	return unsigned + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerifyValid(t *testing.T) {
	t.Parallel()
	v := newVerifier(t)
	tests := []struct {
		name   string
		claims jwt.MapClaims
		want   herald.Identity
		exp    time.Time
	}{
		{"all claims", goodClaims(),
			herald.Identity{UserID: "user-1", Email: "a@example.com", Role: "admin", TenantID: "acme"},
			now.Add(time.Hour)},
		{"sub only, no exp", jwt.MapClaims{"sub": "u"}, herald.Identity{UserID: "u"}, time.Time{}},
		{"integer sub and tenant", with(with(goodClaims(), "sub", 42), "tenant_id", 7),
			herald.Identity{UserID: "42", Email: "a@example.com", Role: "admin", TenantID: "7"},
			now.Add(time.Hour)},
		{"null optional claims", with(with(goodClaims(), "email", nil), "role", nil),
			herald.Identity{UserID: "user-1", TenantID: "acme"}, now.Add(time.Hour)},
		{"nbf in the past", with(goodClaims(), "nbf", now.Add(-time.Second).Unix()),
			herald.Identity{UserID: "user-1", Email: "a@example.com", Role: "admin", TenantID: "acme"},
			now.Add(time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, exp, err := v.Verify(sign(t, jwt.SigningMethodHS256, tt.claims, secret))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if id != tt.want {
				t.Errorf("identity: got %+v, want %+v", id, tt.want)
			}
			if !exp.Equal(tt.exp) {
				t.Errorf("exp: got %v, want %v", exp, tt.exp)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	v := newVerifier(t)

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	good := sign(t, jwt.SigningMethodHS256, goodClaims(), secret)
	parts := strings.Split(good, ".")

	tests := []struct {
		name  string
		token string
		code  string
	}{
		{"empty", "", auth.CodeMissing},
		{"expired", sign(t, jwt.SigningMethodHS256, with(goodClaims(), "exp", now.Add(-time.Second).Unix()), secret), auth.CodeExpired},
		{"expired exactly now", sign(t, jwt.SigningMethodHS256, with(goodClaims(), "exp", now.Unix()), secret), auth.CodeExpired},
		{"expired and forged", sign(t, jwt.SigningMethodHS256, with(goodClaims(), "exp", now.Add(-time.Hour).Unix()), []byte("other")), auth.CodeInvalid},
		{"not yet valid", sign(t, jwt.SigningMethodHS256, with(goodClaims(), "nbf", now.Add(time.Minute).Unix()), secret), auth.CodeInvalid},
		{"wrong secret", sign(t, jwt.SigningMethodHS256, goodClaims(), []byte("wrong-secret")), auth.CodeInvalid},
		{"tampered payload", parts[0] + "." + b64(`{"sub":"admin","exp":1999999999}`) + "." + parts[2], auth.CodeInvalid},
		{"tampered signature", parts[0] + "." + parts[1] + "." + b64("nope"), auth.CodeInvalid},
		{"stripped signature", parts[0] + "." + parts[1] + ".", auth.CodeInvalid},
		{"alg none", sign(t, jwt.SigningMethodNone, goodClaims(), jwt.UnsafeAllowNoneSignatureType), auth.CodeInvalid},
		{"alg none by hand", b64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".", auth.CodeInvalid},
		{"alg NONE by hand", b64(`{"alg":"NONE"}`) + "." + parts[1] + ".", auth.CodeInvalid},
		{"alg HS384 same secret", sign(t, jwt.SigningMethodHS384, goodClaims(), secret), auth.CodeInvalid},
		{"alg HS512 same secret", sign(t, jwt.SigningMethodHS512, goodClaims(), secret), auth.CodeInvalid},
		{"alg RS256", sign(t, jwt.SigningMethodRS256, goodClaims(), rsaKey), auth.CodeInvalid},
		{"alg ES256", sign(t, jwt.SigningMethodES256, goodClaims(), ecKey), auth.CodeInvalid},
		{"RS256 header, HMAC signature (key confusion)", hmacToken(`{"alg":"RS256","typ":"JWT"}`, `{"sub":"user-1"}`, secret), auth.CodeInvalid},
		{"unknown alg", hmacToken(`{"alg":"XX999"}`, `{"sub":"user-1"}`, secret), auth.CodeInvalid},
		{"no alg", hmacToken(`{"typ":"JWT"}`, `{"sub":"user-1"}`, secret), auth.CodeInvalid},
		{"missing sub", sign(t, jwt.SigningMethodHS256, with(goodClaims(), "sub", nil), secret), auth.CodeInvalid},
		{"empty sub", sign(t, jwt.SigningMethodHS256, with(goodClaims(), "sub", ""), secret), auth.CodeInvalid},
		{"object sub", sign(t, jwt.SigningMethodHS256, with(goodClaims(), "sub", map[string]any{"id": 1}), secret), auth.CodeInvalid},
		{"array tenant", sign(t, jwt.SigningMethodHS256, with(goodClaims(), "tenant_id", []string{"a"}), secret), auth.CodeInvalid},
		{"huge sub", sign(t, jwt.SigningMethodHS256, with(goodClaims(), "sub", strings.Repeat("x", herald.MaxIDBytes+1)), secret), auth.CodeInvalid},
		{"string exp", sign(t, jwt.SigningMethodHS256, with(goodClaims(), "exp", "tomorrow"), secret), auth.CodeInvalid},
		{"one segment", "abc", auth.CodeInvalid},
		{"two segments", "abc.def", auth.CodeInvalid},
		{"four segments", good + ".x", auth.CodeInvalid},
		{"bad base64 header", "%%%." + parts[1] + "." + parts[2], auth.CodeInvalid},
		{"header not JSON", b64("nope") + "." + parts[1] + "." + parts[2], auth.CodeInvalid},
		{"payload not JSON", hmacToken(`{"alg":"HS256"}`, `nope`, secret), auth.CodeInvalid},
		{"payload is an array", hmacToken(`{"alg":"HS256"}`, `[1,2]`, secret), auth.CodeInvalid},
		{"too long", "a." + strings.Repeat("b", auth.MaxTokenBytes) + ".c", auth.CodeInvalid},
		{"Bearer prefix", "Bearer " + good, auth.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, exp, err := v.Verify(tt.token)
			if err == nil {
				t.Fatalf("Verify: got identity %+v, want error %s", id, tt.code)
			}
			if got := auth.Code(err); got != tt.code {
				t.Errorf("code: got %q, want %q (err %v)", got, tt.code, err)
			}
			var ae *auth.Error
			if !errors.As(err, &ae) || ae.Message == "" {
				t.Errorf("error %v: want an *auth.Error with a message", err)
			}
			if id != (herald.Identity{}) || !exp.IsZero() {
				t.Errorf("got identity %+v and exp %v with an error, want zero values", id, exp)
			}
		})
	}
}

func TestVerifyUsesClock(t *testing.T) {
	t.Parallel()
	v := newVerifier(t)
	token := sign(t, jwt.SigningMethodHS256, goodClaims(), secret)
	if _, _, err := v.Verify(token); err != nil {
		t.Fatalf("Verify before exp: %v", err)
	}
	v2 := newVerifier(t)
	v2.Now = func() time.Time { return now.Add(2 * time.Hour) }
	if _, _, err := v2.Verify(token); auth.Code(err) != auth.CodeExpired {
		t.Fatalf("Verify after exp: got %v, want %s", err, auth.CodeExpired)
	}
}

func TestNewVerifierEmptySecret(t *testing.T) {
	t.Parallel()
	if _, err := auth.NewVerifier(nil); err == nil {
		t.Fatal("NewVerifier(nil): got no error")
	}
}

func TestCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{&auth.Error{Code: auth.CodeExpired}, auth.CodeExpired},
		{errors.Join(errors.New("wrapped"), &auth.Error{Code: auth.CodeMissing}), auth.CodeMissing},
		{errors.New("other"), auth.CodeInvalid},
	}
	for _, tt := range tests {
		if got := auth.Code(tt.err); got != tt.want {
			t.Errorf("Code(%v): got %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestMintRoundTrip(t *testing.T) {
	t.Parallel()
	v, err := auth.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	id := herald.Identity{UserID: "u-9", Email: "u9@example.com", Role: "user", TenantID: "t1"}
	before := time.Now()
	token, err := auth.Mint(secret, id, 7*24*time.Hour)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	got, exp, err := v.Verify(token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got != id {
		t.Errorf("identity: got %+v, want %+v", got, id)
	}
	if want := before.Add(7 * 24 * time.Hour).Truncate(time.Second); exp.Before(want) || exp.After(want.Add(5*time.Second)) {
		t.Errorf("exp: got %v, want about %v", exp, want)
	}

	forever, err := auth.Mint(secret, herald.Identity{UserID: "u"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, exp, err := v.Verify(forever); err != nil || !exp.IsZero() {
		t.Errorf("ttl 0: got exp %v, err %v; want zero exp, no error", exp, err)
	}

	expired, err := auth.Mint(secret, herald.Identity{UserID: "u"}, -time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Verify(expired); auth.Code(err) != auth.CodeExpired {
		t.Errorf("negative ttl: got %v, want %s", err, auth.CodeExpired)
	}

	if _, err := auth.Mint(nil, id, time.Hour); err == nil {
		t.Error("Mint with empty secret: got no error")
	}
	if _, err := auth.Mint(secret, herald.Identity{}, time.Hour); err == nil {
		t.Error("Mint with empty subject: got no error")
	}
	if _, _, err := v.Verify(mustMint(t, []byte("other"), id)); auth.Code(err) != auth.CodeInvalid {
		t.Errorf("token of another secret: got %v, want %s", err, auth.CodeInvalid)
	}
}

func mustMint(t *testing.T, key []byte, id herald.Identity) string {
	t.Helper()
	s, err := auth.Mint(key, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestParseTTL(t *testing.T) {
	t.Parallel()
	day := 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7d", 7 * day, true},
		{"1h30m", 90 * time.Minute, true},
		{"15m", 15 * time.Minute, true},
		{"500ms", 500 * time.Millisecond, true},
		{"2 days", 2 * day, true},
		{"1.5h", 90 * time.Minute, true},
		{"2W", 14 * day, true},
		{"1y", 8766 * time.Hour, true},
		{"3600", time.Hour, true},
		{" 10 s ", 10 * time.Second, true},
		{"-1d", -day, true},
		{"0", 0, true},
		{"", 0, false},
		{"d", 0, false},
		{"7x", 0, false},
		{"seven days", 0, false},
		{"1e400d", 0, false},
		{"999999999y", 0, false},
		{"NaNd", 0, false},
	}
	for _, tt := range tests {
		got, err := auth.ParseTTL(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseTTL(%q): got error %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && got != tt.want {
			t.Errorf("ParseTTL(%q): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

// FuzzVerify feeds arbitrary strings to the verifier: it must never panic,
// every failure must carry one of the three codes, and nothing but a token
// signed with the secret, in its one canonical spelling, may pass.
func FuzzVerify(f *testing.F) {
	good := sign(f, jwt.SigningMethodHS256, goodClaims(), secret)
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(b64(`{"alg":"none"}`) + "." + parts[1] + ".")
	f.Add(sign(f, jwt.SigningMethodHS512, goodClaims(), secret))
	f.Add(hmacToken(`{"alg":"HS256"}`, `{"sub":{"a":1}}`, secret))
	f.Add(parts[0] + "." + parts[1])
	f.Add(parts[0] + "." + b64(`{"sub":1e999}`) + "." + parts[2])
	f.Add(hmacToken(`{"alg":"HS256","crit":["b64"],"b64":false}`, `{"sub":"u"}`, secret))
	f.Add(hmacToken(`{"alg":"HS256"}`, `{"sub":"u","sub":"v"}`, secret))
	f.Add(hmacToken(`{"alg":"HS256"}`, `{"sub":"u","exp":"1999999999"}`, secret))
	f.Add(hmacToken(`{"alg":"HS256","kid":7}`, `{"sub":"u","nbf":-1.5e3,"aud":["a"]}`, secret))
	v := newVerifier(f)
	f.Fuzz(func(t *testing.T, token string) {
		id, _, err := v.Verify(token)
		if err != nil {
			switch auth.Code(err) {
			case auth.CodeMissing, auth.CodeInvalid, auth.CodeExpired:
			default:
				t.Fatalf("error without a known code: %v", err)
			}
			return
		}
		if id.UserID == "" {
			t.Fatalf("accepted a token without a subject: %q", token)
		}
		// Only tokens made with the secret verify: re-signing the same
		// header and payload must reproduce the signature.
		p := strings.Split(token, ".")
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(p[0] + "." + p[1]))
		sig, _ := base64.RawURLEncoding.DecodeString(p[2])
		if !hmac.Equal(sig, mac.Sum(nil)) {
			t.Fatalf("accepted a token with a wrong signature: %q", token)
		}
		for _, seg := range p {
			b, err := base64.RawURLEncoding.DecodeString(seg)
			if err != nil || base64.RawURLEncoding.EncodeToString(b) != seg {
				t.Fatalf("accepted a non-canonical spelling: %q", token)
			}
		}
	})
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"Bearer abc.def.ghi", "abc.def.ghi"},
		{"bearer abc", "abc"},
		{"BEARER  abc ", "abc"},
		{"Bearer ", ""},
		{"Basic dXNlcjpwYXNz", ""},
		{"abc.def.ghi", ""},
		{"", ""},
	} {
		if got := auth.BearerToken(tt.in); got != tt.want {
			t.Errorf("BearerToken(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}
