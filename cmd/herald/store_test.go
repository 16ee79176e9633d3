package main

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"herald"
	"herald/internal/pgtest"
	"herald/postgres"
	"herald/sqlite"
)

// herald store copy moves notifications with their seqs, read and seen
// state, idempotency keys and feed heads; run again, it copies only what
// is new.
func TestStoreCopy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "herald.db")
	src, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	note := func(tenant, user, title string) herald.NewNotification {
		return herald.NewNotification{TenantID: tenant, UserID: user, Type: "info", Title: title}
	}
	keyed := note("t1", "alice", "keyed")
	keyed.IdempotencyKey = "k1"
	expired := note("t1", "alice", "expired")
	expired.ExpiresAt = time.Now().Add(-time.Hour)
	ns, err := src.Create(ctx, []herald.NewNotification{note("t1", "alice", "1"), keyed, expired, note("t1", "bob", "b1"), note("", "alice", "default tenant")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.MarkRead(ctx, "t1", "alice", ns[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := src.MarkSeen(ctx, "t1", "alice", []string{ns[1].ID}); err != nil {
		t.Fatal(err)
	}
	gone, err := src.Create(ctx, []herald.NewNotification{note("t1", "bob", "deleted")})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Delete(ctx, "t1", "bob", gone[0].ID); err != nil {
		t.Fatal(err)
	}

	url := pgtest.SchemaURL(t, "copy")
	var out strings.Builder
	if err := runStore(ctx, []string{"copy", "--from", path, "--to", url, "--batch", "2"}, &out); err != nil {
		t.Fatalf("copy: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "copied 5 notifications") || !strings.Contains(out.String(), "verified") {
		t.Errorf("copy output:\n%s", out.String())
	}

	dst, err := postgres.Open(ctx, url, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for _, n := range []herald.Notification{ns[0], ns[1], ns[3], ns[4]} {
		got, err := dst.Get(ctx, n.TenantID, n.UserID, n.ID)
		if err != nil {
			t.Fatalf("Get %s: %v", n.Title, err)
		}
		want, _ := src.Get(ctx, n.TenantID, n.UserID, n.ID)
		if got.Seq != want.Seq || got.Status != want.Status || (got.SeenAt == nil) != (want.SeenAt == nil) || !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("%s: got %+v, want %+v", n.Title, got, want)
		}
	}
	c, err := dst.Counts(ctx, "t1", "alice")
	if err != nil || c != (herald.Counts{Unread: 1, Unseen: 1}) {
		t.Errorf("alice's counts: got %+v, %v; want 1 unread, 1 unseen", c, err)
	}
	// The key holds, and seqs continue, past the deleted one.
	again, err := dst.Create(ctx, []herald.NewNotification{keyed, note("t1", "bob", "next")})
	if err != nil {
		t.Fatal(err)
	}
	if !again[0].Existing || again[0].ID != ns[1].ID || again[1].Seq != 3 {
		t.Errorf("after the copy: got %+v; want the keyed one back and bob's seq 3", again)
	}

	// New notifications in the file: a second run copies only those.
	more, err := src.Create(ctx, []herald.NewNotification{note("t1", "carol", "late")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.DeleteByID(ctx, again[1].ID); err != nil { // so that the counts compare
		t.Fatal(err)
	}
	out.Reset()
	if err := runStore(ctx, []string{"copy", "--from", path, "--to", url}, &out); err != nil {
		t.Fatalf("second copy: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "resuming") || !strings.Contains(out.String(), "copied 1 notifications") {
		t.Errorf("second copy output:\n%s", out.String())
	}
	if _, err := dst.Get(ctx, "t1", "carol", more[0].ID); err != nil {
		t.Errorf("the late one: %v", err)
	}
	since, _ := dst.Since(ctx, "t1", "alice", 0, 0)
	if got := seqsOf(since); !slices.Equal(got, []int64{1, 2}) {
		t.Errorf("alice's visible seqs: %v, want [1 2]", got)
	}
}

func seqsOf(ns []herald.Notification) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = n.Seq
	}
	return out
}
