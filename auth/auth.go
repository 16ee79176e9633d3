// Package auth verifies the JWTs that browsers present to herald and mints
// tokens for development and tests.
//
// Tokens are JWTs signed with HS256 and the application's JWT_SECRET, or
// with RS256, ES256 or EdDSA by an identity provider whose public keys come
// from a PEM file or a JWKS URL. Each key verifies one algorithm only. Their
// claims map to a herald.Identity: sub (or Config.UserClaim) → UserID,
// email → Email, role → Role, tenant_id (or Config.TenantClaim) → TenantID.
// String or integer values are accepted for each of them.
//
// Parsing is strict: one spelling per token (canonical base64url, no
// duplicate member names in the header or the claims), no crit header
// (herald implements no extension), exp/nbf/iat as JSON numbers. Header
// parameters that point at keys (jku, x5u, jwk) are never followed.
package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"herald"
)

// Stable machine codes of verification failures. Clients receive them in
// connect_error's data.code, so they never change.
const (
	CodeMissing = "token_missing" // no token was presented
	CodeInvalid = "token_invalid" // malformed, badly signed, wrong algorithm, not yet valid, no subject
	CodeExpired = "token_expired" // authentic, but past its exp claim
)

// MaxTokenBytes bounds the length of a token; longer ones are CodeInvalid
// without being parsed.
const MaxTokenBytes = 8 << 10

