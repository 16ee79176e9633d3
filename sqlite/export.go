package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"herald"
)

// Export reads the store for `herald store copy`: up to limit stored
// notifications (expired ones too) whose row number is above after, in row
// order, and the row number to pass as after for the next batch.
func (db *DB) Export(ctx context.Context, after int64, limit int) ([]herald.Record, int64, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT rowid, `+columns+`, idempotency_key FROM notifications
		WHERE rowid > ? ORDER BY rowid LIMIT ?`, after, limit)
	if err != nil {
		return nil, after, fmt.Errorf("sqlite: export: %w", err)
	}
	defer rows.Close()
	var out []herald.Record
	for rows.Next() {
		var key sql.NullString
		var r herald.Record
		n, err := scanNotification(exportRow{rows, &after, &key})
		if err != nil {
			return nil, after, fmt.Errorf("sqlite: export: %w", err)
		}
		r.Notification, r.IdempotencyKey = n, key.String
		out = append(out, r)
	}
	return out, after, rows.Err()
}

// exportRow scans the rowid, the columns list and the idempotency key.
type exportRow struct {
	rows  *sql.Rows
	rowid *int64
	key   *sql.NullString
}

func (r exportRow) Scan(dest ...any) error {
	return r.rows.Scan(append(append([]any{r.rowid}, dest...), r.key)...)
}

// Heads returns every user's feed head.
func (db *DB) Heads(ctx context.Context) ([]herald.Head, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT tenant_id, user_id, last_seq FROM feeds ORDER BY tenant_id, user_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: heads: %w", err)
	}
	defer rows.Close()
	var out []herald.Head
	for rows.Next() {
		var h herald.Head
		if err := rows.Scan(&h.TenantID, &h.UserID, &h.LastSeq); err != nil {
			return nil, fmt.Errorf("sqlite: heads: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// StoredCounts returns, per user, how many notifications the store holds,
// expired ones included: what a copy must match.
func (db *DB) StoredCounts(ctx context.Context) (map[[2]string]int, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT tenant_id, user_id, count(*) FROM notifications GROUP BY tenant_id, user_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: stored counts: %w", err)
	}
	defer rows.Close()
	out := make(map[[2]string]int)
	for rows.Next() {
		var t, u string
		var n int
		if err := rows.Scan(&t, &u, &n); err != nil {
			return nil, fmt.Errorf("sqlite: stored counts: %w", err)
		}
		out[[2]string{t, u}] = n
	}
	return out, rows.Err()
}
