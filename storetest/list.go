package storetest

import (
	"context"
	"fmt"
	"herald"
	"strings"
	"testing"
)

func testListPagination(t *testing.T, s herald.Store) {
	createN(t, s, tenantA, alice, 20)
	createN(t, s, tenantA, bob, 3)

	p1 := list(t, s, tenantA, alice, herald.ListOptions{Limit: 10})
	wantSeqs(t, "page 1", p1.Notifications, seqRange(20, 11)...)
	if p1.NextCursor == "" {
		t.Fatal("page 1: no NextCursor")
	}
	p2 := list(t, s, tenantA, alice, herald.ListOptions{Limit: 10, Before: p1.NextCursor})
	wantSeqs(t, "page 2", p2.Notifications, seqRange(10, 1)...)
	if p2.NextCursor != "" {
		t.Errorf("page 2 (the last, exactly full): got NextCursor %q, want none", p2.NextCursor)
	}

	// Uneven pages.
	wantSeqs(t, "pages of 7", listAll(t, s, tenantA, alice, herald.ListOptions{Limit: 7}), seqRange(20, 1)...)
	wantSeqs(t, "pages of 1", listAll(t, s, tenantA, alice, herald.ListOptions{Limit: 1}), seqRange(20, 1)...)

	// Nothing at all.
	empty := list(t, s, tenantA, "nobody", herald.ListOptions{})
	if len(empty.Notifications) != 0 || empty.NextCursor != "" {
		t.Errorf("empty feed: got %+v", empty)
	}
}

func testListPaginationWithInserts(t *testing.T, s herald.Store) {
	created := createN(t, s, tenantA, alice, 25)
	var seen []herald.Notification
	opts := herald.ListOptions{Limit: 10}
	for page := 0; ; page++ {
		p := list(t, s, tenantA, alice, opts)
		seen = append(seen, p.Notifications...)
		// New notifications arrive between pages; they belong to the top of
		// the feed and must not shift or repeat what follows the cursor.
		createN(t, s, tenantA, alice, 3)
		if p.NextCursor == "" {
			break
		}
		if page > 10 {
			t.Fatal("pagination does not end")
		}
		opts.Before = p.NextCursor
	}
	wantSeqs(t, "all pages", seen, seqRange(25, 1)...)
	for i, n := range seen {
		if want := created[len(created)-1-i]; n.ID != want.ID {
			t.Errorf("seen[%d]: got id %s, want %s", i, n.ID, want.ID)
		}
	}
}

func testListLimits(t *testing.T, s herald.Store) {
	ns := make([]herald.NewNotification, 105)
	for i := range ns {
		ns[i] = note(tenantA, alice, fmt.Sprint(i))
	}
	create(t, s, ns...)
	for _, tt := range []struct{ limit, want int }{
		{0, herald.DefaultListLimit}, {-5, herald.DefaultListLimit}, {1, 1}, {50, 50},
		{herald.MaxListLimit, herald.MaxListLimit}, {1000, herald.MaxListLimit},
	} {
		p := list(t, s, tenantA, alice, herald.ListOptions{Limit: tt.limit})
		if len(p.Notifications) != tt.want {
			t.Errorf("Limit %d: got %d notifications, want %d", tt.limit, len(p.Notifications), tt.want)
		}
		if p.NextCursor == "" {
			t.Errorf("Limit %d: got no NextCursor with 105 notifications", tt.limit)
		}
	}
}

func testListInvalidCursor(t *testing.T, s herald.Store) {
	createN(t, s, tenantA, alice, 3)
	for _, c := range []string{"garbage", "!!!", "MTIz", "eyJzZXEiOjF9", " ", strings.Repeat("A", 1000)} {
		_, err := s.List(context.Background(), tenantA, alice, herald.ListOptions{Before: c})
		wantCode(t, fmt.Sprintf("List(Before: %.20q)", c), err, herald.EINVALID)
	}
}

