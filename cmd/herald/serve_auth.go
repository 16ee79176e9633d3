package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"herald/auth"
	"herald/gateway"
)

// identitySettings are the serve settings of token verification beyond
// JWT_SECRET: identity providers' public keys and claim checks.
type identitySettings struct {
	PublicKeyFile  string
	JWKSURL        string
	Issuer         string
	Audience       string
	Leeway         time.Duration
	JWKSRefresh    time.Duration
	JWKSMinRefetch time.Duration
	ClaimUser      string
	ClaimTenant    string
}

func (s *identitySettings) register(fs *flag.FlagSet) {
	fs.StringVar(&s.PublicKeyFile, "jwt-public-key-file", env("JWT_PUBLIC_KEY_FILE", ""), "PEM file of public keys verifying RS256, ES256 or EdDSA tokens (env JWT_PUBLIC_KEY_FILE)")
	fs.StringVar(&s.JWKSURL, "jwt-jwks-url", env("JWT_JWKS_URL", ""), "JWKS URL of the identity provider; keys are picked by kid (env JWT_JWKS_URL)")
	fs.StringVar(&s.Issuer, "jwt-issuer", env("JWT_ISSUER", ""), "required iss of tokens, when set (env JWT_ISSUER)")
	fs.StringVar(&s.Audience, "jwt-audience", env("JWT_AUDIENCE", ""), "required aud of tokens, when set (env JWT_AUDIENCE)")
	fs.DurationVar(&s.Leeway, "jwt-leeway", 30*time.Second, "clock skew tolerated on nbf (exp is exact: sockets are disconnected at exp)")
	fs.DurationVar(&s.JWKSRefresh, "jwt-jwks-refresh", 5*time.Minute, "how old the JWKS may grow before it is fetched again (removed keys stop verifying), when its response has no Cache-Control max-age (honoured within 1m..24h)")
	fs.DurationVar(&s.JWKSMinRefetch, "jwt-jwks-min-refetch", 10*time.Second, "least time between two JWKS fetches, whatever kids tokens carry")
	fs.StringVar(&s.ClaimUser, "claim-user", "sub", "claim holding the user id")
	fs.StringVar(&s.ClaimTenant, "claim-tenant", "tenant_id", "claim holding the tenant")
}

// hasKey reports whether a public key source is set.
func (s *identitySettings) hasKey() bool { return s.PublicKeyFile != "" || s.JWKSURL != "" }

// verifier builds the token verifier of the settings and the secret.
func (s *identitySettings) verifier(secret string, log *slog.Logger) (*auth.Verifier, error) {
	cfg := auth.Config{
		Secret:      []byte(secret),
		JWKSURL:     s.JWKSURL,
		JWKS:        auth.JWKSOptions{RefreshInterval: s.JWKSRefresh, MinInterval: s.JWKSMinRefetch, Logger: log},
		Issuer:      s.Issuer,
		Audience:    s.Audience,
		Leeway:      s.Leeway,
		UserClaim:   s.ClaimUser,
		TenantClaim: s.ClaimTenant,
	}
	if s.PublicKeyFile != "" {
		b, err := os.ReadFile(s.PublicKeyFile)
		if err != nil {
			return nil, fmt.Errorf("serve: JWT_PUBLIC_KEY_FILE: %w", err)
		}
		cfg.PublicKeysPEM = b
	}
	v, err := auth.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return v, nil
}

// limitSettings are the serve settings of the limits.
type limitSettings struct {
	SocketsPerUser int
	EventRate      float64
	HandshakeRate  float64
	APIRate        float64
	UserAPIRate    float64
}

func (s *limitSettings) register(fs *flag.FlagSet) {
	fs.IntVar(&s.SocketsPerUser, "max-sockets-per-user", 50, "most sockets one user may have on a node; 0 means no limit")
	fs.Float64Var(&s.EventRate, "event-rate", 20, "client events per socket per second (burst the same); a socket flooding past twice that is disconnected; 0 means no limit")
	fs.Float64Var(&s.HandshakeRate, "handshake-rate", 50, "new Engine.IO sessions per source address (IPv4, IPv6 /64) per second, burst the same; over it 429, which clients retry with backoff; 0 means no limit (raise it behind a proxy)")
	fs.Float64Var(&s.APIRate, "api-rate", 0, "HTTP API requests per second with the API key (the backend routes), burst the same; 0 means no limit")
	fs.Float64Var(&s.UserAPIRate, "user-api-rate", 50, "HTTP API requests per second of each user on /v1/me, burst the same; 0 means no limit")
}

func (s *limitSettings) check() error {
	if s.SocketsPerUser < 0 || s.EventRate < 0 || s.HandshakeRate < 0 || s.APIRate < 0 || s.UserAPIRate < 0 {
		return errors.New("serve: limits must not be negative (0 turns one off)")
	}
	return nil
}

// off maps the flags' "0 means no limit" to the packages' negative value.
func off(v float64) float64 {
	if v == 0 {
		return -1
	}
	return v
}

func (s *limitSettings) gateway() gateway.Limits {
	return gateway.Limits{SocketsPerUser: int(off(float64(s.SocketsPerUser))), EventsPerSecond: off(s.EventRate)}
}
