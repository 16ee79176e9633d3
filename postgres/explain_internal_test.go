package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"herald/internal/pgtest"
)

// The feed's queries use indexes: over 1,000,000 notifications of 10,000
// users, no plan of list, unread list, replay, counts or get scans the
// notifications table, neither as a custom plan for the values given nor as
// the generic plan that a prepared statement falls back to.
func TestQueriesUseIndexes(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000,000 rows; skipped in -short mode")
	}
	t.Parallel()
	url := pgtest.SchemaURL(t, "explain")
	db, err := Open(context.Background(), url, Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	// The rows go in fastest into an unlogged table without its secondary
	// indexes, which are then built again from their own definitions.
	rows, err := conn.Query(ctx, `SELECT indexname, indexdef FROM pg_indexes
		WHERE schemaname = current_schema() AND tablename = 'notifications' AND indexname <> 'notifications_pkey'`)
	if err != nil {
		t.Fatal(err)
	}
	var drops, builds []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			t.Fatal(err)
		}
		drops = append(drops, "DROP INDEX "+pgx.Identifier{name}.Sanitize())
		builds = append(builds, def)
	}
	if rows.Err() != nil || len(builds) < 3 {
		t.Fatalf("indexes of notifications: %v, %v", builds, rows.Err())
	}
	start := time.Now()
	steps := append([]string{`ALTER TABLE notifications SET UNLOGGED`}, drops...)
	// A third read, a tenth with an expiry (some past), 100 per user.
	steps = append(steps,
		`INSERT INTO notifications (id, tenant_id, user_id, seq, type, title, message, created_at, read_at, expires_at)
		SELECT 'n' || g, 't', 'u' || (g % 10000), g / 10000 + 1, 'info', 'title', 'message', now(),
			CASE WHEN g % 3 = 0 THEN now() END,
			CASE WHEN g % 10 = 0 THEN now() + (g % 7 - 3) * interval '1 day' END
		FROM generate_series(0, 999999) g`,
		`INSERT INTO feeds (tenant_id, user_id, last_seq, unread, unseen)
		SELECT 't', 'u' || g, 100, 67, 100 FROM generate_series(0, 9999) g`)
	steps = append(append(steps, builds...), `ANALYZE notifications`, `ANALYZE feeds`)
	for _, sql := range steps {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Logf("1,000,000 rows in %v", time.Since(start).Round(time.Millisecond))

	now := time.Now()
	queries := []struct {
		name string
		sql  string
		args []any
	}{
		{"list", listQuery, []any{"t", "u42", int64(1 << 62), now, 21}},
		{"list page 3", listQuery, []any{"t", "u42", int64(60), now, 21}},
		{"unread list", listUnreadQuery, []any{"t", "u42", int64(1 << 62), now, 21}},
		{"replay", sinceQuery, []any{"t", "u42", int64(0), now, 100}},
		{"replay late", sinceQuery, []any{"t", "u42", int64(95), now, 100}},
		{"counts", countsQuery, []any{"t", "u42", now}},
		{"get", `SELECT ` + columns("") + ` FROM notifications WHERE id = $1 AND tenant_id = $2 AND user_id = $3 AND ` + visible("$4"),
			[]any{"n42", "t", "u42", now}},
	}
	for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
		if _, err := conn.Exec(ctx, "SET plan_cache_mode = "+mode); err != nil {
			t.Fatal(err)
		}
		for _, q := range queries {
			rows, err := conn.Query(ctx, "EXPLAIN "+q.sql, q.args...)
			if err != nil {
				t.Fatalf("%s: EXPLAIN: %v", q.name, err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatalf("%s: EXPLAIN: %v", q.name, err)
			}
			plan := strings.Join(lines, "\n")
			if strings.Contains(plan, "Seq Scan on notifications") || !strings.Contains(plan, "Index") {
				t.Errorf("%s (%s) scans the table:\n%s", q.name, mode, plan)
			}
		}
	}
}
