// Package auth verifies the JWTs that browsers present to herald and mints
// tokens for development and tests.
//
// Tokens are HS256 JWTs signed with the application's JWT_SECRET, as issued by
// the app that herald serves. Their claims map to a herald.Identity:
// sub → UserID, email → Email, role → Role, tenant_id → TenantID. String or
// integer values are accepted for each of them.
package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// Verifier checks tokens against one HS256 secret. It is safe for concurrent
// use once its fields are set.
type Verifier struct {
	// Now returns the current time for the exp and nbf checks; nil means
	// time.Now. Tests replace it; set it before the first Verify.
	Now func() time.Time

	secret []byte
	parser *jwt.Parser
}

// NewVerifier returns a Verifier for the secret, which must not be empty.
func NewVerifier(secret []byte) (*Verifier, error) {
	if len(secret) == 0 {
		return nil, errors.New("auth: empty JWT secret")
	}
	v := &Verifier{secret: bytes.Clone(secret)}
	v.parser = jwt.NewParser(
		// Only HS256: "none", RS*/ES* (key confusion) and the other HMAC
		// sizes are refused before any key is looked at.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithTimeFunc(v.now),
	)
	return v, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// claims is the payload of a token. sub shadows RegisteredClaims.Subject so
// that integer subjects, common with SQL ids, are accepted too.
type claims struct {
	jwt.RegisteredClaims
	Sub      claimString `json:"sub"`
	Email    claimString `json:"email"`
	Role     claimString `json:"role"`
	TenantID claimString `json:"tenant_id"`
}

// Verify checks the token's signature, algorithm and time claims and returns
// the identity it carries and its expiry time (zero when the token has no exp
// claim; callers disconnect a socket at that time). A token without a
// non-empty sub, or with sub or tenant_id longer than herald.MaxIDBytes, is
// CodeInvalid. Every error is an *Error.
func (v *Verifier) Verify(token string) (herald.Identity, time.Time, error) {
	if token == "" {
		return herald.Identity{}, time.Time{}, &Error{Code: CodeMissing, Message: "Authentication token is missing."}
	}
	if len(token) > MaxTokenBytes {
		return herald.Identity{}, time.Time{}, invalid("Token is too long.", nil)
	}
	var c claims
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		// Belt and braces: the parser already restricts the method.
		if t.Method != jwt.SigningMethodHS256 {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return v.secret, nil
	})
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		// Claims are validated only after the signature, so this token is authentic.
		return herald.Identity{}, time.Time{}, &Error{Code: CodeExpired, Message: "Token has expired.", Err: err}
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return herald.Identity{}, time.Time{}, invalid("Token is not valid yet.", err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return herald.Identity{}, time.Time{}, invalid("Malformed token.", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return herald.Identity{}, time.Time{}, invalid("Invalid token signature or algorithm.", err)
	default:
		return herald.Identity{}, time.Time{}, invalid("Invalid token.", err)
	}
	id := herald.Identity{
		UserID:   string(c.Sub),
		Email:    string(c.Email),
		Role:     string(c.Role),
		TenantID: string(c.TenantID),
	}
	if id.UserID == "" {
		return herald.Identity{}, time.Time{}, invalid("Token has no subject.", nil)
	}
	if len(id.UserID) > herald.MaxIDBytes || len(id.TenantID) > herald.MaxIDBytes {
		return herald.Identity{}, time.Time{}, invalid("Token subject or tenant is too long.", nil)
	}
	var exp time.Time
	if c.ExpiresAt != nil {
		exp = c.ExpiresAt.Time
	}
	return id, exp, nil
}

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
