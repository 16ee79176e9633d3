package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"herald"
)

// columnNames are the columns that scanNotification reads, in its order.
var columnNames = []string{"id", "tenant_id", "user_id", "seq", "type", "title", "message", "data",
	"created_at", "read_at", "seen_at", "expires_at", "group_key"}

// columns returns the select list of scanNotification, each column
// qualified by prefix ("" or "n.").
func columns(prefix string) string {
	return prefix + strings.Join(columnNames, ", "+prefix)
}

// visible is the condition that hides expired notifications; $now is
// replaced by the parameter that holds the current time.
func visible(now string) string { return "(expires_at IS NULL OR expires_at > " + now + ")" }

// counted is the tail of a statement whose CTE "changed" returns
// tenant_id, user_id, was_unread and was_unseen for each notification that
// stopped being unread or unseen (or both: deleted): it takes them off the
// feeds' counters in the same statement, so that the counters stay exact.
const counted = `, counts AS (
	SELECT tenant_id, user_id,
		count(*) FILTER (WHERE was_unread) AS unread, count(*) FILTER (WHERE was_unseen) AS unseen
	FROM changed GROUP BY tenant_id, user_id
), counted AS (
	UPDATE feeds f SET unread = f.unread - c.unread, unseen = f.unseen - c.unseen
	FROM counts c WHERE f.tenant_id = c.tenant_id AND f.user_id = c.user_id
)`

// Get implements herald.Store.
func (db *DB) Get(ctx context.Context, tenantID, userID, id string) (herald.Notification, error) {
	n, err := scanNotification(db.pool.QueryRow(ctx, `SELECT `+columns("")+` FROM notifications
		WHERE id = $1 AND tenant_id = $2 AND user_id = $3 AND `+visible("$4"), id, tenantID, userID, db.now()))
	return n, notFound(err, "get")
}

// The queries of List and Since; each uses notifications_user_seq.
var (
	listQuery = `SELECT ` + columns("") + ` FROM notifications
		WHERE tenant_id = $1 AND user_id = $2 AND seq < $3 AND ` + visible("$4") + `
		ORDER BY seq DESC LIMIT $5`
	listUnreadQuery = `SELECT ` + columns("") + ` FROM notifications
		WHERE tenant_id = $1 AND user_id = $2 AND seq < $3 AND read_at IS NULL AND ` + visible("$4") + `
		ORDER BY seq DESC LIMIT $5`
	sinceQuery = `SELECT ` + columns("") + ` FROM notifications
		WHERE tenant_id = $1 AND user_id = $2 AND seq > $3 AND ` + visible("$4") + `
		ORDER BY seq ASC LIMIT $5`
	// countsQuery is O(1) in the number of unread notifications: the
	// feed's counters, less the unread or unseen ones that have expired
	// but are not purged (notifications_user_expiring).
	countsQuery = `SELECT coalesce(f.unread, 0) - x.unread, coalesce(f.unseen, 0) - x.unseen
		FROM (SELECT count(*) FILTER (WHERE read_at IS NULL) AS unread, count(*) FILTER (WHERE seen_at IS NULL) AS unseen
			FROM notifications WHERE tenant_id = $1 AND user_id = $2 AND expires_at <= $3
			AND expires_at IS NOT NULL AND (read_at IS NULL OR seen_at IS NULL)) x
		LEFT JOIN feeds f ON f.tenant_id = $1 AND f.user_id = $2`
)

// List implements herald.Store.
func (db *DB) List(ctx context.Context, tenantID, userID string, opts herald.ListOptions) (herald.Page, error) {
	before := int64(math.MaxInt64)
	if opts.Before != "" {
		seq, err := herald.DecodeSeqCursor(opts.Before)
		if err != nil {
			return herald.Page{}, err
		}
		before = seq
	}
	limit := herald.ClampLimit(opts.Limit, herald.DefaultListLimit, herald.MaxListLimit)
	query := listQuery
	if opts.UnreadOnly {
		query = listUnreadQuery
	}
	// One extra row tells whether there is a next page.
	ns, err := db.query(ctx, limit+1, query, tenantID, userID, before, db.now(), limit+1)
	if err != nil {
		return herald.Page{}, fmt.Errorf("postgres: list: %w", err)
	}
	return herald.PageOf(ns, limit), nil
}

// Since implements herald.Store.
func (db *DB) Since(ctx context.Context, tenantID, userID string, afterSeq int64, limit int) ([]herald.Notification, error) {
	limit = herald.ClampLimit(limit, herald.DefaultReplayLimit, herald.MaxReplayLimit)
	ns, err := db.query(ctx, limit, sinceQuery, tenantID, userID, afterSeq, db.now(), limit)
	if err != nil {
		return nil, fmt.Errorf("postgres: since: %w", err)
	}
	return ns, nil
}

