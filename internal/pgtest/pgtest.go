// Package pgtest gives tests a PostgreSQL schema of their own on the
// server named by HERALD_TEST_DATABASE_URL (default: the local test server,
// postgres://postgres@127.0.0.1:5432/test), dropped when the test ends.
//
// Without a reachable server the test is skipped, except when CI=true: CI
// must never pass by skipping.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the server of the tests when HERALD_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// ServerURL returns the URL of the tests' server, skipping (or, in CI,
// failing) tb when it cannot be reached.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("HERALD_TEST_DATABASE_URL")
	if u == "" {
		u = DefaultURL
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		tb.Skipf("PostgreSQL not reachable (%v); set HERALD_TEST_DATABASE_URL", err)
	}
	conn.Close(ctx)
	return u
}

// SchemaURL creates a new, empty schema on the tests' server and returns
// a URL whose search_path is that schema. The schema and everything in it
// are dropped when tb ends.
func SchemaURL(tb testing.TB, prefix string) string {
	tb.Helper()
	server := ServerURL(tb)
	name := NewName(prefix)
	Exec(tb, server, "CREATE SCHEMA "+pgx.Identifier{name}.Sanitize())
	tb.Cleanup(func() { DropSchemas(tb, server, name) })
	return WithSearchPath(tb, server, name)
}

// NewName returns prefix followed by random hex, a valid schema name.
func NewName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return strings.ToLower(prefix) + "_" + hex.EncodeToString(b)
}

// WithSearchPath returns server with its search_path set to schema.
func WithSearchPath(tb testing.TB, server, schema string) string {
	tb.Helper()
	u, err := url.Parse(server)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// DropSchemas drops the schemas whose names start with prefix.
func DropSchemas(tb testing.TB, server, prefix string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		tb.Errorf("drop schemas %s*: %v", prefix, err)
		return
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)`, prefix)
	if err != nil {
		tb.Errorf("drop schemas %s*: %v", prefix, err)
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Errorf("drop schemas %s*: %v", prefix, err)
		return
	}
	for _, n := range names {
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{n}.Sanitize()+" CASCADE"); err != nil {
			tb.Errorf("drop schema %s: %v", n, err)
		}
	}
}

// Exec runs one statement on url, failing tb on error.
func Exec(tb testing.TB, url, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}
