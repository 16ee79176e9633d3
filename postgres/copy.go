package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"herald"
)

// The side of `herald store copy` that writes: records go in as they are
// (ids, seqs, times, read and seen state, idempotency keys), in batches,
// each batch one transaction that also records how far the copy got.

// CopyProgress returns the position after which the copy from source
// resumes: the after of its last Import, 0 if none.
func (db *DB) CopyProgress(ctx context.Context, source string) (int64, error) {
	var after int64
	err := db.pool.QueryRow(ctx, `SELECT after FROM herald_copy_progress WHERE source = $1`, source).Scan(&after)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("postgres: copy progress: %w", wrap(err))
	}
	return after, nil
}

// Import stores a batch of records, skipping those whose id (or user and
// seq, or idempotency key) is already stored, so that a batch may be
// imported twice. It raises the heads of the records' users to at least
// their seqs, recounts those users' unread and unseen notifications, and
// records after as the progress of the copy from source, in one
// transaction. It returns how many records it stored.
func (db *DB) Import(ctx context.Context, source string, records []herald.Record, after int64) (int, error) {
	if len(records) > chunkRows {
		return 0, herald.Errorf(herald.EINVALID, "At most %d records can be imported at once.", chunkRows)
	}
	top := make(map[userKey]int64)
	var keys []userKey
	r := makeRows(len(records))
	var createdAt, readAt, seenAt []*time.Time
	for i := range records {
		n := &records[i].Notification
		k := userKey{n.TenantID, n.UserID}
		keys = append(keys, k)
		top[k] = max(top[k], n.Seq)
		r.add(n, &herald.NewNotification{IdempotencyKey: records[i].IdempotencyKey})
		c := n.CreatedAt
		createdAt, readAt, seenAt = append(createdAt, &c), append(readAt, n.ReadAt), append(seenAt, n.SeenAt)
	}
	users := sortedUsers(keys)
	heads := make([]herald.Head, len(users))
	for i, k := range users {
		heads[i] = herald.Head{TenantID: k.tenant, UserID: k.user, LastSeq: top[k]}
	}
	stored := 0
	err := db.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		if err := raiseHeads(ctx, tx, heads); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO notifications
			(id, tenant_id, user_id, seq, type, title, message, data, created_at, read_at, seen_at, expires_at, group_key, idempotency_key)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[],
				$8::json[], $9::timestamptz[], $10::timestamptz[], $11::timestamptz[], $12::timestamptz[], $13::text[], $14::text[])
			ON CONFLICT DO NOTHING`,
			r.id, r.tenant, r.user, r.seq, r.typ, r.title, r.message, r.data, createdAt, readAt, seenAt, r.expiresAt, r.groupKey, r.key)
		if err != nil {
			return err
		}
		stored = int(tag.RowsAffected())
		tenants, ids := splitUsers(users)
		if _, err := tx.Exec(ctx, `UPDATE feeds f SET
			unread = (SELECT count(*) FROM notifications n WHERE n.tenant_id = f.tenant_id AND n.user_id = f.user_id AND n.read_at IS NULL),
			unseen = (SELECT count(*) FROM notifications n WHERE n.tenant_id = f.tenant_id AND n.user_id = f.user_id AND n.seen_at IS NULL)
			FROM unnest($1::text[], $2::text[]) AS x(t, u) WHERE f.tenant_id = x.t AND f.user_id = x.u`, tenants, ids); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO herald_copy_progress (source, after) VALUES ($1, $2)
			ON CONFLICT (source) DO UPDATE SET after = EXCLUDED.after, updated_at = now()`, source, after)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: import: %w", err)
	}
	return stored, nil
}

// ImportHeads raises each user's head to at least the given last seq, so
// that the seqs of notifications deleted before the copy are not given
// again.
func (db *DB) ImportHeads(ctx context.Context, heads []herald.Head) error {
	for start := 0; start < len(heads); start += chunkRows {
		batch := heads[start:min(start+chunkRows, len(heads))]
		if err := db.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error { return raiseHeads(ctx, tx, batch) }); err != nil {
			return fmt.Errorf("postgres: import heads: %w", err)
		}
	}
	return nil
}

// raiseHeads upserts the heads (in sorted order, taking their locks) with
// last_seq at least as given.
func raiseHeads(ctx context.Context, tx pgx.Tx, heads []herald.Head) error {
	byUser := make(map[userKey]int64, len(heads))
	keys := make([]userKey, len(heads))
	for i, h := range heads {
		keys[i] = userKey{h.TenantID, h.UserID}
		byUser[keys[i]] = max(byUser[keys[i]], h.LastSeq)
	}
	users := sortedUsers(keys)
	tenants, ids := splitUsers(users)
	seqs := make([]int64, len(users))
	for i, k := range users {
		seqs[i] = byUser[k]
	}
	_, err := tx.Exec(ctx, `INSERT INTO feeds AS f (tenant_id, user_id, last_seq)
		SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
		ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_seq = greatest(f.last_seq, EXCLUDED.last_seq)`, tenants, ids, seqs)
	return err
}

// StoredCounts returns, per user ({tenant, user}), how many notifications
// the store holds, expired ones included.
func (db *DB) StoredCounts(ctx context.Context) (map[[2]string]int, error) {
	rows, err := db.pool.Query(ctx, `SELECT tenant_id, user_id, count(*) FROM notifications GROUP BY tenant_id, user_id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: stored counts: %w", wrap(err))
	}
	out := make(map[[2]string]int)
	var t, u string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&t, &u, &n}, func() error {
		out[[2]string{t, u}] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: stored counts: %w", wrap(err))
	}
	return out, nil
}