// UnreadCount implements herald.Store.
func (db *DB) UnreadCount(ctx context.Context, tenantID, userID string) (int, error) {
	c, err := db.Counts(ctx, tenantID, userID)
	return c.Unread, err
}

// Counts implements herald.Store.
func (db *DB) Counts(ctx context.Context, tenantID, userID string) (herald.Counts, error) {
	var c herald.Counts
	if err := db.pool.QueryRow(ctx, countsQuery, tenantID, userID, db.now()).Scan(&c.Unread, &c.Unseen); err != nil {
		return herald.Counts{}, fmt.Errorf("postgres: counts: %w", wrap(err))
	}
	return c, nil
}

// MarkRead implements herald.Store. The row is locked first, so that of
// two racing calls one changes it and the other sees it read.
func (db *DB) MarkRead(ctx context.Context, tenantID, userID, id string) (herald.Notification, error) {
	n, err := scanNotification(db.pool.QueryRow(ctx, `WITH target AS (
			SELECT `+columns("")+` FROM notifications
			WHERE id = $1 AND tenant_id = $2 AND user_id = $3 AND `+visible("$4")+` FOR UPDATE
		), changed AS (
			UPDATE notifications n SET read_at = $4 FROM target t
			WHERE n.id = t.id AND t.read_at IS NULL
			RETURNING `+columns("n.")+`, true AS was_unread, false AS was_unseen
		)`+counted+`
		SELECT `+columns("")+` FROM changed
		UNION ALL SELECT `+columns("")+` FROM target WHERE read_at IS NOT NULL`,
		id, tenantID, userID, db.now()))
	return n, notFound(err, "mark read")
}

// markMany sets column (read_at or seen_at) to now on the user's visible
// notifications where it is NULL, restricted to ids unless ids is nil,
// and returns the ids changed.
func (db *DB) markMany(ctx context.Context, column, tenantID, userID string, ids []string) ([]string, error) {
	only := ""
	args := []any{tenantID, userID, db.now()}
	if ids != nil {
		only = " AND id = ANY($4)"
		args = append(args, ids)
	}
	query := `WITH changed AS (
			UPDATE notifications SET ` + column + ` = $3
			WHERE tenant_id = $1 AND user_id = $2 AND ` + column + ` IS NULL AND ` + visible("$3") + only + `
			RETURNING id, tenant_id, user_id, ` + fmt.Sprint(column == "read_at") + ` AS was_unread, ` +
		fmt.Sprint(column == "seen_at") + ` AS was_unseen
		)` + counted + `
		SELECT id FROM changed`
	rows, err := db.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, wrap(err)
	}
	changed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return changed, wrap(err)
}

// MarkReadMany implements herald.Store.
func (db *DB) MarkReadMany(ctx context.Context, tenantID, userID string, ids []string) ([]string, error) {
	if err := herald.CheckIDs(ids); err != nil {
		return nil, err
	}
	changed, err := db.markMany(ctx, "read_at", tenantID, userID, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: mark read: %w", err)
	}
	set := make(map[string]bool, len(changed))
	for _, id := range changed {
		set[id] = true
	}
	return herald.InOrder(ids, set), nil
}

// MarkAllRead implements herald.Store.
func (db *DB) MarkAllRead(ctx context.Context, tenantID, userID string) (int, error) {
	changed, err := db.markMany(ctx, "read_at", tenantID, userID, nil)
	if err != nil {
		return 0, fmt.Errorf("postgres: mark all read: %w", err)
	}
	return len(changed), nil
}

// MarkSeen implements herald.Store.
func (db *DB) MarkSeen(ctx context.Context, tenantID, userID string, ids []string) (int, error) {
	if err := herald.CheckIDs(ids); err != nil {
		return 0, err
	}
	changed, err := db.markMany(ctx, "seen_at", tenantID, userID, ids)
	if err != nil {
		return 0, fmt.Errorf("postgres: mark seen: %w", err)
	}
	return len(changed), nil
}

// MarkAllSeen implements herald.Store.
func (db *DB) MarkAllSeen(ctx context.Context, tenantID, userID string) (int, error) {
	changed, err := db.markMany(ctx, "seen_at", tenantID, userID, nil)
	if err != nil {
		return 0, fmt.Errorf("postgres: mark all seen: %w", err)
	}
	return len(changed), nil
}

// deleteQuery deletes the visible notifications that match where (with
// $1 the current time) and returns them, keeping the counters exact.
func deleteQuery(where string) string {
	return `WITH gone AS (
			DELETE FROM notifications WHERE ` + visible("$1") + ` AND ` + where + `
			RETURNING ` + columns("") + `
		), changed AS (
			SELECT tenant_id, user_id, read_at IS NULL AS was_unread, seen_at IS NULL AS was_unseen FROM gone
		)` + counted + `
		SELECT ` + columns("") + ` FROM gone`
}

