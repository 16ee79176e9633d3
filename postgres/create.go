package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"herald"
	"herald/internal/groupcommit"
)

// Group commit (internal/groupcommit), as in the SQLite store: a commit (a
// WAL flush) costs far more than an insert, so Create calls that arrive
// together are committed in one transaction with one multi-row insert.
// Options.Committers workers take groups from one queue, so that a group is
// being filled while others commit. A lone call is committed at once, and
// each call stays all-or-nothing: if a group fails for another reason than
// the server being unreachable, its calls are retried one by one.
const (
	maxGroupRequests      = 256                   // Create calls in one transaction
	maxGroupNotifications = herald.MaxCreateBatch // notifications in one transaction, unless one call has more
	chunkRows             = 1000                  // rows per statement of a transaction
)

// errClosed is returned by Create after Close.
var errClosed = errors.New("postgres: database is closed")

// createRequest is one Create call waiting for a committer.
type createRequest = groupcommit.Call[[]herald.NewNotification, []herald.Notification]

// newCreates returns the queue of Create calls, served by committers
// workers.
func (db *DB) newCreates(committers int) *groupcommit.Queue[[]herald.NewNotification, []herald.Notification] {
	return groupcommit.New(groupcommit.Config[[]herald.NewNotification, []herald.Notification]{
		Commit:   db.insert,
		Size:     herald.BatchSize,
		Alone:    func(err error) bool { return herald.ErrorCode(err) != herald.EUNAVAILABLE },
		Wrap:     func(err error) error { return fmt.Errorf("postgres: create: %w", err) },
		Closed:   errClosed,
		Workers:  committers,
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

// head is the state of a user's head row during a create transaction.
type head struct {
	lastSeq        int64 // the last seq given out so far
	unread, unseen int64 // the counters, expired rows included
	// expiredUnread and expiredUnseen count the unread and unseen rows
	// that are expired: the visible counts are the counters less these.
	expiredUnread, expiredUnseen int64
	added                        int64 // rows this transaction inserts
}

// rows holds the columns of a multi-row insert, one slice per column.
type rows struct {
	id, tenant, user, typ, title, message []string
	seq                                   []int64
	data, groupKey, key                   []*string
	expiresAt                             []*time.Time
	// texts backs the non-null entries of data, groupKey and key, so that
	// they take no allocation each.
	texts []string
}

// makeRows returns rows with room for n.
func makeRows(n int) rows {
	return rows{
		id: make([]string, 0, n), tenant: make([]string, 0, n), user: make([]string, 0, n),
		typ: make([]string, 0, n), title: make([]string, 0, n), message: make([]string, 0, n),
		seq: make([]int64, 0, n), data: make([]*string, 0, n), groupKey: make([]*string, 0, n),
		key: make([]*string, 0, n), expiresAt: make([]*time.Time, 0, n), texts: make([]string, 0, 3*n),
	}
}

func (r *rows) add(n *herald.Notification, in *herald.NewNotification) {
	r.id = append(r.id, n.ID)
	r.tenant = append(r.tenant, n.TenantID)
	r.user = append(r.user, n.UserID)
	r.seq = append(r.seq, n.Seq)
	r.typ = append(r.typ, n.Type)
	r.title = append(r.title, n.Title)
	r.message = append(r.message, n.Message)
	r.data = append(r.data, r.nullable(string(n.Data)))
	r.expiresAt = append(r.expiresAt, n.ExpiresAt)
	r.groupKey = append(r.groupKey, r.nullable(n.GroupKey))
	r.key = append(r.key, r.nullable(in.IdempotencyKey))
}

// nullable returns nil for "", else a pointer to s kept in r.texts (an
// element that a later append may copy elsewhere, but never changes).
func (r *rows) nullable(s string) *string {
	if s == "" {
		return nil
	}
	r.texts = append(r.texts, s)
	return &r.texts[len(r.texts)-1]
}

// insert stores the requests' validated notifications in one transaction
// and sets each request's out. Groups without idempotency keys take one
// statement (insertOneStatement); the others lock the head rows of all
// their users, in sorted order, before anything else, so that the keys
// they then look up cannot be inserted by anyone else before they commit.
func (db *DB) insert(ctx context.Context, reqs []*createRequest) error {
	var keys []userKey
	keyed := false
	for _, req := range reqs {
		for i := range req.In {
			keys = append(keys, userKey{req.In[i].TenantID, req.In[i].UserID})
			keyed = keyed || req.In[i].IdempotencyKey != ""
		}
	}
	users := sortedUsers(keys)
	if !keyed && len(keys) <= chunkRows {
		return db.insertOneStatement(ctx, reqs, users)
	}
	return db.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		now := db.now()
		heads, err := upsertHeads(ctx, tx, users, now)
		if err != nil {
			return err
		}
		existing, err := lookupKeys(ctx, tx, reqs)
		if err != nil {
			return err
		}
		r, err := assign(reqs, heads, existing, now)
		if err != nil {
			return err
		}
		if err := insertRows(ctx, tx, &r, now); err != nil {
			return err
		}
		return updateHeads(ctx, tx, users, heads)
	})
}

// assign makes the requests' notifications, created at now, giving each new
// one the next seq of its user's head, and sets each request's out; a
// notification whose idempotency key is in existing (or earlier in the
// group) is returned instead of created. It returns the rows to insert.
func assign(reqs []*createRequest, heads map[userKey]*head, existing map[idemKey]herald.Notification, now time.Time) (rows, error) {
	total := 0
	for _, req := range reqs {
		total += len(req.In)
	}
	r := makeRows(total)
	for _, req := range reqs {
		req.Out = make([]herald.Notification, len(req.In))
		for i := range req.In {
			in := &req.In[i]
			k := userKey{in.TenantID, in.UserID}
			if in.IdempotencyKey != "" {
				if n, ok := existing[idemKey{k, in.IdempotencyKey}]; ok {
					n.Existing = true
					req.Out[i] = n
					continue
				}
			}
			n, err := newNotification(in, now)
			if err != nil {
				return rows{}, err
			}
			h := heads[k]
			h.lastSeq++
			h.added++
			n.Seq = h.lastSeq
			if n.ExpiresAt != nil && !n.ExpiresAt.After(now) {
				// expired on arrival: counted, but not visible
				h.expiredUnread++
				h.expiredUnseen++
			}
			req.Out[i] = n
			r.add(&req.Out[i], in)
			if in.IdempotencyKey != "" {
				existing[idemKey{k, in.IdempotencyKey}] = n
			}
		}
		// Each call reports its users' counts once its own notifications
		// are in.
		for i := range req.Out {
			if n := &req.Out[i]; !n.Existing {
				h := heads[userKey{n.TenantID, n.UserID}]
				n.UnreadCount = int(h.unread + h.added - h.expiredUnread)
				n.UnseenCount = int(h.unseen + h.added - h.expiredUnseen)
			}
		}
	}
	return r, nil
}

// runOneStatement runs oneStatementQuery and returns each user's head as
// it was before it.
func runOneStatement(ctx context.Context, pool *pgxpool.Pool, users []userKey, rel map[userKey]*head,
	tenants, ids []string, added []int64, now time.Time, r *rows, back []int64) (map[userKey]head, error) {
	result, err := pool.Query(ctx, oneStatementQuery, tenants, ids, added, now,
		r.id, r.tenant, r.user, back, r.typ, r.title, r.message, r.data, r.expiresAt, r.groupKey)
	if err != nil {
		return nil, err
	}
	defer result.Close()
	base := make(map[userKey]head, len(users))
	for result.Next() {
		var k userKey
		var h head
		if err := result.Scan(&k.tenant, &k.user, &h.lastSeq, &h.unread, &h.unseen, &h.expiredUnread, &h.expiredUnseen); err != nil {
			return nil, err
		}
		n := rel[k].added
		h.lastSeq, h.unread, h.unseen = h.lastSeq-n, h.unread-n, h.unseen-n
		base[k] = h
	}
	if err := result.Err(); err != nil {
		return nil, err
	}
	if len(base) != len(users) {
		return nil, fmt.Errorf("stored the heads of %d users, want %d", len(base), len(users))
	}
	return base, nil
}

// oneStatementQuery stores a group without idempotency keys in a single
// statement, its own transaction: the upsert of the head rows (in the
// sorted order of its input) moves each user's last seq by the user's
// number of new rows and returns it, and each row's seq is counted back
// from it. It returns the head rows as they are after the insert, with the
// expired unread and unseen rows counted before it.
const oneStatementQuery = `WITH h AS (
	INSERT INTO feeds AS f (tenant_id, user_id, last_seq, unread, unseen)
	SELECT t, u, n, n, n FROM unnest($1::text[], $2::text[], $3::bigint[]) AS x(t, u, n)
	ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_seq = f.last_seq + EXCLUDED.last_seq,
		unread = f.unread + EXCLUDED.unread, unseen = f.unseen + EXCLUDED.unseen
	RETURNING f.tenant_id, f.user_id, f.last_seq, f.unread, f.unseen,
		(SELECT count(*) FILTER (WHERE read_at IS NULL) FROM notifications n
			WHERE n.tenant_id = f.tenant_id AND n.user_id = f.user_id AND n.expires_at <= $4
			AND n.expires_at IS NOT NULL AND (n.read_at IS NULL OR n.seen_at IS NULL)) AS expired_unread,
		(SELECT count(*) FILTER (WHERE seen_at IS NULL) FROM notifications n
			WHERE n.tenant_id = f.tenant_id AND n.user_id = f.user_id AND n.expires_at <= $4
			AND n.expires_at IS NOT NULL AND (n.read_at IS NULL OR n.seen_at IS NULL)) AS expired_unseen
), ins AS (
	INSERT INTO notifications (id, tenant_id, user_id, seq, type, title, message, data, created_at, expires_at, group_key)
	SELECT x.id, x.t, x.u, h.last_seq - x.back, x.ty, x.ti, x.m, x.d::json, $4, x.e, x.g
	FROM unnest($5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[], $11::text[], $12::text[],
		$13::timestamptz[], $14::text[]) AS x(id, t, u, back, ty, ti, m, d, e, g)
	JOIN h ON h.tenant_id = x.t AND h.user_id = x.u
)
SELECT tenant_id, user_id, last_seq, unread, unseen, expired_unread, expired_unseen FROM h`

// insertOneStatement is insert for a group without idempotency keys and
// with at most chunkRows notifications: one round trip and one commit.
func (db *DB) insertOneStatement(ctx context.Context, reqs []*createRequest, users []userKey) error {
	ctx, cancel := context.WithTimeout(ctx, db.txTimeout)
	defer cancel()
	now := db.now()
	// Seqs and counts relative to the heads as they are before the
	// statement, then moved by what it returns.
	rel := make(map[userKey]*head, len(users))
	for _, k := range users {
		rel[k] = new(head)
	}
	r, err := assign(reqs, rel, nil, now)
	if err != nil {
		return err
	}
	back := make([]int64, len(r.seq))
	for i, seq := range r.seq {
		back[i] = rel[userKey{r.tenant[i], r.user[i]}].added - seq
	}
	tenants, ids := splitUsers(users)
	added := make([]int64, len(users))
	for i, k := range users {
		added[i] = rel[k].added
	}
	var base map[userKey]head
	for attempt := 0; ; attempt++ {
		base, err = runOneStatement(ctx, db.pool, users, rel, tenants, ids, added, now, &r, back)
		if err == nil {
			break
		}
		if !retryable(err) || attempt == 2 {
			return wrap(err)
		}
	}
	for _, req := range reqs {
		for i := range req.Out {
			n := &req.Out[i]
			h := base[userKey{n.TenantID, n.UserID}]
			n.Seq += h.lastSeq
			n.UnreadCount += int(h.unread - h.expiredUnread)
			n.UnseenCount += int(h.unseen - h.expiredUnseen)
		}
	}
	return nil
}

func newNotification(in *herald.NewNotification, now time.Time) (herald.Notification, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return herald.Notification{}, err
	}
	n := herald.Notification{
		ID:        id.String(),
		UserID:    in.UserID,
		TenantID:  in.TenantID,
		Type:      in.Type,
		Title:     in.Title,
		Message:   in.Message,
		Status:    herald.StatusUnread,
		CreatedAt: now,
		GroupKey:  in.GroupKey,
	}
	if len(in.Data) > 0 && string(in.Data) != "null" {
		n.Data = bytes.Clone(in.Data)
	}
	if !in.ExpiresAt.IsZero() {
		t := time.UnixMilli(in.ExpiresAt.UnixMilli()).UTC()
		n.ExpiresAt = &t
	}
	return n, nil
}

