package postgres_test

import (
	"context"
	"testing"

	"herald"
	"herald/internal/pgtest"
	"herald/postgres"
	"herald/storetest"
)

// MustOpenDB opens a store in a new schema of the test server; both are
// gone when tb ends.
func MustOpenDB(tb testing.TB) *postgres.DB {
	tb.Helper()
	return mustOpenURL(tb, pgtest.SchemaURL(tb, "storetest"))
}

func mustOpenURL(tb testing.TB, url string) *postgres.DB {
	tb.Helper()
	// A small pool: the suite runs many stores at once on one server.
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 4})
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) herald.Store { return MustOpenDB(t) })
}