func testListUnreadOnly(t *testing.T, s herald.Store) {
	ctx := context.Background()
	ns := createN(t, s, tenantA, alice, 6)
	for _, i := range []int{1, 3} { // seqs 2 and 4
		if _, err := s.MarkRead(ctx, tenantA, alice, ns[i].ID); err != nil {
			t.Fatalf("MarkRead: %v", err)
		}
	}
	wantSeqs(t, "unread", listAll(t, s, tenantA, alice, herald.ListOptions{UnreadOnly: true}), 6, 5, 3, 1)
	wantSeqs(t, "unread in pages of 1", listAll(t, s, tenantA, alice, herald.ListOptions{UnreadOnly: true, Limit: 1}), 6, 5, 3, 1)
	for _, n := range listAll(t, s, tenantA, alice, herald.ListOptions{UnreadOnly: true}) {
		if n.Status != herald.StatusUnread {
			t.Errorf("unread list: seq %d has status %q", n.Seq, n.Status)
		}
	}
	all := listAll(t, s, tenantA, alice, herald.ListOptions{})
	wantSeqs(t, "all", all, 6, 5, 4, 3, 2, 1)
	for _, n := range all {
		wantRead := n.Seq == 2 || n.Seq == 4
		if (n.Status == herald.StatusRead) != wantRead || (n.ReadAt != nil) != wantRead {
			t.Errorf("seq %d: got status %q, readAt %v", n.Seq, n.Status, n.ReadAt)
		}
	}

	// Reading items of later pages while paging keeps the cursor valid.
	p1 := list(t, s, tenantA, alice, herald.ListOptions{UnreadOnly: true, Limit: 2})
	wantSeqs(t, "unread page 1", p1.Notifications, 6, 5)
	if _, err := s.MarkRead(ctx, tenantA, alice, ns[4].ID); err != nil { // seq 5, already listed
		t.Fatal(err)
	}
	p2 := list(t, s, tenantA, alice, herald.ListOptions{UnreadOnly: true, Limit: 2, Before: p1.NextCursor})
	wantSeqs(t, "unread page 2", p2.Notifications, 3, 1)
}

func mustSince(t *testing.T, s herald.Store, tenant, user string, after int64, limit int) []herald.Notification {
	t.Helper()
	ns, err := s.Since(context.Background(), tenant, user, after, limit)
	if err != nil {
		t.Fatalf("Since(%d, %d): %v", after, limit, err)
	}
	return ns
}

func testSince(t *testing.T, s herald.Store) {
	ctx := context.Background()
	ns := createN(t, s, tenantA, alice, 5)
	createN(t, s, tenantA, bob, 2)

	wantSeqs(t, "since 0", mustSince(t, s, tenantA, alice, 0, 0), 1, 2, 3, 4, 5)
	wantSeqs(t, "since 3", mustSince(t, s, tenantA, alice, 3, 0), 4, 5)
	wantSeqs(t, "since 0, limit 2", mustSince(t, s, tenantA, alice, 0, 2), 1, 2)
	wantSeqs(t, "since 5", mustSince(t, s, tenantA, alice, 5, 0))
	wantSeqs(t, "since 99", mustSince(t, s, tenantA, alice, 99, 0))
	wantSeqs(t, "since -1", mustSince(t, s, tenantA, alice, -1, 0), 1, 2, 3, 4, 5)

	// Read notifications are replayed too; deleted ones leave a hole.
	if _, err := s.MarkRead(ctx, tenantA, alice, ns[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, tenantA, alice, ns[1].ID); err != nil {
		t.Fatal(err)
	}
	got := mustSince(t, s, tenantA, alice, 0, 0)
	wantSeqs(t, "after read and delete", got, 1, 3, 4, 5)
	if got[0].Status != herald.StatusRead {
		t.Errorf("since: seq 1 has status %q, want read", got[0].Status)
	}
	sameNotification(t, "since: seq 3", got[1], ns[2])

	// Replay in batches reaches everything, in order.
	var replayed []herald.Notification
	after := int64(0)
	for {
		batch := mustSince(t, s, tenantA, alice, after, 2)
		replayed = append(replayed, batch...)
		if len(batch) < 2 {
			break
		}
		after = batch[len(batch)-1].Seq
	}
	wantSeqs(t, "batched replay", replayed, 1, 3, 4, 5)

	// The limit is clamped.
	many := make([]herald.NewNotification, herald.MaxReplayLimit+10)
	for i := range many {
		many[i] = note(tenantA, "carol", fmt.Sprint(i))
	}
	create(t, s, many...)
	if got := mustSince(t, s, tenantA, "carol", 0, 1_000_000); len(got) != herald.MaxReplayLimit {
		t.Errorf("since with a huge limit: got %d, want %d", len(got), herald.MaxReplayLimit)
	}
	if got := mustSince(t, s, tenantA, "carol", 0, 0); len(got) != herald.DefaultReplayLimit {
		t.Errorf("since with limit 0: got %d, want %d", len(got), herald.DefaultReplayLimit)
	}
}