var (
	deleteOneQuery  = deleteQuery(`id = $2 AND tenant_id = $3 AND user_id = $4`)
	deleteAllQuery  = deleteQuery(`tenant_id = $2 AND user_id = $3`)
	deleteByIDQuery = deleteQuery(`id = $2`)
)

// Delete implements herald.Store.
func (db *DB) Delete(ctx context.Context, tenantID, userID, id string) error {
	_, err := scanNotification(db.pool.QueryRow(ctx, deleteOneQuery, db.now(), id, tenantID, userID))
	return notFound(err, "delete")
}

// DeleteAll implements herald.Store.
func (db *DB) DeleteAll(ctx context.Context, tenantID, userID string) (int, error) {
	tag, err := db.pool.Exec(ctx, deleteAllQuery, db.now(), tenantID, userID)
	if err != nil {
		return 0, fmt.Errorf("postgres: delete all: %w", wrap(err))
	}
	return int(tag.RowsAffected()), nil
}

// DeleteByID implements herald.Store.
func (db *DB) DeleteByID(ctx context.Context, id string) (herald.Notification, error) {
	n, err := scanNotification(db.pool.QueryRow(ctx, deleteByIDQuery, db.now(), id))
	return n, notFound(err, "delete by id")
}

// purgeBatch is how many expired rows one purge transaction deletes.
const purgeBatch = 1000

// PurgeExpired implements herald.Store. It deletes in batches of
// purgeBatch rows, each its own short transaction, skipping rows that
// other transactions hold (another node's purge takes those). Each batch
// locks the head rows of its users in sorted order before it changes
// their counters, as creates do, so that the two cannot deadlock.
func (db *DB) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, err := db.purgeBatch(ctx, now)
		total += n
		if err != nil {
			return total, fmt.Errorf("postgres: purge expired: %w", err)
		}
		if n < purgeBatch {
			return total, nil
		}
	}
}

func (db *DB) purgeBatch(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := db.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var ids []string
		var users []userKey
		rows, err := tx.Query(ctx, `SELECT id, tenant_id, user_id FROM notifications
			WHERE expires_at <= $1 AND expires_at IS NOT NULL LIMIT $2 FOR UPDATE SKIP LOCKED`, now, purgeBatch)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			var k userKey
			if err := rows.Scan(&id, &k.tenant, &k.user); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			users = append(users, k)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		if err := lockHeads(ctx, tx, users); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `WITH gone AS (
				DELETE FROM notifications WHERE id = ANY($1) RETURNING tenant_id, user_id, read_at, seen_at
			), changed AS (
				SELECT tenant_id, user_id, read_at IS NULL AS was_unread, seen_at IS NULL AS was_unseen FROM gone
			)`+counted+` SELECT 1 FROM gone`, ids)
		n = int(tag.RowsAffected())
		return err
	})
	return n, err
}

var errNotFound = herald.Errorf(herald.ENOTFOUND, "Notification not found.")

// notFound turns pgx.ErrNoRows into ENOTFOUND and wraps other errors.
func notFound(err error, op string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return errNotFound
	}
	return fmt.Errorf("postgres: %s: %w", op, wrap(err))
}

// scanNotification reads one row of the columns select list.
func scanNotification(row pgx.Row) (herald.Notification, error) {
	var (
		n                         herald.Notification
		data                      []byte
		readAt, seenAt, expiresAt *time.Time
		groupKey                  *string
	)
	if err := row.Scan(&n.ID, &n.TenantID, &n.UserID, &n.Seq, &n.Type, &n.Title, &n.Message,
		&data, &n.CreatedAt, &readAt, &seenAt, &expiresAt, &groupKey); err != nil {
		return herald.Notification{}, err
	}
	if data != nil {
		n.Data = data
	}
	n.CreatedAt = n.CreatedAt.UTC()
	n.Status = herald.StatusUnread
	if readAt != nil {
		n.ReadAt = utc(readAt)
		n.Status = herald.StatusRead
	}
	n.SeenAt = utc(seenAt)
	n.ExpiresAt = utc(expiresAt)
	if groupKey != nil {
		n.GroupKey = *groupKey
	}
	return n, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// query runs a select of the columns list; capacity sizes the result. The
// result is never nil.
func (db *DB) query(ctx context.Context, capacity int, sql string, args ...any) ([]herald.Notification, error) {
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap(err)
	}
	defer rows.Close()
	ns := make([]herald.Notification, 0, min(capacity, 32))
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	return ns, wrap(rows.Err())
}

// userKey is a user of a tenant.
type userKey struct{ tenant, user string }

func compareUsers(a, b userKey) int {
	if c := strings.Compare(a.tenant, b.tenant); c != 0 {
		return c
	}
	return strings.Compare(a.user, b.user)
}

// sortedUsers returns the distinct users of keys in the order in which
// every transaction locks head rows.
func sortedUsers(keys []userKey) []userKey {
	users := slices.Clone(keys)
	slices.SortFunc(users, compareUsers)
	return slices.Compact(users)
}
