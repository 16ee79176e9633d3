// Package sqlite implements herald.Store on an SQLite database file, using the
// pure-Go driver modernc.org/sqlite (no cgo).
//
// The database runs in WAL mode with synchronous=NORMAL. SQLite has a single
// writer, so all writes go through one pinned connection, queued in Go rather
// than retried on SQLITE_BUSY; concurrent Create calls are committed together
// in one transaction (group commit, see create.go), which is what lets the
// store take well over 10,000 notifications per second. Reads use a pool of
// query_only connections that run concurrently with the writer. The WAL is
// checkpointed by a goroutine on a connection of its own rather than inside
// the writer's commits (see checkpoint.go). The schema is
// created and upgraded on Open by the embedded migrations, tracked in
// PRAGMA user_version.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"herald"
	"herald/internal/groupcommit"
)

//go:embed migrations/*.sql
var migrations embed.FS

// busyTimeout is how long a connection waits for a lock held by another
// process (a second herald on the same file, a backup) before failing.
const busyTimeout = 5 * time.Second

// DB is a herald.Store backed by one SQLite file. It is safe for concurrent
// use.
type DB struct {
	// Now returns the current time, used for CreatedAt, ReadAt and expiry;
	// nil means time.Now. Tests replace it; set it before first use.
	Now func() time.Time

	path string

	// The one write connection, pinned for the life of the DB. Transactions
	// on it are plain BEGIN/COMMIT statements rather than sql.Tx, whose
	// context plumbing costs a goroutine per query. writeMu serializes its
	// users so that a statement never lands inside another's transaction.
	writeMu   sync.Mutex
	write     *sql.Conn
	writePool *sql.DB
	read      *sql.DB // query_only connections

	stmts statements

	// The WAL is checkpointed by a goroutine of its own on its own
	// connection (see checkpoint.go), not inside the writer's commits.
	ckptPool       *sql.DB
	ckpt           *sql.Conn
	ckptKick       chan struct{} // a nudge from the writer: the WAL has grown
	ckptDone       chan struct{} // closed when the checkpoint goroutine has returned
	uncheckpointed atomic.Int64  // commits since the last checkpoint round

	creates   *groupcommit.Queue[[]herald.NewNotification, []herald.Notification] // see create.go
	closing   chan struct{}                                                       // closed by Close
	closeOnce sync.Once
	closeErr  error

	// failInsert, when set by a test, is called before each notification is
	// inserted; an error fails the transaction.
	failInsert func(*herald.NewNotification) error
}

var _ herald.Store = (*DB)(nil)