// Error is a verification failure: one of the Code* codes, a message that is
// safe to show to the client, and the underlying cause for logs (may be nil).
type Error struct {
	Code    string
	Message string
	Err     error
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("auth: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("auth: %s: %s", e.Code, e.Message)
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Code returns the code of the first *Error in err's chain, "" for a nil
// error and CodeInvalid for any other error, so that callers fail closed.
func Code(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInvalid
}

func invalid(msg string, cause error) *Error {
	return &Error{Code: CodeInvalid, Message: msg, Err: cause}
}

// Config says which tokens a Verifier accepts. At least one of Secret,
// PublicKeysPEM and JWKSURL is required; they may be combined, each key
// pinned to its own algorithm.
type Config struct {
	// Secret is the HS256 secret shared with the application (JWT_SECRET).
	// Empty means no HS256.
	Secret []byte
	// PublicKeysPEM holds PEM public keys ("PUBLIC KEY", "RSA PUBLIC KEY"
	// or "CERTIFICATE" blocks): RSA keys verify RS256, P-256 keys ES256,
	// Ed25519 keys EdDSA. They match tokens whatever their kid. Empty
	// means none.
	PublicKeysPEM []byte
	// JWKSURL is the identity provider's JSON Web Key Set; its keys are
	// selected by the token's kid. Empty means none.
	JWKSURL string
	// JWKS tunes the fetching of JWKSURL.
	JWKS JWKSOptions
	// Issuer, when set, must equal the token's iss.
	Issuer string
	// Audience, when set, must be one of the token's aud.
	Audience string
	// Leeway is the clock skew tolerated on nbf: a token whose issuer's
	// clock runs ahead is not refused as not yet valid. exp is enforced
	// without leeway, because herald disconnects live sockets at exp.
	// Zero means none.
	Leeway time.Duration
	// UserClaim names the claim that holds the user id. Empty means "sub".
	UserClaim string
	// TenantClaim names the claim that holds the tenant. Empty means
	// "tenant_id".
	TenantClaim string
	// Now is the clock; nil means time.Now. Verifier.Now overrides it.
	Now func() time.Time
}

// Verifier checks tokens against the keys of a Config. It is safe for
// concurrent use once its fields are set.
type Verifier struct {
	// Now returns the current time for the exp and nbf checks; nil means
	// Config.Now. Tests replace it; set it before the first Verify.
	Now func() time.Time

	cfg    Config
	static []key // the secret and the PEM keys, which match any kid
	jwks   *jwks // nil without JWKSURL
	parser *jwt.Parser
}

// NewVerifier returns a Verifier for an HS256 secret, which must not be
// empty, with the default claims and no leeway.
func NewVerifier(secret []byte) (*Verifier, error) {
	if len(secret) == 0 {
		return nil, errors.New("auth: empty JWT secret")
	}
	return New(Config{Secret: secret})
}

// New returns a Verifier for cfg. With a JWKSURL it fetches the key set
// once, and fails if that fetch fails, so that a wrong URL shows at start.
func New(cfg Config) (*Verifier, error) {
	if cfg.UserClaim == "" {
		cfg.UserClaim = "sub"
	}
	if cfg.TenantClaim == "" {
		cfg.TenantClaim = "tenant_id"
	}
	if cfg.Leeway < 0 {
		return nil, errors.New("auth: negative leeway")
	}
	v := &Verifier{cfg: cfg}
	if len(cfg.Secret) > 0 {
		v.static = append(v.static, key{alg: jwt.SigningMethodHS256.Alg(), pub: bytes.Clone(cfg.Secret)})
	}
	if len(cfg.PublicKeysPEM) > 0 {
		keys, err := parsePEMKeys(cfg.PublicKeysPEM)
		if err != nil {
			return nil, err
		}
		v.static = append(v.static, keys...)
	}
	if cfg.JWKSURL != "" {
		j, err := newJWKS(cfg.JWKSURL, cfg.JWKS, v.now)
		if err != nil {
			return nil, err
		}
		v.jwks = j
	}
	if len(v.static) == 0 && v.jwks == nil {
		return nil, errors.New("auth: no key: set a JWT secret, a public key file or a JWKS URL")
	}
	opts := []jwt.ParserOption{
		// Only the algorithms of the configured keys: "none", the other
		// HMAC sizes and every algorithm without a key are refused before
		// any key is looked at; keyFor then pins each key to its own.
		jwt.WithValidMethods(v.algorithms()),
		jwt.WithTimeFunc(v.now),
		// Canonical base64url only: one token has one spelling.
		jwt.WithStrictDecoding(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

// algorithms returns the algorithms some configured key verifies.
func (v *Verifier) algorithms() []string {
	var algs []string
	for _, k := range v.static {
		if !slices.Contains(algs, k.alg) {
			algs = append(algs, k.alg)
		}
	}
	if v.jwks != nil {
		for _, a := range jwksAlgorithms {
			if !slices.Contains(algs, a) {
				algs = append(algs, a)
			}
		}
	}
	return algs
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	if v.cfg.Now != nil {
		return v.cfg.Now()
	}
	return time.Now()
}

// keyFor is the parser's key function: it checks the header strictly and
// returns the keys that may have signed the token, each pinned to the
// token's algorithm.
func (v *Verifier) keyFor(t *jwt.Token) (any, error) {
	if err := checkHeader(t.Raw); err != nil {
		return nil, err
	}
	alg := t.Method.Alg()
	kid, ok := t.Header["kid"].(string)
	if _, present := t.Header["kid"]; present && !ok {
		return nil, errors.New("kid is not a string")
	}
	var set jwt.VerificationKeySet
	for _, k := range v.static {
		if k.alg == alg {
			set.Keys = append(set.Keys, k.pub)
		}
	}
	if v.jwks != nil {
		set.Keys = append(set.Keys, v.jwks.lookup(alg, kid)...)
	}
	if len(set.Keys) == 0 {
		if kid != "" {
			return nil, fmt.Errorf("%w %q for %s", errUnknownKey, kid, alg)
		}
		return nil, fmt.Errorf("%w for %s", errUnknownKey, alg)
	}
	return set, nil
}

// errUnknownKey means no configured key has the token's kid and algorithm.
var errUnknownKey = errors.New("no signing key")

// Verify checks the token's header, signature, algorithm, issuer, audience
// and time claims and returns the identity it carries and its expiry time
// (zero when the token has no exp claim; callers disconnect a socket at
// that time). A token without a non-empty user claim, or with user or
// tenant longer than herald.MaxIDBytes, is CodeInvalid. Every error is an
// *Error.
func (v *Verifier) Verify(token string) (herald.Identity, time.Time, error) {
	if token == "" {
		return herald.Identity{}, time.Time{}, &Error{Code: CodeMissing, Message: "Authentication token is missing."}
	}
	if len(token) > MaxTokenBytes {
		return herald.Identity{}, time.Time{}, invalid("Token is too long.", nil)
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, v.keyFor)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		// Claims are validated only after the signature, so this token is authentic.
		return herald.Identity{}, time.Time{}, expired(err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return herald.Identity{}, time.Time{}, invalid("Token is not valid yet.", err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return herald.Identity{}, time.Time{}, invalid("Token has the wrong issuer.", err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return herald.Identity{}, time.Time{}, invalid("Token has the wrong audience.", err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return herald.Identity{}, time.Time{}, invalid("Malformed token.", err)
	case errors.Is(err, errUnknownKey):
		return herald.Identity{}, time.Time{}, invalid("Unknown signing key.", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return herald.Identity{}, time.Time{}, invalid("Invalid token signature or algorithm.", err)
	default:
		return herald.Identity{}, time.Time{}, invalid("Invalid token.", err)
	}
	// The parser's leeway covers exp too; herald's does not.
	if c.exp != nil && !v.now().Before(c.exp.Time) {
		return herald.Identity{}, time.Time{}, expired(jwt.ErrTokenExpired)
	}
	id, err := c.identity(v.cfg.UserClaim, v.cfg.TenantClaim)
	if err != nil {
		return herald.Identity{}, time.Time{}, err
	}
	var exp time.Time
	if c.exp != nil {
		exp = c.exp.Time
	}
	return id, exp, nil
}

func expired(cause error) *Error {
	return &Error{Code: CodeExpired, Message: "Token has expired.", Err: cause}
}

// claims is the payload of a token, decoded strictly: one JSON object
// without duplicate member names, exp/nbf/iat JSON numbers, iss a string, aud a string or
// an array of strings. The other claims stay raw for the claim mapping.
type claims struct {
	raw           map[string]json.RawMessage
	exp, nbf, iat *jwt.NumericDate
	iss           string
	aud           jwt.ClaimStrings
}

var _ jwt.Claims = (*claims)(nil)

// UnmarshalJSON implements json.Unmarshaler.
func (c *claims) UnmarshalJSON(b []byte) error {
	raw, err := decodeObject(b)
	if err != nil {
		return err
	}
	c.raw = raw
	for _, f := range [...]struct {
		name string
		dst  **jwt.NumericDate
	}{{"exp", &c.exp}, {"nbf", &c.nbf}, {"iat", &c.iat}} {
		if raw, ok := c.raw[f.name]; ok {
			d, err := numericDate(raw)
			if err != nil {
				return fmt.Errorf("claim %s: %w", f.name, err)
			}
			*f.dst = d
		}
	}
	if raw, ok := c.raw["iss"]; ok {
		if err := json.Unmarshal(raw, &c.iss); err != nil || raw[0] != '"' {
			return errors.New("claim iss must be a string")
		}
	}
	if raw, ok := c.raw["aud"]; ok {
		if err := json.Unmarshal(raw, &c.aud); err != nil || (raw[0] != '"' && raw[0] != '[') {
			return errors.New("claim aud must be a string or an array of strings")
		}
	}
	return nil
}

// numericDate decodes a NumericDate (RFC 7519 §2): a JSON number, never
// a string or null.
func numericDate(raw json.RawMessage) (*jwt.NumericDate, error) {
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return nil, errors.New("must be a JSON number")
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1<<53 {
		return nil, errors.New("number out of range")
	}
	sec, frac := math.Modf(f)
	return jwt.NewNumericDate(time.Unix(int64(sec), int64(frac*1e9))), nil
}

// identity maps the claims to an identity: the user from userClaim, the
// tenant from tenantClaim, email and role.
func (c *claims) identity(userClaim, tenantClaim string) (herald.Identity, error) {
	var id herald.Identity
	for _, f := range []struct {
		claim string
		dst   *string
	}{{userClaim, &id.UserID}, {tenantClaim, &id.TenantID}, {"email", &id.Email}, {"role", &id.Role}} {
		raw, ok := c.raw[f.claim]
		if !ok {
			continue
		}
		var s claimString
		if err := s.UnmarshalJSON(raw); err != nil {
			return herald.Identity{}, invalid("Malformed token.", fmt.Errorf("claim %s: %w", f.claim, err))
		}
		*f.dst = string(s)
	}
	if id.UserID == "" {
		return herald.Identity{}, invalid("Token has no subject.", fmt.Errorf("no %s claim", userClaim))
	}
	if len(id.UserID) > herald.MaxIDBytes || len(id.TenantID) > herald.MaxIDBytes {
		return herald.Identity{}, invalid("Token subject or tenant is too long.", nil)
	}
	return id, nil
}

// GetExpirationTime implements jwt.Claims.
func (c *claims) GetExpirationTime() (*jwt.NumericDate, error) { return c.exp, nil }

// GetNotBefore implements jwt.Claims.
func (c *claims) GetNotBefore() (*jwt.NumericDate, error) { return c.nbf, nil }

// GetIssuedAt implements jwt.Claims.
func (c *claims) GetIssuedAt() (*jwt.NumericDate, error) { return c.iat, nil }

// GetIssuer implements jwt.Claims.
func (c *claims) GetIssuer() (string, error) { return c.iss, nil }

// GetSubject implements jwt.Claims; the user claim is read by identity.
func (c *claims) GetSubject() (string, error) { return "", nil }

// GetAudience implements jwt.Claims.
func (c *claims) GetAudience() (jwt.ClaimStrings, error) { return c.aud, nil }

// claimString is a claim that may be a JSON string, an integer or null.
type claimString string

// UnmarshalJSON implements json.Unmarshaler.
func (s *claimString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = claimString(v)
	case string(b) == "null":
		*s = ""
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("claim must be a string or a number: %w", err)
		}
		*s = claimString(n)
	}
	return nil
}

// Mint returns an HS256 token for id signed with secret, with iat = now and
// exp = now + ttl. A ttl of zero omits exp (the token never expires); a
// negative ttl gives an already expired token, which tests use. It is what
// `herald token` prints; production tokens come from the application.
func Mint(secret []byte, id herald.Identity, ttl time.Duration) (string, error) {
	if len(secret) == 0 {
		return "", errors.New("auth: empty JWT secret")
	}
	if id.UserID == "" {
		return "", errors.New("auth: empty subject")
	}
	now := time.Now()
	c := struct {
		jwt.RegisteredClaims
		Email    string `json:"email,omitempty"`
		Role     string `json:"role,omitempty"`
		TenantID string `json:"tenant_id,omitempty"`
	}{
		RegisteredClaims: jwt.RegisteredClaims{Subject: id.UserID, IssuedAt: jwt.NewNumericDate(now)},
		Email:            id.Email,
		Role:             id.Role,
		TenantID:         id.TenantID,
	}
	if ttl != 0 {
		c.ExpiresAt = jwt.NewNumericDate(now.Add(ttl))
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
}

// BearerToken returns the token of an HTTP Authorization header value of the
// form "Bearer <token>" (the scheme is case-insensitive), or "" if h has
// another form.
func BearerToken(h string) string {
	const scheme = "bearer "
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return ""
	}
	return strings.TrimSpace(h[len(scheme):])
}
