package postgres_test

import (
	"testing"

	"context"
	"herald/internal/pgtest"
	"herald/postgres"
	"herald/storetest"
)

// BenchmarkCreate32Callers is the store-alone goal of the PostgreSQL store:
// 32 concurrent single creates, group-committed.
func BenchmarkCreate32Callers(b *testing.B) {
	db, err := postgres.Open(context.Background(), pgtest.SchemaURL(b, "bench"), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	storetest.BenchmarkCreateCallers(b, db, 32)
}
