package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"herald"
)

// columns is the select list that scanNotification reads.
const columns = `id, tenant_id, user_id, seq, type, title, message, data, created_at, read_at, seen_at, expires_at, group_key`

// visible is the condition that hides expired notifications; its parameter
// is the current time in Unix milliseconds.
const visible = `(expires_at IS NULL OR expires_at > ?)`

// statements are prepared once on Open. Those on the write connection run
// under writeMu; those on the reader pool are re-prepared by database/sql on
// each reader connection as it is first used.
type statements struct {
	// writer
	nextSeq     *sql.Stmt
	insert      *sql.Stmt
	byKey       *sql.Stmt
	markRead    *sql.Stmt
	markAllRead *sql.Stmt
	markReadIDs *sql.Stmt
	markSeenIDs *sql.Stmt
	markAllSeen *sql.Stmt
	delete      *sql.Stmt
	deleteAll   *sql.Stmt
	deleteByID  *sql.Stmt
	purge       *sql.Stmt
	// readers
	get         *sql.Stmt
	list        *sql.Stmt
	listUnread  *sql.Stmt
	since       *sql.Stmt
	unreadCount *sql.Stmt
	counts      *sql.Stmt
}

// unreadCountQuery counts a user's unread, unexpired notifications: the
// counter kept by triggers, less the unread ones that expired.
const unreadCountQuery = `SELECT
	coalesce((SELECT unread FROM feeds WHERE tenant_id = ?1 AND user_id = ?2), 0) -
	(SELECT count(*) FROM notifications
		WHERE tenant_id = ?1 AND user_id = ?2 AND read_at IS NULL AND expires_at <= ?3)`

// countsQuery is unreadCountQuery for both counters.
const countsQuery = `SELECT
	coalesce((SELECT unread FROM feeds WHERE tenant_id = ?1 AND user_id = ?2), 0) -
	(SELECT count(*) FROM notifications
		WHERE tenant_id = ?1 AND user_id = ?2 AND read_at IS NULL AND expires_at <= ?3),
	coalesce((SELECT unseen FROM feeds WHERE tenant_id = ?1 AND user_id = ?2), 0) -
	(SELECT count(*) FROM notifications
		WHERE tenant_id = ?1 AND user_id = ?2 AND seen_at IS NULL AND expires_at <= ?3)`

// preparer is *sql.DB or *sql.Conn.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

