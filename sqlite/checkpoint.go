package sqlite

import (
	"context"
	"database/sql"
	"time"
)

// WAL checkpoints. With SQLite's automatic checkpoint, every thousand pages
// or so one unlucky commit also copies the WAL back into the database file
// and fsyncs it, which shows in Create's tail latency. Here the write
// connection never checkpoints (wal_autocheckpoint=0); a goroutine does, on
// a connection of its own, with PASSIVE checkpoints that run alongside the
// writer and readers. Only when the WAL has grown past walResetFrames does
// it hold writeMu, briefly, to finish the checkpoint so that the WAL starts
// over (see runCheckpointer); journal_size_limit truncates it after a burst.
//
// Durability is unchanged: a commit is in the WAL (synchronous=NORMAL) before
// Create returns, whether or not it has been checkpointed; a crash leaves
// the WAL for the next Open to replay.
const (
	ckptCommits  = 200                    // commits after which the writer asks for a checkpoint
	ckptInterval = 100 * time.Millisecond // checkpoint at least this often while the WAL has new commits
	walSizeLimit = 64 << 20               // WAL bytes kept after a reset (journal_size_limit)

	// WAL frames (pages) past which a checkpoint makes sure that the WAL
	// starts over: 32 MiB at 4 KiB pages.
	walResetFrames = 8192

	// After this many resetting checkpoints in a row that could not copy
	// the whole WAL (a reader kept old frames in use), try a RESTART one,
	// which waits briefly (busy_timeout) for readers so that the WAL can
	// start over rather than grow.
	ckptRestartAfter = 3
)

// openCheckpointer opens the checkpoint connection.
func (db *DB) openCheckpointer(ctx context.Context, base string) error {
	var err error
	if db.ckptPool, err = sql.Open("sqlite", base); err != nil {
		return err
	}
	db.ckptPool.SetMaxOpenConns(1)
	db.ckptPool.SetConnMaxLifetime(0)
	db.ckptPool.SetConnMaxIdleTime(0)
	if db.ckpt, err = db.ckptPool.Conn(ctx); err != nil {
		return err
	}
	// A short busy timeout: a RESTART checkpoint holds up the writer while it
	// waits for readers, so it gives up quickly and is tried again later.
	_, err = db.ckpt.ExecContext(ctx, "PRAGMA busy_timeout = 20")
	return err
}

// committed is called by the writer after each commit.
func (db *DB) committed() {
	if db.uncheckpointed.Add(1) == ckptCommits {
		select {
		case db.ckptKick <- struct{}{}:
		default:
		}
	}
}

// runCheckpointer checkpoints the WAL until Close.
func (db *DB) runCheckpointer() {
	defer close(db.ckptDone)
	tick := time.NewTicker(ckptInterval)
	defer tick.Stop()
	partial := 0
	mode := "PASSIVE"
	for {
		select {
		case <-db.closing:
			return
		case <-db.ckptKick:
		case <-tick.C:
		}
		if db.uncheckpointed.Swap(0) == 0 {
			continue
		}
		// The bulk of the WAL is copied while the writer goes on appending
		// to it, so such a checkpoint never quite finishes under steady
		// load, and the WAL only starts over once one has. When the WAL has
		// grown past walResetFrames, the frames committed during the copy
		// are checkpointed again holding writeMu, so that nothing is
		// appended meanwhile: the WAL is then fully checkpointed and the
		// writer's next commit starts it over from the beginning. That
		// pause is a short copy and the checkpoint's two fsyncs, once per
		// walResetFrames pages rather than once per thousand.
		if _, logFrames, _ := db.checkpoint("PASSIVE"); logFrames < walResetFrames {
			continue
		}
		db.writeMu.Lock()
		busy, logFrames, done := db.checkpoint(mode)
		db.writeMu.Unlock()
		mode = "PASSIVE"
		if busy == 0 && done == logFrames {
			partial = 0
		} else if partial++; partial >= ckptRestartAfter {
			// Readers kept old frames in use: wait for them (briefly).
			mode, partial = "RESTART", 0
		}
	}
}

// checkpoint runs a checkpoint of the given mode and returns SQLite's
// answer: whether it was blocked, the frames in the WAL, and those copied to
// the database. An error counts as blocked; the next round tries again.
func (db *DB) checkpoint(mode string) (busy, logFrames, done int) {
	err := db.ckpt.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &logFrames, &done)
	if err != nil {
		return 1, 0, 0
	}
	return busy, logFrames, done
}
