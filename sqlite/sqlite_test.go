package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"herald"
	"herald/sqlite"
	"herald/storetest"
)

// MustOpenDB opens a new database file in a temporary directory and closes it
// when tb ends.
func MustOpenDB(tb testing.TB) *sqlite.DB {
	tb.Helper()
	return mustOpenPath(tb, filepath.Join(tb.TempDir(), "herald.db"))
}

func mustOpenPath(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(path)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) herald.Store { return MustOpenDB(t) })
}

func TestReopenKeepsDataAndSeq(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herald.db")

	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	first, err := db.Create(ctx, []herald.NewNotification{
		{TenantID: "t", UserID: "u", Type: "info", Title: "one", IdempotencyKey: "k"},
		{TenantID: "t", UserID: "u", Type: "info", Title: "two"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.MarkRead(ctx, "t", "u", first[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete(ctx, "t", "u", first[1].ID); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	db = mustOpenPath(t, path)
	page, err := db.List(ctx, "t", "u", herald.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Notifications) != 1 || page.Notifications[0].ID != first[0].ID ||
		page.Notifications[0].Status != herald.StatusRead {
		t.Fatalf("after reopen: got %+v, want the first notification, read", page.Notifications)
	}
	// Seq continues after the deleted seq 2; the idempotency key still holds.
	next, err := db.Create(ctx, []herald.NewNotification{
		{TenantID: "t", UserID: "u", Type: "info", Title: "three"},
		{TenantID: "t", UserID: "u", Type: "info", Title: "one again", IdempotencyKey: "k"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if next[0].Seq != 3 {
		t.Errorf("seq after reopen: got %d, want 3", next[0].Seq)
	}
	if !next[1].Existing || next[1].ID != first[0].ID {
		t.Errorf("idempotency after reopen: got %+v, want the first notification", next[1])
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := MustOpenDB(t)
	now := time.Date(2030, 5, 1, 12, 0, 0, 123_456_789, time.UTC)
	db.Now = func() time.Time { return now }

	ns, err := db.Create(ctx, []herald.NewNotification{
		{UserID: "u", Type: "info", Title: "soon gone", ExpiresAt: now.Add(time.Minute)},
		{UserID: "u", Type: "info", Title: "stays"},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Times are kept to the millisecond.
	if want := now.Truncate(time.Millisecond); !ns[0].CreatedAt.Equal(want) {
		t.Errorf("CreatedAt: got %v, want %v", ns[0].CreatedAt, want)
	}
	got, err := db.Get(ctx, "", "u", ns[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(ns[0].CreatedAt) || !got.ExpiresAt.Equal(*ns[0].ExpiresAt) {
		t.Errorf("stored times: got %v/%v, want %v/%v", got.CreatedAt, got.ExpiresAt, ns[0].CreatedAt, ns[0].ExpiresAt)
	}

	now = now.Add(30 * time.Second)
	read, err := db.MarkRead(ctx, "", "u", ns[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Truncate(time.Millisecond); !read.ReadAt.Equal(want) {
		t.Errorf("ReadAt: got %v, want %v", read.ReadAt, want)
	}
	if n, _ := db.UnreadCount(ctx, "", "u"); n != 1 {
		t.Errorf("UnreadCount before expiry: got %d, want 1", n)
	}

	// At ExpiresAt the notification is gone from every read.
	now = ns[0].ExpiresAt.Add(0)
	if n, _ := db.UnreadCount(ctx, "", "u"); n != 0 {
		t.Errorf("UnreadCount at expiry: got %d, want 0", n)
	}
	if _, err := db.Get(ctx, "", "u", ns[0].ID); herald.ErrorCode(err) != herald.ENOTFOUND {
		t.Errorf("Get at expiry: got %v, want ENOTFOUND", err)
	}
	page, err := db.List(ctx, "", "u", herald.ListOptions{})
	if err != nil || len(page.Notifications) != 1 {
		t.Errorf("List at expiry: got %d notifications, %v; want 1", len(page.Notifications), err)
	}
	if n, err := db.PurgeExpired(ctx, now); err != nil || n != 1 {
		t.Errorf("PurgeExpired: got %d, %v; want 1", n, err)
	}
}

func TestPurgeInChunks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := MustOpenDB(t)
	past := time.Now().Add(-time.Hour)
	ns := make([]herald.NewNotification, herald.MaxCreateBatch)
	for i := range ns {
		ns[i] = herald.NewNotification{UserID: fmt.Sprint("u", i%7), Type: "t", Title: "x", ExpiresAt: past}
	}
	for range 3 {
		if _, err := db.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := db.PurgeExpired(ctx, time.Now()); err != nil || n != 3*len(ns) {
		t.Fatalf("PurgeExpired: got %d, %v; want %d", n, err, 3*len(ns))
	}
}

func TestSchemaVersion(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "herald.db")
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var version int
	if err := raw.QueryRow("PRAGMA user_version").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 1 {
		t.Fatalf("user_version: got %d, want at least 1", version)
	}
	var mode string
	if err := raw.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode: got %q, %v; want wal", mode, err)
	}

	// A file from a newer herald is refused rather than misread.
	if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version = %d", version+1)); err != nil {
		t.Fatal(err)
	}
	if db, err := sqlite.Open(path); err == nil {
		db.Close()
		t.Fatal("Open of a newer schema: got no error")
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"", ":memory:", filepath.Join(t.TempDir(), "missing-dir", "herald.db")} {
		if db, err := sqlite.Open(path); err == nil {
			db.Close()
			t.Errorf("Open(%q): got no error", path)
		}
	}
}

func TestPathWithSpecialCharacters(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a dir?#%", "my db?x=1.db")
	if err := mkdirAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	db := mustOpenPath(t, path)
	if _, err := db.Create(context.Background(), []herald.NewNotification{{UserID: "u", Type: "t", Title: "x"}}); err != nil {
		t.Fatal(err)
	}
	if !fileExists(path) {
		t.Errorf("database file %q was not created", path)
	}
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := db.UnreadCount(context.Background(), "", "u"); err == nil {
		t.Error("UnreadCount after Close: got no error")
	}
	if _, err := db.Create(context.Background(), []herald.NewNotification{{UserID: "u", Type: "t", Title: "x"}}); err == nil {
		t.Error("Create after Close: got no error")
	}
}

func TestRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // not parallel: changes the working directory
	db := mustOpenPath(t, "herald.db")
	if _, err := db.Create(context.Background(), []herald.NewNotification{{UserID: "u", Type: "t", Title: "x"}}); err != nil {
		t.Fatal(err)
	}
	if !fileExists(filepath.Join(dir, "herald.db")) {
		t.Error("herald.db was not created in the working directory")
	}
}

func mkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