func (s *statements) prepare(ctx context.Context, write *sql.Conn, read *sql.DB) error {
	queries := []struct {
		db    preparer
		stmt  **sql.Stmt
		query string
	}{
		// The seq, and what Create needs for the user's unread count: the
		// counter before the insert that follows, and the unread
		// notifications that expired (unreadCountQuery, without a statement
		// of its own).
		{write, &s.nextSeq, `INSERT INTO feeds (tenant_id, user_id, last_seq) VALUES (?1, ?2, 1)
			ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_seq = last_seq + 1
			RETURNING last_seq, unread, unseen, (SELECT count(*) FROM notifications
				WHERE tenant_id = ?1 AND user_id = ?2 AND read_at IS NULL AND expires_at <= ?3),
				(SELECT count(*) FROM notifications
				WHERE tenant_id = ?1 AND user_id = ?2 AND seen_at IS NULL AND expires_at <= ?3)`},
		{write, &s.insert, `INSERT INTO notifications
			(id, tenant_id, user_id, seq, type, title, message, data, created_at, expires_at, group_key, idempotency_key)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{write, &s.byKey, `SELECT ` + columns + ` FROM notifications
			WHERE tenant_id = ? AND user_id = ? AND idempotency_key = ?`},
		{write, &s.markRead, `UPDATE notifications SET read_at = coalesce(read_at, ?)
			WHERE id = ? AND tenant_id = ? AND user_id = ? AND ` + visible + `
			RETURNING ` + columns},
		{write, &s.markAllRead, `UPDATE notifications SET read_at = ?
			WHERE tenant_id = ? AND user_id = ? AND read_at IS NULL AND ` + visible},
		{write, &s.markReadIDs, `UPDATE notifications SET read_at = ?
			WHERE tenant_id = ? AND user_id = ? AND read_at IS NULL AND ` + visible + `
			AND id IN (SELECT value FROM json_each(?)) RETURNING id`},
		{write, &s.markSeenIDs, `UPDATE notifications SET seen_at = ?
			WHERE tenant_id = ? AND user_id = ? AND seen_at IS NULL AND ` + visible + `
			AND id IN (SELECT value FROM json_each(?))`},
		{write, &s.markAllSeen, `UPDATE notifications SET seen_at = ?
			WHERE tenant_id = ? AND user_id = ? AND seen_at IS NULL AND ` + visible},
		{write, &s.delete, `DELETE FROM notifications
			WHERE id = ? AND tenant_id = ? AND user_id = ? AND ` + visible},
		{write, &s.deleteAll, `DELETE FROM notifications
			WHERE tenant_id = ? AND user_id = ? AND ` + visible},
		{write, &s.deleteByID, `DELETE FROM notifications WHERE id = ? AND ` + visible + ` RETURNING ` + columns},
		// In chunks, so that a large purge never holds the write lock for long.
		{write, &s.purge, `DELETE FROM notifications WHERE rowid IN
			(SELECT rowid FROM notifications WHERE expires_at <= ? LIMIT ?)`},

		{read, &s.get, `SELECT ` + columns + ` FROM notifications
			WHERE id = ? AND tenant_id = ? AND user_id = ? AND ` + visible},
		{read, &s.list, `SELECT ` + columns + ` FROM notifications
			WHERE tenant_id = ? AND user_id = ? AND seq < ? AND ` + visible + `
			ORDER BY seq DESC LIMIT ?`},
		{read, &s.listUnread, `SELECT ` + columns + ` FROM notifications
			WHERE tenant_id = ? AND user_id = ? AND seq < ? AND read_at IS NULL AND ` + visible + `
			ORDER BY seq DESC LIMIT ?`},
		{read, &s.since, `SELECT ` + columns + ` FROM notifications
			WHERE tenant_id = ? AND user_id = ? AND seq > ? AND ` + visible + `
			ORDER BY seq ASC LIMIT ?`},
		// O(1) in the number of unread notifications: the counter kept by
		// triggers, less the unread ones that have expired but are not purged.
		{read, &s.unreadCount, unreadCountQuery},
		{read, &s.counts, countsQuery},
	}
	for _, q := range queries {
		stmt, err := q.db.PrepareContext(ctx, q.query)
		if err != nil {
			s.close()
			return fmt.Errorf("prepare %q: %w", q.query, err)
		}
		*q.stmt = stmt
	}
	return nil
}

func (s *statements) close() {
	for _, stmt := range []*sql.Stmt{
		s.nextSeq, s.insert, s.byKey, s.markRead, s.markAllRead, s.delete, s.deleteAll, s.deleteByID,
		s.purge, s.get, s.list, s.listUnread, s.since, s.unreadCount,
		s.markReadIDs, s.markSeenIDs, s.markAllSeen, s.counts,
	} {
		if stmt != nil {
			stmt.Close()
		}
	}
}

// Get implements herald.Store.
func (db *DB) Get(ctx context.Context, tenantID, userID, id string) (herald.Notification, error) {
	n, err := scanNotification(db.stmts.get.QueryRowContext(ctx, id, tenantID, userID, db.now().UnixMilli()))
	return n, notFound(err, "get")
}

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
	stmt := db.stmts.list
	if opts.UnreadOnly {
		stmt = db.stmts.listUnread
	}
	// One extra row tells whether there is a next page.
	ns, err := queryNotifications(ctx, stmt, limit+1, tenantID, userID, before, db.now().UnixMilli(), limit+1)
	if err != nil {
		return herald.Page{}, fmt.Errorf("sqlite: list: %w", err)
	}
	return herald.PageOf(ns, limit), nil
}

// Since implements herald.Store.
func (db *DB) Since(ctx context.Context, tenantID, userID string, afterSeq int64, limit int) ([]herald.Notification, error) {
	limit = herald.ClampLimit(limit, herald.DefaultReplayLimit, herald.MaxReplayLimit)
	ns, err := queryNotifications(ctx, db.stmts.since, limit, tenantID, userID, afterSeq, db.now().UnixMilli(), limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: since: %w", err)
	}
	return ns, nil
}

// UnreadCount implements herald.Store.
func (db *DB) UnreadCount(ctx context.Context, tenantID, userID string) (int, error) {
	var n int
	if err := db.stmts.unreadCount.QueryRowContext(ctx, tenantID, userID, db.now().UnixMilli()).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: unread count: %w", err)
	}
	return n, nil
}

// Counts implements herald.Store.
func (db *DB) Counts(ctx context.Context, tenantID, userID string) (herald.Counts, error) {
	var c herald.Counts
	if err := db.stmts.counts.QueryRowContext(ctx, tenantID, userID, db.now().UnixMilli()).Scan(&c.Unread, &c.Unseen); err != nil {
		return c, fmt.Errorf("sqlite: counts: %w", err)
	}
	return c, nil
}

// MarkReadMany implements herald.Store.
func (db *DB) MarkReadMany(ctx context.Context, tenantID, userID string, ids []string) ([]string, error) {
	if err := herald.CheckIDs(ids); err != nil {
		return nil, err
	}
	list, _ := json.Marshal(ids)
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	defer db.committed() // a write outside inWriteTx: the WAL may have grown
	now := db.now().UnixMilli()
	rows, err := db.stmts.markReadIDs.QueryContext(ctx, now, tenantID, userID, now, string(list))
	if err != nil {
		return nil, fmt.Errorf("sqlite: mark read: %w", err)
	}
	defer rows.Close()
	changed := make(map[string]bool)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlite: mark read: %w", err)
		}
		changed[id] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: mark read: %w", err)
	}
	return herald.InOrder(ids, changed), nil
}

// MarkSeen implements herald.Store.
func (db *DB) MarkSeen(ctx context.Context, tenantID, userID string, ids []string) (int, error) {
	if err := herald.CheckIDs(ids); err != nil {
		return 0, err
	}
	list, _ := json.Marshal(ids)
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	defer db.committed() // a write outside inWriteTx: the WAL may have grown
	now := db.now().UnixMilli()
	n, err := rowsAffected(db.stmts.markSeenIDs.ExecContext(ctx, now, tenantID, userID, now, string(list)))
	if err != nil {
		return 0, fmt.Errorf("sqlite: mark seen: %w", err)
	}
	return n, nil
}

// MarkAllSeen implements herald.Store.
func (db *DB) MarkAllSeen(ctx context.Context, tenantID, userID string) (int, error) {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	defer db.committed() // a write outside inWriteTx: the WAL may have grown
	now := db.now().UnixMilli()
	n, err := rowsAffected(db.stmts.markAllSeen.ExecContext(ctx, now, tenantID, userID, now))
	if err != nil {
		return 0, fmt.Errorf("sqlite: mark all seen: %w", err)
	}
	return n, nil
}

// MarkRead implements herald.Store.
func (db *DB) MarkRead(ctx context.Context, tenantID, userID, id string) (herald.Notification, error) {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	defer db.committed() // a write outside inWriteTx: the WAL may have grown
	now := db.now().UnixMilli()
	n, err := scanNotification(db.stmts.markRead.QueryRowContext(ctx, now, id, tenantID, userID, now))
	return n, notFound(err, "mark read")
}

// MarkAllRead implements herald.Store.
func (db *DB) MarkAllRead(ctx context.Context, tenantID, userID string) (int, error) {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	defer db.committed() // a write outside inWriteTx: the WAL may have grown
	now := db.now().UnixMilli()
	n, err := rowsAffected(db.stmts.markAllRead.ExecContext(ctx, now, tenantID, userID, now))
	if err != nil {
		return 0, fmt.Errorf("sqlite: mark all read: %w", err)
	}
	return n, nil
}

// Delete implements herald.Store.
func (db *DB) Delete(ctx context.Context, tenantID, userID, id string) error {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	defer db.committed() // a write outside inWriteTx: the WAL may have grown
	n, err := rowsAffected(db.stmts.delete.ExecContext(ctx, id, tenantID, userID, db.now().UnixMilli()))
	if err != nil {
		return fmt.Errorf("sqlite: delete: %w", err)
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

// DeleteAll implements herald.Store.
func (db *DB) DeleteAll(ctx context.Context, tenantID, userID string) (int, error) {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	defer db.committed() // a write outside inWriteTx: the WAL may have grown
	n, err := rowsAffected(db.stmts.deleteAll.ExecContext(ctx, tenantID, userID, db.now().UnixMilli()))
	if err != nil {
		return 0, fmt.Errorf("sqlite: delete all: %w", err)
	}
	return n, nil
}

// DeleteByID implements herald.Store.
func (db *DB) DeleteByID(ctx context.Context, id string) (herald.Notification, error) {
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	defer db.committed() // a write outside inWriteTx: the WAL may have grown
	n, err := scanNotification(db.stmts.deleteByID.QueryRowContext(ctx, id, db.now().UnixMilli()))
	return n, notFound(err, "delete by id")
}

// purgeChunk is how many expired rows one purge statement deletes.
const purgeChunk = 1000

// PurgeExpired implements herald.Store. It deletes in chunks of purgeChunk
// rows, each its own transaction, so that other writes are not held up.
func (db *DB) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		db.writeMu.Lock()
		n, err := rowsAffected(db.stmts.purge.ExecContext(ctx, now.UnixMilli(), purgeChunk))
		db.writeMu.Unlock()
		db.committed()
		total += n
		if err != nil {
			return total, fmt.Errorf("sqlite: purge expired: %w", err)
		}
		if n < purgeChunk {
			return total, nil
		}
	}
}

var errNotFound = herald.Errorf(herald.ENOTFOUND, "Notification not found.")

// notFound turns sql.ErrNoRows into ENOTFOUND and wraps other errors.
func notFound(err error, op string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return errNotFound
	}
	return fmt.Errorf("sqlite: %s: %w", op, err)
}

func rowsAffected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// nullString maps "" to SQL NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanNotification reads one row of the columns select list.
func scanNotification(row scanner) (herald.Notification, error) {
	var (
		n              herald.Notification
		createdAt      int64
		readAt, seenAt sql.NullInt64
		expiresAt      sql.NullInt64
		groupKey       sql.NullString
	)
	if err := row.Scan(&n.ID, &n.TenantID, &n.UserID, &n.Seq, &n.Type, &n.Title, &n.Message,
		(*[]byte)(&n.Data), &createdAt, &readAt, &seenAt, &expiresAt, &groupKey); err != nil {
		return herald.Notification{}, err
	}
	n.CreatedAt = time.UnixMilli(createdAt).UTC()
	n.Status = herald.StatusUnread
	if readAt.Valid {
		t := time.UnixMilli(readAt.Int64).UTC()
		n.ReadAt = &t
		n.Status = herald.StatusRead
	}
	if seenAt.Valid {
		t := time.UnixMilli(seenAt.Int64).UTC()
		n.SeenAt = &t
	}
	if expiresAt.Valid {
		t := time.UnixMilli(expiresAt.Int64).UTC()
		n.ExpiresAt = &t
	}
	n.GroupKey = groupKey.String
	return n, nil
}

// queryNotifications runs a select of the columns list; capacity sizes the
// result. The result is never nil.
func queryNotifications(ctx context.Context, stmt *sql.Stmt, capacity int, args ...any) ([]herald.Notification, error) {
	rows, err := stmt.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
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
	return ns, rows.Err()
}
