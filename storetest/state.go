package storetest

import (
	"context"
	"herald"
	"slices"
	"testing"
	"time"
)

func testMarkRead(t *testing.T, s herald.Store) {
	ctx := context.Background()
	ns := createN(t, s, tenantA, alice, 3)
	wantCount(t, s, tenantA, alice, 3)

	before := time.Now().Add(-time.Second)
	read, err := s.MarkRead(ctx, tenantA, alice, ns[1].ID)
	if err != nil {
		t.Fatalf("MarkRead: %v", err)
	}
	if read.Status != herald.StatusRead || read.ReadAt == nil || read.ReadAt.Before(before) ||
		read.ReadAt.After(time.Now().Add(time.Second)) {
		t.Errorf("MarkRead: got status %q, readAt %v; want read, about now", read.Status, read.ReadAt)
	}
	if read.ID != ns[1].ID || read.Seq != ns[1].Seq || read.Title != ns[1].Title {
		t.Errorf("MarkRead: returned %+v, want the notification %+v", read, ns[1])
	}
	wantCount(t, s, tenantA, alice, 2)

	// Again: success, nothing changes, the first ReadAt is kept.
	nextMilli(t, *read.ReadAt) // so that a new ReadAt would differ
	again, err := s.MarkRead(ctx, tenantA, alice, ns[1].ID)
	if err != nil {
		t.Fatalf("MarkRead again: %v", err)
	}
	sameNotification(t, "MarkRead again", again, read)
	wantCount(t, s, tenantA, alice, 2)

	got, err := s.Get(ctx, tenantA, alice, ns[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	sameNotification(t, "Get after MarkRead", got, read)
	other, err := s.Get(ctx, tenantA, alice, ns[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	sameNotification(t, "untouched neighbour", other, ns[0])
}

func testMarkAllRead(t *testing.T, s herald.Store) {
	ctx := context.Background()
	ns := createN(t, s, tenantA, alice, 4)
	createN(t, s, tenantA, bob, 2)
	if _, err := s.MarkRead(ctx, tenantA, alice, ns[0].ID); err != nil {
		t.Fatal(err)
	}
	firstReadAt := mustGet(t, s, tenantA, alice, ns[0].ID).ReadAt
	nextMilli(t, *firstReadAt) // so that a new ReadAt would differ

	n, err := s.MarkAllRead(ctx, tenantA, alice)
	if err != nil || n != 3 {
		t.Fatalf("MarkAllRead: got %d, %v; want 3", n, err)
	}
	wantCount(t, s, tenantA, alice, 0)
	wantCount(t, s, tenantA, bob, 2)
	for _, n := range listAll(t, s, tenantA, alice, herald.ListOptions{}) {
		if n.Status != herald.StatusRead || n.ReadAt == nil {
			t.Errorf("seq %d: got status %q, readAt %v after MarkAllRead", n.Seq, n.Status, n.ReadAt)
		}
	}
	if got := mustGet(t, s, tenantA, alice, ns[0].ID).ReadAt; !got.Equal(*firstReadAt) {
		t.Errorf("already read: ReadAt changed from %v to %v", firstReadAt, got)
	}
	if n, err := s.MarkAllRead(ctx, tenantA, alice); err != nil || n != 0 {
		t.Errorf("MarkAllRead again: got %d, %v; want 0", n, err)
	}
	if n, err := s.MarkAllRead(ctx, tenantA, "nobody"); err != nil || n != 0 {
		t.Errorf("MarkAllRead of an empty feed: got %d, %v; want 0", n, err)
	}
	if got := len(listAll(t, s, tenantA, alice, herald.ListOptions{UnreadOnly: true})); got != 0 {
		t.Errorf("unread list after MarkAllRead: got %d, want 0", got)
	}
}

func mustGet(t *testing.T, s herald.Store, tenant, user, id string) herald.Notification {
	t.Helper()
	n, err := s.Get(context.Background(), tenant, user, id)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return n
}

func wantCounts(t *testing.T, s herald.Store, tenant, user string, unread, unseen int) {
	t.Helper()
	c, err := s.Counts(context.Background(), tenant, user)
	if err != nil {
		t.Fatalf("Counts: %v", err)
	}
	if c.Unread != unread || c.Unseen != unseen {
		t.Errorf("Counts(%q, %q): got %+v, want unread %d, unseen %d", tenant, user, c, unread, unseen)
	}
	wantCount(t, s, tenant, user, unread)
}

func testMarkReadMany(t *testing.T, s herald.Store) {
	ctx := context.Background()
	ns := createN(t, s, tenantA, alice, 5)
	bobs := create(t, s, note(tenantA, bob, "bob's"))[0]
	if _, err := s.MarkRead(ctx, tenantA, alice, ns[0].ID); err != nil {
		t.Fatal(err)
	}
	firstReadAt := mustGet(t, s, tenantA, alice, ns[0].ID).ReadAt
	nextMilli(t, *firstReadAt)

	// Already read, another user's, unknown and repeated ids are skipped;
	// the changed ones come back in the order given.
	ids := []string{ns[3].ID, ns[0].ID, bobs.ID, "nope", ns[1].ID, ns[3].ID}
	changed, err := s.MarkReadMany(ctx, tenantA, alice, ids)
	if err != nil {
		t.Fatalf("MarkReadMany: %v", err)
	}
	if want := []string{ns[3].ID, ns[1].ID}; !slices.Equal(changed, want) {
		t.Errorf("MarkReadMany: got %v, want %v", changed, want)
	}
	wantCounts(t, s, tenantA, alice, 2, 5)
	wantCounts(t, s, tenantA, bob, 1, 1)
	for _, i := range []int{1, 3} {
		if n := mustGet(t, s, tenantA, alice, ns[i].ID); n.Status != herald.StatusRead || n.ReadAt == nil || n.SeenAt != nil {
			t.Errorf("seq %d: got status %q, readAt %v, seenAt %v; want read, set, nil", n.Seq, n.Status, n.ReadAt, n.SeenAt)
		}
	}
	if got := mustGet(t, s, tenantA, alice, ns[0].ID).ReadAt; !got.Equal(*firstReadAt) {
		t.Errorf("already read: ReadAt changed from %v to %v", firstReadAt, got)
	}
	if again, err := s.MarkReadMany(ctx, tenantA, alice, ids); err != nil || len(again) != 0 {
		t.Errorf("MarkReadMany again: got %v, %v; want none changed", again, err)
	}

	_, err = s.MarkReadMany(ctx, tenantA, alice, nil)
	wantCode(t, "MarkReadMany of nothing", err, herald.EINVALID)
	_, err = s.MarkReadMany(ctx, tenantA, alice, make([]string, herald.MaxIDsPerCall+1))
	wantCode(t, "MarkReadMany of too many", err, herald.EINVALID)
	wantCounts(t, s, tenantA, alice, 2, 5)
}

func testMarkSeen(t *testing.T, s herald.Store) {
	ctx := context.Background()
	ns := createN(t, s, tenantA, alice, 4)
	bobs := create(t, s, note(tenantA, bob, "bob's"))[0]
	if ns[3].UnseenCount != 4 || ns[3].SeenAt != nil {
		t.Errorf("created: UnseenCount %d, SeenAt %v; want 4, nil", ns[3].UnseenCount, ns[3].SeenAt)
	}
	wantCounts(t, s, tenantA, alice, 4, 4)

	n, err := s.MarkSeen(ctx, tenantA, alice, []string{ns[0].ID, ns[1].ID, ns[1].ID, bobs.ID, "nope"})
	if err != nil || n != 2 {
		t.Fatalf("MarkSeen: got %d, %v; want 2", n, err)
	}
	// Seen is apart from read.
	wantCounts(t, s, tenantA, alice, 4, 2)
	wantCounts(t, s, tenantA, bob, 1, 1)
	seen := mustGet(t, s, tenantA, alice, ns[0].ID)
	if seen.SeenAt == nil || seen.Status != herald.StatusUnread || seen.ReadAt != nil {
		t.Errorf("seen: got seenAt %v, status %q, readAt %v; want set, unread, nil", seen.SeenAt, seen.Status, seen.ReadAt)
	}
	if _, err := s.MarkRead(ctx, tenantA, alice, ns[2].ID); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, s, tenantA, alice, 3, 2)
	if got := mustGet(t, s, tenantA, alice, ns[2].ID); got.SeenAt != nil {
		t.Errorf("read: got seenAt %v, want nil", got.SeenAt)
	}

	nextMilli(t, *seen.SeenAt)
	if n, err := s.MarkAllSeen(ctx, tenantA, alice); err != nil || n != 2 {
		t.Fatalf("MarkAllSeen: got %d, %v; want 2", n, err)
	}
	wantCounts(t, s, tenantA, alice, 3, 0)
	if got := mustGet(t, s, tenantA, alice, ns[0].ID).SeenAt; !got.Equal(*seen.SeenAt) {
		t.Errorf("already seen: SeenAt changed from %v to %v", seen.SeenAt, got)
	}
	for _, n := range listAll(t, s, tenantA, alice, herald.ListOptions{}) {
		if n.SeenAt == nil {
			t.Errorf("seq %d: unseen after MarkAllSeen", n.Seq)
		}
	}
	if n, err := s.MarkAllSeen(ctx, tenantA, alice); err != nil || n != 0 {
		t.Errorf("MarkAllSeen again: got %d, %v; want 0", n, err)
	}
	wantCounts(t, s, tenantA, bob, 1, 1)

	// A new one is unseen, and Create says so.
	fresh := create(t, s, note(tenantA, alice, "fresh"))[0]
	if fresh.UnseenCount != 1 || fresh.UnreadCount != 4 {
		t.Errorf("fresh: UnseenCount %d, UnreadCount %d; want 1, 4", fresh.UnseenCount, fresh.UnreadCount)
	}
	// Deleting an unseen one lowers the count; expired ones are not counted.
	expired := note(tenantA, alice, "expired")
	expired.ExpiresAt = time.Now().Add(-time.Minute)
	create(t, s, expired)
	wantCounts(t, s, tenantA, alice, 4, 1)
	if err := s.Delete(ctx, tenantA, alice, fresh.ID); err != nil {
		t.Fatal(err)
	}
	wantCounts(t, s, tenantA, alice, 3, 0)

	_, err = s.MarkSeen(ctx, tenantA, alice, nil)
	wantCode(t, "MarkSeen of nothing", err, herald.EINVALID)
	_, err = s.MarkSeen(ctx, tenantA, alice, make([]string, herald.MaxIDsPerCall+1))
	wantCode(t, "MarkSeen of too many", err, herald.EINVALID)
}
