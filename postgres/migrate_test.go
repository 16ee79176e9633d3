package postgres_test

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"herald/internal/pgtest"
	"herald/postgres"
)

// Nodes that start together on a new schema migrate it exactly once.
func TestMigrateOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.SchemaURL(t, "migrate")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { mustOpenURL(t, url) })
	}
	wg.Wait()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT version FROM herald_schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(postgres.Migrations(), "migrations/*.sql")
	if len(versions) != len(names) || versions[0] != 1 || int(versions[len(versions)-1]) != len(names) {
		t.Fatalf("recorded versions %v, want 1..%d once each", versions, len(names))
	}
	// Opening again changes nothing.
	mustOpenURL(t, url)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM herald_schema_migrations`).Scan(&n); err != nil || n != len(names) {
		t.Fatalf("after a second open: %d versions, %v", n, err)
	}
}

// A node refuses a schema that a newer herald has migrated.
func TestRefuseNewerSchema(t *testing.T) {
	t.Parallel()
	url := pgtest.SchemaURL(t, "newer")
	mustOpenURL(t, url).Close()
	pgtest.Exec(t, url, `INSERT INTO herald_schema_migrations (version, name) VALUES (999, '0999_future.sql')`)
	db, err := postgres.Open(context.Background(), url, postgres.Options{MaxConns: 2})
	if err == nil {
		db.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	if !strings.Contains(err.Error(), "version 999, newer than this herald knows") {
		t.Fatalf("got %v, want a message naming the newer version", err)
	}
}

// The schema of the search_path is created when it does not exist.
func TestCreatesSchema(t *testing.T) {
	t.Parallel()
	server := pgtest.ServerURL(t)
	name := pgtest.NewName("created")
	t.Cleanup(func() { pgtest.DropSchemas(t, server, name) })
	db := mustOpenURL(t, pgtest.WithSearchPath(t, server, name))
	if err := db.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}
