// Package postgres implements herald.Store on PostgreSQL with pgx v5 and a
// connection pool, so that several herald nodes share one source of truth.
//
// Each user's feed has a head row (table feeds) whose lock every create
// takes in its transaction, with an upsert that hands out the next seqs:
// seqs are gap-free and in commit order, whichever node writes, and a
// reader that sees seq n has already seen every seq below n. There is no
// database sequence (they leave gaps on rollback) and no max(seq)+1.
// Concurrent Create calls of a node are committed together, as in the
// SQLite store (see create.go). Transactions that lock several head rows
// lock them in sorted order, so that they cannot deadlock.
//
// The schema lives in the first schema of the connection's search_path
// (created if it does not exist, e.g. ?search_path=herald in the URL) and
// is brought up to date on Open by the embedded migrations, under an
// advisory lock so that nodes starting together migrate once. A node
// refuses to start against a schema newer than it knows.
//
// Failures to reach the server are EUNAVAILABLE errors, so that callers
// can answer 503 and retry; the pool replaces broken connections by
// itself, so the store recovers without a restart.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"herald"
	"herald/internal/groupcommit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Defaults of Options.
const (
	DefaultMaxConns       = 16
	DefaultConnectTimeout = 2 * time.Second
	DefaultTxTimeout      = 10 * time.Second
)

// Options tune Open. Every zero value means the default given.
type Options struct {
	// MaxConns bounds the pool, unless the URL sets pool_max_conns. Zero
	// means DefaultMaxConns.
	MaxConns int32
	// ConnectTimeout bounds each new connection, unless the URL sets
	// connect_timeout, so that calls fail fast while the server is down.
	// Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// TxTimeout bounds each write transaction, whatever the callers'
	// contexts. Zero means DefaultTxTimeout.
	TxTimeout time.Duration
	// Committers is how many group commits run at once. Zero means
	// max(2, GOMAXPROCS), at most MaxConns/2.
	Committers int
}

// DB is a herald.Store on a PostgreSQL database. It is safe for concurrent
// use.
type DB struct {
	// Now returns the current time, used for CreatedAt, ReadAt, SeenAt and
	// expiry; nil means time.Now. Tests replace it; set it before first use.
	Now func() time.Time

	pool      *pgxpool.Pool
	txTimeout time.Duration

	creates   *groupcommit.Queue[[]herald.NewNotification, []herald.Notification] // see create.go
	closeOnce sync.Once
}

var _ herald.Store = (*DB)(nil)

// Open connects to the database at url (postgres://...) and brings its
// schema up to date.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.TxTimeout <= 0 {
		opts.TxTimeout = DefaultTxTimeout
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = opts.MaxConns
	}
	if !strings.Contains(url, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = opts.ConnectTimeout
	}
	cfg.HealthCheckPeriod = 5 * time.Second
	if opts.Committers <= 0 {
		opts.Committers = min(max(2, runtime.GOMAXPROCS(0)), max(1, int(cfg.MaxConns)/2))
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{
		pool:      pool,
		txTimeout: opts.TxTimeout,
	}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", wrap(err))
	}
	db.creates = db.newCreates(opts.Committers)
	return db, nil
}

// Close waits for the group commits under way and closes the pool; it is
// safe to call more than once. Later calls fail.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.creates.Close()
		db.pool.Close()
	})
	return nil
}

// Ping reports whether a pooled connection reaches the server.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", wrap(err))
	}
	return nil
}

// PoolStatus describes the connection pool in one line, for /readyz.
func (db *DB) PoolStatus() string {
	s := db.pool.Stat()
	return fmt.Sprintf("pool: %d connections (%d in use, %d idle) of at most %d; %d waits for a connection",
		s.TotalConns(), s.AcquiredConns(), s.IdleConns(), s.MaxConns(), s.EmptyAcquireCount())
}

// migrationsLock names the advisory lock of migrate, per search_path, so
// that databases in other schemas migrate independently.
const migrationsLockQuery = `SELECT pg_advisory_xact_lock(hashtext('herald migrations ' || current_setting('search_path')))`

// migrate applies the embedded migrations that the schema has not seen, in
// name order, in one transaction under an advisory lock: of several nodes
// starting at once, the first migrates and the others then find nothing to
// do. Migration N (1-based) is recorded as version N in
// herald_schema_migrations.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, migrationsLockQuery); err != nil {
			return err
		}
		if err := ensureSchema(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS herald_schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return err
		}
		var version int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM herald_schema_migrations`).Scan(&version); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if version > len(names) {
			return fmt.Errorf("the database schema is at version %d, newer than this herald knows (%d): "+
				"upgrade herald, or point it at another database or schema", version, len(names))
		}
		for i := version; i < len(names); i++ {
			script, err := fs.ReadFile(migrations, names[i])
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(script)); err != nil {
				return fmt.Errorf("migration %s: %w", names[i], err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO herald_schema_migrations (version, name) VALUES ($1, $2)`,
				i+1, strings.TrimPrefix(names[i], "migrations/")); err != nil {
				return err
			}
		}
		return nil
	})
}

// ensureSchema creates the first schema of the search_path when it does
// not exist yet, so that a URL with ?search_path=name is all it takes.
func ensureSchema(ctx context.Context, tx pgx.Tx) error {
	var current *string
	var path string
	if err := tx.QueryRow(ctx, `SELECT current_schema(), current_setting('search_path')`).Scan(&current, &path); err != nil {
		return err
	}
	if current != nil {
		return nil
	}
	for _, name := range strings.Split(path, ",") {
		name = strings.TrimSpace(name)
		if name == "" || name == `"$user"` || name == "$user" {
			continue
		}
		name = strings.Trim(name, `"`)
		_, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{name}.Sanitize())
		return err
	}
	return errors.New("the search_path names no schema to create the tables in")
}

// errUnavailable is what callers see of a failure to reach the server.
var errUnavailable = herald.Errorf(herald.EUNAVAILABLE, "The notification store is unavailable; try again shortly.")

// wrap marks the errors that mean the server cannot be reached, or is
// shutting down, as EUNAVAILABLE (keeping the cause for logs); others are
// returned as they are.
func wrap(err error) error {
	if err == nil || !unreachable(err) {
		return err
	}
	return errors.Join(errUnavailable, err)
}

// unreachable reports whether err means that the server is down, going
// down or out of connections, rather than a problem of the statement.
func unreachable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "57P01", // admin_shutdown
			pgErr.Code == "57P02", // crash_shutdown
			pgErr.Code == "57P03", // cannot_connect_now
			pgErr.Code == "53300": // too_many_connections
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "conn closed") ||
		strings.Contains(err.Error(), "unexpected EOF")
}

// retryable reports whether a transaction failed on a deadlock or a
// serialization failure, and may simply run again.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40P01" || pgErr.Code == "40001")
}

// inTx runs fn in a transaction bounded by the store's TxTimeout, again
// (at most twice more) if it fails on a deadlock.
func (db *DB) inTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(ctx, db.txTimeout)
	defer cancel()
	var err error
	for range 3 {
		err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error { return fn(ctx, tx) })
		if !retryable(err) {
			break
		}
	}
	return wrap(err)
}

// now returns the store's current time at the stored (millisecond) precision.
func (db *DB) now() time.Time {
	t := time.Now
	if db.Now != nil {
		t = db.Now
	}
	return time.UnixMilli(t().UnixMilli()).UTC()
}

// Migrations returns the embedded migration scripts (migrations/*.sql),
// for tests and tools.
func Migrations() fs.FS { return migrations }
