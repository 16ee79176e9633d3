package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"herald"
	"herald/auth"
)

// runToken mints an HS256 JWT with JWT_SECRET, valid for JWT_EXPIRES_IN
// (default 7d, as in the seed) unless --ttl says otherwise.
func runToken(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	sub := fs.String("sub", "", "user id (the sub claim); required")
	email := fs.String("email", "", "email claim")
	role := fs.String("role", "", "role claim")
	tenant := fs.String("tenant", "", "tenant_id claim")
	ttl := fs.String("ttl", env("JWT_EXPIRES_IN", "7d"), "lifetime, e.g. 15m, 12h, 7d (env JWT_EXPIRES_IN)")
	secret := fs.String("secret", env("JWT_SECRET", ""), "signing secret (env JWT_SECRET)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *sub == "" {
		return errors.New("token: --sub is required")
	}
	if *secret == "" {
		return errors.New("token: JWT_SECRET is not set (or pass --secret)")
	}
	d, err := auth.ParseTTL(*ttl)
	if err != nil {
		return fmt.Errorf("token: --ttl: %w", err)
	}
	tok, err := auth.Mint([]byte(*secret), herald.Identity{UserID: *sub, Email: *email, Role: *role, TenantID: *tenant}, d)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, tok)
	return nil
}
