package storetest

import (
	"context"
	"herald"
	"testing"
	"time"
)

func testDelete(t *testing.T, s herald.Store) {
	ctx := context.Background()
	ns := createN(t, s, tenantA, alice, 3)
	if err := s.Delete(ctx, tenantA, alice, ns[1].ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := s.Get(ctx, tenantA, alice, ns[1].ID)
	wantCode(t, "Get after Delete", err, herald.ENOTFOUND)
	wantCode(t, "Delete again", s.Delete(ctx, tenantA, alice, ns[1].ID), herald.ENOTFOUND)
	_, err = s.MarkRead(ctx, tenantA, alice, ns[1].ID)
	wantCode(t, "MarkRead after Delete", err, herald.ENOTFOUND)
	wantSeqs(t, "list after Delete", listAll(t, s, tenantA, alice, herald.ListOptions{}), 3, 1)
	wantCount(t, s, tenantA, alice, 2)

	// Deleting a read notification leaves the count alone.
	if _, err := s.MarkRead(ctx, tenantA, alice, ns[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, tenantA, alice, ns[0].ID); err != nil {
		t.Fatal(err)
	}
	wantCount(t, s, tenantA, alice, 1)
}

func testDeleteAll(t *testing.T, s herald.Store) {
	ctx := context.Background()
	ns := createN(t, s, tenantA, alice, 4)
	createN(t, s, tenantA, bob, 2)
	if _, err := s.MarkRead(ctx, tenantA, alice, ns[0].ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteAll(ctx, tenantA, alice); err != nil || n != 4 {
		t.Fatalf("DeleteAll: got %d, %v; want 4", n, err)
	}
	if got := listAll(t, s, tenantA, alice, herald.ListOptions{}); len(got) != 0 {
		t.Errorf("list after DeleteAll: got %d notifications", len(got))
	}
	wantCount(t, s, tenantA, alice, 0)
	wantCount(t, s, tenantA, bob, 2)
	if n, err := s.DeleteAll(ctx, tenantA, alice); err != nil || n != 0 {
		t.Errorf("DeleteAll again: got %d, %v; want 0", n, err)
	}
}

func testDeleteByID(t *testing.T, s herald.Store) {
	ctx := context.Background()
	n := create(t, s, note(tenantB, bob, "to delete"))[0]
	keep := create(t, s, note(tenantB, bob, "to keep"))[0]
	deleted, err := s.DeleteByID(ctx, n.ID)
	if err != nil {
		t.Fatalf("DeleteByID: %v", err)
	}
	sameNotification(t, "DeleteByID result", deleted, n)
	_, err = s.Get(ctx, tenantB, bob, n.ID)
	wantCode(t, "Get after DeleteByID", err, herald.ENOTFOUND)
	_, err = s.DeleteByID(ctx, n.ID)
	wantCode(t, "DeleteByID again", err, herald.ENOTFOUND)
	sameNotification(t, "neighbour", mustGet(t, s, tenantB, bob, keep.ID), keep)
	wantCount(t, s, tenantB, bob, 1)
}

func testExpiry(t *testing.T, s herald.Store) {
	ctx := context.Background()
	now := time.Now()
	expiring := func(title string, at time.Time) herald.NewNotification {
		n := note(tenantA, alice, title)
		n.ExpiresAt = at
		return n
	}
	pastIn := expiring("past", now.Add(-time.Hour))
	pastIn.IdempotencyKey = "expired-key"
	ns := create(t, s, pastIn, expiring("future", now.Add(time.Hour)), note(tenantA, alice, "forever"))
	past, future, forever := ns[0], ns[1], ns[2]
	if past.ExpiresAt == nil || past.ExpiresAt.Sub(now.Add(-time.Hour)).Abs() > time.Millisecond {
		t.Errorf("ExpiresAt: got %v, want %v", past.ExpiresAt, now.Add(-time.Hour))
	}
	wantSeqs(t, "created", ns, 1, 2, 3)

	// The expired one is invisible everywhere.
	wantSeqs(t, "list", listAll(t, s, tenantA, alice, herald.ListOptions{}), 3, 2)
	wantSeqs(t, "unread list", listAll(t, s, tenantA, alice, herald.ListOptions{UnreadOnly: true}), 3, 2)
	wantSeqs(t, "since", mustSince(t, s, tenantA, alice, 0, 0), 2, 3)
	wantCount(t, s, tenantA, alice, 2)
	_, err := s.Get(ctx, tenantA, alice, past.ID)
	wantCode(t, "Get expired", err, herald.ENOTFOUND)
	_, err = s.MarkRead(ctx, tenantA, alice, past.ID)
	wantCode(t, "MarkRead expired", err, herald.ENOTFOUND)
	wantCode(t, "Delete expired", s.Delete(ctx, tenantA, alice, past.ID), herald.ENOTFOUND)
	_, err = s.DeleteByID(ctx, past.ID)
	wantCode(t, "DeleteByID expired", err, herald.ENOTFOUND)
	sameNotification(t, "future", mustGet(t, s, tenantA, alice, future.ID), future)

	// Its idempotency key still holds until it is purged.
	if n := create(t, s, pastIn)[0]; !n.Existing || n.ID != past.ID {
		t.Errorf("idempotent retry of an expired notification: got %+v, want the expired one", n)
	}
	if n, err := s.MarkAllRead(ctx, tenantA, alice); err != nil || n != 2 {
		t.Errorf("MarkAllRead: got %d, %v; want 2", n, err)
	}

	// Purge removes what has expired by the given time, in every feed.
	other := create(t, s, herald.NewNotification{TenantID: tenantB, UserID: bob, Type: "t", Title: "x", ExpiresAt: now.Add(-time.Minute)})[0]
	if n, err := s.PurgeExpired(ctx, now); err != nil || n != 2 {
		t.Fatalf("PurgeExpired(now): got %d, %v; want 2", n, err)
	}
	wantCount(t, s, tenantA, alice, 0) // future and forever were marked read
	wantCount(t, s, tenantB, bob, 0)
	if n := create(t, s, pastIn)[0]; n.Existing || n.ID == past.ID {
		t.Errorf("idempotency key after purge: got %+v, want a new notification", n)
	}
	wantCount(t, s, tenantA, alice, 0)
	create(t, s, note(tenantA, alice, "fresh"))
	wantCount(t, s, tenantA, alice, 1)
	_, err = s.DeleteByID(ctx, other.ID)
	wantCode(t, "DeleteByID purged", err, herald.ENOTFOUND)
	if n, err := s.PurgeExpired(ctx, now.Add(2*time.Hour)); err != nil || n != 2 { // future, and the re-created past
		t.Fatalf("PurgeExpired(now+2h): got %d, %v; want 2", n, err)
	}
	if n, err := s.PurgeExpired(ctx, now.Add(2*time.Hour)); err != nil || n != 0 {
		t.Fatalf("PurgeExpired again: got %d, %v; want 0", n, err)
	}
	got := listAll(t, s, tenantA, alice, herald.ListOptions{})
	if len(got) != 2 || got[0].Title != "fresh" || got[1].ID != forever.ID {
		t.Errorf("after purges: got seqs %v, want only those that never expire", seqs(got))
	}
	wantCount(t, s, tenantA, alice, 1)
}
