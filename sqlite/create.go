package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/google/uuid"

	"herald"
)

// Group commit. A commit costs far more than an insert (several WAL page
// writes, each a system call), so concurrent Create calls are queued for one
// writer goroutine that runs everything waiting in one transaction. A lone
// call is committed at once: nothing ever waits for company (the writer only
// yields the processor once, to callers that are ready to run). Each call stays
// all-or-nothing: if a group fails, its calls are retried one by one.
const (
	maxGroupRequests      = 256                   // Create calls in one transaction
	maxGroupNotifications = herald.MaxCreateBatch // notifications in one transaction
)

// errClosed is returned by Create after Close.
var errClosed = errors.New("sqlite: database is closed")

// createRequest is one Create call waiting for the writer.
type createRequest struct {
	ctx  context.Context
	ns   []herald.NewNotification
	out  []herald.Notification
	err  error
	done chan struct{} // closed by the writer when out or err is set
}

// Create implements herald.Store. If ctx ends while the call waits for its
// commit, Create returns ctx's error, but the notifications may still be
// stored; retries with an idempotency key are safe.
func (db *DB) Create(ctx context.Context, ns []herald.NewNotification) ([]herald.Notification, error) {
	if err := herald.ValidateBatch(ns); err != nil {
		return nil, err
	}

	req := &createRequest{ctx: ctx, ns: ns, done: make(chan struct{})}
	select {
	case db.creates <- req:
	case <-db.closing:
		return nil, errClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("sqlite: create: %w", ctx.Err())
	}
	select {
	case <-req.done:
		return req.out, req.err
	case <-ctx.Done():
		return nil, fmt.Errorf("sqlite: create: %w", ctx.Err())
	}
}

// runWriter serves Create calls until Close. It and runCheckpointer are the
// goroutines of a DB.
func (db *DB) runWriter() {
	defer close(db.writerDone)
	group := make([]*createRequest, 0, maxGroupRequests)
	for {
		var first *createRequest
		select {
		case first = <-db.creates:
		case <-db.closing:
			return
		}
		group = append(group[:0], first)
		size := len(first.ns)
		// Let the goroutines that are ready to run go first, so that those
		// about to call Create reach the queue before this transaction
		// starts. On one core this is what makes groups: the first caller's
		// send hands the processor straight to this goroutine, ahead of the
		// other requests that arrived with it. Nothing waits for callers
		// that are not ready: if none is, Gosched returns at once.
		runtime.Gosched()
	fill:
		for len(group) < maxGroupRequests {
			select {
			case req := <-db.creates:
				group = append(group, req)
				if size += len(req.ns); size >= maxGroupNotifications {
					break fill
				}
			default:
				break fill
			}
		}
		db.commitGroup(group)
		clear(group) // let the requests be collected
	}
}

// commitGroup stores the requests' notifications in one transaction and
// answers every request.
func (db *DB) commitGroup(group []*createRequest) {
	live := make([]*createRequest, 0, len(group))
	for _, req := range group {
		if err := req.ctx.Err(); err != nil {
			req.err = fmt.Errorf("sqlite: create: %w", err)
			close(req.done)
			continue
		}
		live = append(live, req)
	}
	if len(live) == 0 {
		return
	}

	// The transaction outlives any one caller's context: a caller that gives
	// up must not roll back the others.
	ctx := context.Background()
	now := db.now()
	db.writeMu.Lock()
	defer db.writeMu.Unlock()
	err := db.inWriteTx(ctx, func() error {
		for _, req := range live {
			var err error
			if req.out, err = db.insert(ctx, now, req.ns); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil && len(live) > 1 {
		// Find the culprit: each request alone, in its own transaction.
		for _, req := range live {
			var out []herald.Notification
			err := db.inWriteTx(ctx, func() error {
				var err error
				out, err = db.insert(ctx, now, req.ns)
				return err
			})
			req.out, req.err = out, nil
			if err != nil {
				req.out, req.err = nil, fmt.Errorf("sqlite: create: %w", err)
			}
			close(req.done)
		}
		return
	}
	for _, req := range live {
		if err != nil {
			req.out, req.err = nil, fmt.Errorf("sqlite: create: %w", err)
		}
		close(req.done)
	}
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
