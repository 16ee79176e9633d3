package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"herald"
	"herald/internal/groupcommit"
)

// Group commit (internal/groupcommit): a commit costs far more than an
// insert (several WAL page writes, each a system call), so concurrent
// Create calls are queued for one writer goroutine that commits everything
// waiting in one transaction. A lone call is committed at once, and each
// call stays all-or-nothing.
const (
	maxGroupRequests      = 256                   // Create calls in one transaction
	maxGroupNotifications = herald.MaxCreateBatch // notifications in one transaction
)

// errClosed is returned by Create after Close.
var errClosed = errors.New("sqlite: database is closed")

// createCall is one Create call waiting for the writer.
type createCall = groupcommit.Call[[]herald.NewNotification, []herald.Notification]

// newCreates returns the queue of Create calls, served by one writer.
func (db *DB) newCreates() *groupcommit.Queue[[]herald.NewNotification, []herald.Notification] {
	return groupcommit.New(groupcommit.Config[[]herald.NewNotification, []herald.Notification]{
		Commit:   db.commitGroup,
		Size:     herald.BatchSize,
		Wrap:     func(err error) error { return fmt.Errorf("sqlite: create: %w", err) },
		Closed:   errClosed,
		Workers:  1, // SQLite has one writer
		MaxCalls: maxGroupRequests,
		MaxItems: maxGroupNotifications,
	})
}

// Create implements herald.Store. If ctx ends while the call waits for its
// commit, Create returns ctx's error, but the notifications may still be
// stored; retries with an idempotency key are safe.
func (db *DB) Create(ctx context.Context, ns []herald.NewNotification) ([]herald.Notification, error) {
	if err := herald.ValidateBatch(ns); err != nil {
		return nil, err
	}
	return db.creates.Do(ctx, ns)
}

// commitGroup stores the calls' notifications in one transaction, setting
// each call's Out.
func (db *DB) commitGroup(ctx context.Context, group []*createCall) error {
	now := db.now()
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	return db.inWriteTx(ctx, func() error {
		for _, c := range group {
			var err error
			if c.Out, err = db.insert(ctx, now, c.In); err != nil {
				return err
			}
		}
		return nil
	})
}

// insert stores validated notifications, created at now, and returns them in
// input order (existing ones for repeated idempotency keys). The caller holds
// writeMu and has begun a transaction.
func (db *DB) insert(ctx context.Context, now time.Time, ns []herald.NewNotification) ([]herald.Notification, error) {
	out := make([]herald.Notification, len(ns))
	for i := range ns {
		n := &ns[i]
		if db.failInsert != nil {
			if err := db.failInsert(n); err != nil {
				return nil, err
			}
		}
		if n.IdempotencyKey != "" {
			existing, err := scanNotification(db.stmts.byKey.QueryRowContext(ctx, n.TenantID, n.UserID, n.IdempotencyKey))
			if err == nil {
				existing.Existing = true
				out[i] = existing
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return nil, err
			}
		}

		var seq int64
		var unread, unseen, expiredUnread, expiredUnseen int
		if err := db.stmts.nextSeq.QueryRowContext(ctx, n.TenantID, n.UserID, now.UnixMilli()).Scan(&seq, &unread, &unseen, &expiredUnread, &expiredUnseen); err != nil {
			return nil, err
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		created := herald.Notification{
			ID:        id.String(),
			UserID:    n.UserID,
			TenantID:  n.TenantID,
			Seq:       seq,
			Type:      n.Type,
			Title:     n.Title,
			Message:   n.Message,
			Status:    herald.StatusUnread,
			CreatedAt: now,
			GroupKey:  n.GroupKey,
		}
		var data any
		if len(n.Data) > 0 && string(n.Data) != "null" {
			created.Data = bytes.Clone(n.Data)
			data = string(n.Data)
		}
		var expiresAt any
		if !n.ExpiresAt.IsZero() {
			t := time.UnixMilli(n.ExpiresAt.UnixMilli()).UTC()
			created.ExpiresAt = &t
			expiresAt = t.UnixMilli()
			if !t.After(now) {
				// expired on arrival: counted as unread, not as visible
				expiredUnread++
				expiredUnseen++
			}
		}
		// The user's counts once this one is stored: the trigger adds it
		// to feeds.unread and feeds.unseen.
		created.UnreadCount = unread + 1 - expiredUnread
		created.UnseenCount = unseen + 1 - expiredUnseen
		if _, err := db.stmts.insert.ExecContext(ctx,
			created.ID, n.TenantID, n.UserID, seq, n.Type, n.Title, n.Message,
			data, now.UnixMilli(), expiresAt, nullString(n.GroupKey), nullString(n.IdempotencyKey),
		); err != nil {
			return nil, err
		}
		out[i] = created
	}
	setUnreadCounts(out)
	return out, nil
}

// setUnreadCounts gives every new notification of out its user's counts
// after the whole call, which insert has set on the user's last one.
func setUnreadCounts(out []herald.Notification) {
	if len(out) < 2 {
		return
	}
	type user struct{ tenant, id string }
	last := make(map[user]*herald.Notification)
	for i := len(out) - 1; i >= 0; i-- {
		n := &out[i]
		if n.Existing {
			continue
		}
		u := user{n.TenantID, n.UserID}
		if l, ok := last[u]; ok {
			n.UnreadCount, n.UnseenCount = l.UnreadCount, l.UnseenCount
		} else {
			last[u] = n
		}
	}
}