// Open opens (creating if needed) the database file at path and brings its
// schema up to date. path is a file system path; in-memory databases are not
// supported, since the reader and writer connections must share the file.
func Open(path string) (*DB, error) {
	if path == "" || path == ":memory:" {
		return nil, errors.New("sqlite: a database file path is required")
	}
	db := &DB{
		path:     path,
		closing:  make(chan struct{}),
		ckptKick: make(chan struct{}, 1),
		ckptDone: make(chan struct{}),
	}

	// A file: URI so that any character may appear in path. The pragmas run
	// on every new connection.
	u := url.URL{Scheme: "file", Opaque: (&url.URL{Path: path}).EscapedPath()}
	base := u.String() + "?_pragma=" + url.QueryEscape(fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds())) +
		"&_pragma=" + url.QueryEscape("foreign_keys(on)")

	// synchronous=NORMAL is durable across process crashes in WAL mode and
	// only risks the last commits on power loss, for far cheaper commits.
	var err error
	// The writer never checkpoints (wal_autocheckpoint=0): checkpoint.go
	// does, from another connection, so that its page copies and fsync stay
	// out of commit latency.
	db.writePool, err = sql.Open("sqlite", base+"&_journal_mode=WAL&_synchronous=NORMAL"+
		"&_pragma="+url.QueryEscape("wal_autocheckpoint(0)")+
		"&_pragma="+url.QueryEscape(fmt.Sprintf("journal_size_limit(%d)", walSizeLimit)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.writePool.SetMaxOpenConns(1)
	db.writePool.SetConnMaxLifetime(0)
	db.writePool.SetConnMaxIdleTime(0)
	ctx := context.Background()
	if db.write, err = db.writePool.Conn(ctx); err != nil {
		db.writePool.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.write.Close()
		db.writePool.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	db.read, err = sql.Open("sqlite", base+"&_query_only=on")
	if err == nil {
		readers := max(4, runtime.GOMAXPROCS(0))
		db.read.SetMaxOpenConns(readers)
		db.read.SetMaxIdleConns(readers)
		db.read.SetConnMaxLifetime(0)
		db.read.SetConnMaxIdleTime(0)
		err = db.stmts.prepare(ctx, db.write, db.read)
	}
	if err == nil {
		err = db.openCheckpointer(ctx, base)
	}
	if err != nil {
		if db.ckpt != nil {
			db.ckpt.Close()
		}
		if db.ckptPool != nil {
			db.ckptPool.Close()
		}
		if db.read != nil {
			db.read.Close()
		}
		db.write.Close()
		db.writePool.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.creates = db.newCreates()
	go db.runCheckpointer()
	return db, nil
}

// Path returns the file path the database was opened with.
func (db *DB) Path() string { return db.path }

// Close closes the database; it is safe to call more than once. Create calls
// already being committed finish first; later calls fail.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.closing)
		db.creates.Close()
		<-db.ckptDone
		db.writeMu.Lock()
		defer db.writeMu.Unlock()
		db.stmts.close()
		// Lets SQLite refresh its query planner statistics if they are stale.
		_, optErr := db.write.ExecContext(context.Background(), "PRAGMA optimize")
		db.closeErr = errors.Join(db.ckpt.Close(), db.ckptPool.Close(), db.read.Close(), db.write.Close(), db.writePool.Close())
		if db.closeErr == nil && optErr != nil {
			db.closeErr = fmt.Errorf("sqlite: close: %w", optErr)
		}
	})
	return db.closeErr
}

// Ping reports whether both the writer and a reader connection work.
func (db *DB) Ping(ctx context.Context) error {
	db.writeMu.Lock()
	err := db.write.PingContext(ctx)
	db.writeMu.Unlock()
	if err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := db.read.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// migrate applies the embedded migrations that the file has not seen yet,
// each in its own transaction together with the user_version bump. Files are
// applied in name order; migration N (1-based) sets user_version to N.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	var version int
	if err := db.write.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if version > len(names) {
		return fmt.Errorf("schema version %d is newer than this program knows (%d)", version, len(names))
	}
	for i := version; i < len(names); i++ {
		script, err := fs.ReadFile(migrations, names[i])
		if err != nil {
			return err
		}
		if err := db.inWriteTx(ctx, func() error {
			if _, err := db.write.ExecContext(ctx, string(script)); err != nil {
				return err
			}
			_, err := db.write.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1))
			return err
		}); err != nil {
			return fmt.Errorf("migration %s: %w", names[i], err)
		}
	}
	return nil
}

// inWriteTx runs fn in a transaction on the write connection, committing if
// fn returns nil. BEGIN IMMEDIATE takes the write lock up front, so that the
// transaction cannot fail halfway on a lock upgrade. The caller holds
// writeMu (or is Open, before anyone else can).
func (db *DB) inWriteTx(ctx context.Context, fn func() error) error {
	if _, err := db.write.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	err := fn()
	if err == nil {
		_, err = db.write.ExecContext(ctx, "COMMIT")
	}
	if err != nil {
		// Fails harmlessly if SQLite has already rolled back.
		_, _ = db.write.ExecContext(context.Background(), "ROLLBACK")
		return err
	}
	db.committed()
	return nil
}

// now returns the store's current time at the stored (millisecond) precision.
func (db *DB) now() time.Time {
	t := time.Now
	if db.Now != nil {
		t = db.Now
	}
	return time.UnixMilli(t().UnixMilli()).UTC()
}