// upsertHeads takes the head row lock of each user, in the sorted order of
// users, creating the rows of new users, and returns their state. The
// upsert writes nothing new; updateHeads moves the seqs once the rows are
// known.
func upsertHeads(ctx context.Context, tx pgx.Tx, users []userKey, now time.Time) (map[userKey]*head, error) {
	heads := make(map[userKey]*head, len(users))
	for chunk := range chunks(users) {
		tenants, ids := splitUsers(chunk)
		rows, err := tx.Query(ctx, `INSERT INTO feeds AS f (tenant_id, user_id, last_seq)
			SELECT t, u, 0 FROM unnest($1::text[], $2::text[]) AS x(t, u)
			ON CONFLICT (tenant_id, user_id) DO UPDATE SET last_seq = f.last_seq
			RETURNING f.tenant_id, f.user_id, f.last_seq, f.unread, f.unseen,
				(SELECT count(*) FILTER (WHERE read_at IS NULL) FROM notifications n
					WHERE n.tenant_id = f.tenant_id AND n.user_id = f.user_id AND n.expires_at <= $3
					AND n.expires_at IS NOT NULL AND (n.read_at IS NULL OR n.seen_at IS NULL)),
				(SELECT count(*) FILTER (WHERE seen_at IS NULL) FROM notifications n
					WHERE n.tenant_id = f.tenant_id AND n.user_id = f.user_id AND n.expires_at <= $3
					AND n.expires_at IS NOT NULL AND (n.read_at IS NULL OR n.seen_at IS NULL))`,
			tenants, ids, now)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k userKey
			h := new(head)
			if err := rows.Scan(&k.tenant, &k.user, &h.lastSeq, &h.unread, &h.unseen, &h.expiredUnread, &h.expiredUnseen); err != nil {
				rows.Close()
				return nil, err
			}
			heads[k] = h
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	if len(heads) != len(users) {
		return nil, fmt.Errorf("locked %d head rows for %d users", len(heads), len(users))
	}
	return heads, nil
}

// lockHeads takes the head row locks of the users that have one, in the
// same order as upsertHeads, without changing them.
func lockHeads(ctx context.Context, tx pgx.Tx, keys []userKey) error {
	for chunk := range chunks(sortedUsers(keys)) {
		tenants, ids := splitUsers(chunk)
		if _, err := tx.Exec(ctx, `SELECT 1 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(t, u, i)
			JOIN feeds f ON f.tenant_id = x.t AND f.user_id = x.u ORDER BY x.i FOR UPDATE OF f`, tenants, ids); err != nil {
			return err
		}
	}
	return nil
}

// updateHeads stores each user's last seq and adds the inserted rows to
// the counters.
func updateHeads(ctx context.Context, tx pgx.Tx, users []userKey, heads map[userKey]*head) error {
	var tenants, ids []string
	var lastSeqs, added []int64
	for _, k := range users {
		if h := heads[k]; h.added > 0 {
			tenants, ids = append(tenants, k.tenant), append(ids, k.user)
			lastSeqs, added = append(lastSeqs, h.lastSeq), append(added, h.added)
		}
	}
	for start := 0; start < len(tenants); start += chunkRows {
		end := min(start+chunkRows, len(tenants))
		if _, err := tx.Exec(ctx, `UPDATE feeds f SET last_seq = x.last_seq, unread = f.unread + x.added, unseen = f.unseen + x.added
			FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS x(t, u, last_seq, added)
			WHERE f.tenant_id = x.t AND f.user_id = x.u`,
			tenants[start:end], ids[start:end], lastSeqs[start:end], added[start:end]); err != nil {
			return err
		}
	}
	return nil
}

// idemKey is an idempotency key of a user.
type idemKey struct {
	user userKey
	key  string
}

// lookupKeys returns the stored notifications that hold the requests'
// idempotency keys (expired ones included, as the contract says).
func lookupKeys(ctx context.Context, tx pgx.Tx, reqs []*createRequest) (map[idemKey]herald.Notification, error) {
	var tenants, users, keys []string
	for _, req := range reqs {
		for i := range req.In {
			if n := &req.In[i]; n.IdempotencyKey != "" {
				tenants, users, keys = append(tenants, n.TenantID), append(users, n.UserID), append(keys, n.IdempotencyKey)
			}
		}
	}
	found := make(map[idemKey]herald.Notification)
	for start := 0; start < len(keys); start += chunkRows {
		end := min(start+chunkRows, len(keys))
		rows, err := tx.Query(ctx, `SELECT `+columns("n.")+`, n.idempotency_key FROM notifications n
			JOIN unnest($1::text[], $2::text[], $3::text[]) AS x(t, u, k)
			ON n.tenant_id = x.t AND n.user_id = x.u AND n.idempotency_key = x.k`,
			tenants[start:end], users[start:end], keys[start:end])
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var key string
			n, err := scanNotification(keyedRow{rows, &key})
			if err != nil {
				rows.Close()
				return nil, err
			}
			found[idemKey{userKey{n.TenantID, n.UserID}, key}] = n
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return found, nil
}

// keyedRow scans the columns list and then the idempotency key.
type keyedRow struct {
	rows pgx.Rows
	key  *string
}

func (r keyedRow) Scan(dest ...any) error { return r.rows.Scan(append(dest, r.key)...) }

// insertRows inserts the new notifications, chunkRows per statement.
func insertRows(ctx context.Context, tx pgx.Tx, r *rows, now time.Time) error {
	for start := 0; start < len(r.id); start += chunkRows {
		end := min(start+chunkRows, len(r.id))
		if _, err := tx.Exec(ctx, `INSERT INTO notifications
			(id, tenant_id, user_id, seq, type, title, message, data, created_at, expires_at, group_key, idempotency_key)
			SELECT id, t, u, seq, ty, ti, m, d::json, $9, e, g, k
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
				$10::timestamptz[], $11::text[], $12::text[]) AS x(id, t, u, seq, ty, ti, m, d, e, g, k)`,
			r.id[start:end], r.tenant[start:end], r.user[start:end], r.seq[start:end], r.typ[start:end],
			r.title[start:end], r.message[start:end], r.data[start:end], now,
			r.expiresAt[start:end], r.groupKey[start:end], r.key[start:end]); err != nil {
			return err
		}
	}
	return nil
}

// chunks yields users chunkRows at a time, in order.
func chunks(users []userKey) func(yield func([]userKey) bool) {
	return func(yield func([]userKey) bool) {
		for start := 0; start < len(users); start += chunkRows {
			if !yield(users[start:min(start+chunkRows, len(users))]) {
				return
			}
		}
	}
}

func splitUsers(users []userKey) (tenants, ids []string) {
	tenants, ids = make([]string, len(users)), make([]string, len(users))
	for i, k := range users {
		tenants[i], ids[i] = k.tenant, k.user
	}
	return tenants, ids
}
