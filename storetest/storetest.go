// Package storetest is the conformance suite of herald.Store. Every store
// implementation runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) herald.Store {
//			s := openMyStore(t)
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite knows nothing of any database; it checks the contract written on
// herald.Store, through that interface only.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"herald"
)

// Run runs the suite. newStore must return a new, empty store whose clock is
// the real time (the suite creates notifications that expire relative to
// time.Now), and must arrange for it to be closed when t ends. Subtests run
// in parallel, each on its own store.
func Run(t *testing.T, newStore func(t *testing.T) herald.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, herald.Store)
	}{
		{"CreateFields", testCreateFields},
		{"CreateUnreadCount", testCreateUnreadCount},
		{"CreateLimitsAccepted", testCreateLimitsAccepted},
		{"SeqPerUser", testSeqPerUser},
		{"SeqNeverReused", testSeqNeverReused},
		{"Idempotency", testIdempotency},
		{"TenantIsolation", testTenantIsolation},
		{"OtherUsersIDs", testOtherUsersIDs},
		{"ListPagination", testListPagination},
		{"ListPaginationWithInserts", testListPaginationWithInserts},
		{"ListLimits", testListLimits},
		{"ListInvalidCursor", testListInvalidCursor},
		{"ListUnreadOnly", testListUnreadOnly},
		{"Since", testSince},
		{"MarkRead", testMarkRead},
		{"MarkAllRead", testMarkAllRead},
		{"Delete", testDelete},
		{"DeleteAll", testDeleteAll},
		{"DeleteByID", testDeleteByID},
		{"Expiry", testExpiry},
		{"Validation", testValidation},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ConcurrentIdempotency", testConcurrentIdempotency},
		{"Ping", testPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

// Tenants and users of the suite. The default tenant is "".
const (
	tenantA = "tenant-a"
	tenantB = "tenant-b"
	alice   = "alice"
	bob     = "bob"
)

// note returns a valid NewNotification for the user.
func note(tenant, user, title string) herald.NewNotification {
	return herald.NewNotification{TenantID: tenant, UserID: user, Type: "info", Title: title, Message: "message of " + title}
}

func create(t *testing.T, s herald.Store, ns ...herald.NewNotification) []herald.Notification {
	t.Helper()
	out, err := s.Create(context.Background(), ns)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if len(out) != len(ns) {
		t.Fatalf("Create: got %d notifications, want %d", len(out), len(ns))
	}
	return out
}

// createN creates n notifications for the user, one call each, titled 1..n.
func createN(t *testing.T, s herald.Store, tenant, user string, n int) []herald.Notification {
	t.Helper()
	out := make([]herald.Notification, 0, n)
	for i := range n {
		out = append(out, create(t, s, note(tenant, user, fmt.Sprint(i+1)))[0])
	}
	return out
}

func list(t *testing.T, s herald.Store, tenant, user string, opts herald.ListOptions) herald.Page {
	t.Helper()
	page, err := s.List(context.Background(), tenant, user, opts)
	if err != nil {
		t.Fatalf("List(%s, %s, %+v): %v", tenant, user, opts, err)
	}
	if page.Notifications == nil {
		t.Fatalf("List: got nil Notifications, want a non-nil slice")
	}
	return page
}

// listAll follows cursors to the end and returns every notification.
func listAll(t *testing.T, s herald.Store, tenant, user string, opts herald.ListOptions) []herald.Notification {
	t.Helper()
	var all []herald.Notification
	for range 10_000 {
		page := list(t, s, tenant, user, opts)
		all = append(all, page.Notifications...)
		if page.NextCursor == "" {
			return all
		}
		opts.Before = page.NextCursor
	}
	t.Fatal("List: cursors never ended")
	return nil
}

func unreadCount(t *testing.T, s herald.Store, tenant, user string) int {
	t.Helper()
	n, err := s.UnreadCount(context.Background(), tenant, user)
	if err != nil {
		t.Fatalf("UnreadCount: %v", err)
	}
	return n
}

func wantCount(t *testing.T, s herald.Store, tenant, user string, want int) {
	t.Helper()
	if got := unreadCount(t, s, tenant, user); got != want {
		t.Errorf("UnreadCount(%q, %q): got %d, want %d", tenant, user, got, want)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := herald.ErrorCode(err); got != code {
		t.Errorf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
}

func seqs(ns []herald.Notification) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = n.Seq
	}
	return out
}

func wantSeqs(t *testing.T, what string, ns []herald.Notification, want ...int64) {
	t.Helper()
	if got := seqs(ns); !slices.Equal(got, want) {
		t.Errorf("%s: got seqs %v, want %v", what, got, want)
	}
}

// seqRange returns from, from±1, ..., to.
func seqRange(from, to int64) []int64 {
	var out []int64
	step := int64(1)
	if to < from {
		step = -1
	}
	for s := from; ; s += step {
		out = append(out, s)
		if s == to {
			return out
		}
	}
}

// sameNotification checks that got and want describe the same stored state:
// Existing is ignored, times are compared at the JSON (millisecond)
// precision, and data as JSON values, so that a store may normalize it.
func sameNotification(t *testing.T, what string, got, want herald.Notification) {
	t.Helper()
	g, w := got, want
	g.Existing, w.Existing = false, false
	g.Data, w.Data = normalizeJSON(g.Data), normalizeJSON(w.Data)
	gj, err := json.Marshal(g)
	if err != nil {
		t.Fatalf("%s: marshal: %v", what, err)
	}
	wj, err := json.Marshal(w)
	if err != nil {
		t.Fatalf("%s: marshal: %v", what, err)
	}
	if string(gj) != string(wj) {
		t.Errorf("%s:\n got %s\nwant %s", what, gj, wj)
	}
}

// normalizeJSON re-encodes a JSON value with sorted keys and no spaces;
// invalid JSON is returned as it is.
func normalizeJSON(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, err := json.Marshal(v)
	if err != nil {
		return b
	}
	return out
}

func jsonEqual(a, b json.RawMessage) bool {
	return string(normalizeJSON(a)) == string(normalizeJSON(b))
}

func testCreateFields(t *testing.T, s herald.Store) {
	ctx := context.Background()
	before := time.Now().Add(-time.Second)
	in := herald.NewNotification{
		TenantID: tenantA, UserID: alice, Type: "order.shipped", Title: "Shipped",
		Message: "Your order is on its way ✈", Data: json.RawMessage(`{"orderId": 42, "tags": ["a", "b"]}`),
		GroupKey: "orders",
	}
	n := create(t, s, in)[0]
	after := time.Now().Add(time.Second)

	if n.ID == "" {
		t.Error("ID: got empty")
	}
	if n.TenantID != tenantA || n.UserID != alice || n.Type != in.Type || n.Title != in.Title ||
		n.Message != in.Message || n.GroupKey != in.GroupKey {
		t.Errorf("fields: got %+v, want those of %+v", n, in)
	}
	if !jsonEqual(n.Data, in.Data) {
		t.Errorf("Data: got %s, want %s", n.Data, in.Data)
	}
	if n.Seq != 1 {
		t.Errorf("Seq: got %d, want 1", n.Seq)
	}
	if n.Status != herald.StatusUnread || n.ReadAt != nil || n.ExpiresAt != nil {
		t.Errorf("got status %q, readAt %v, expiresAt %v; want unread, nil, nil", n.Status, n.ReadAt, n.ExpiresAt)
	}
	if n.CreatedAt.Before(before) || n.CreatedAt.After(after) {
		t.Errorf("CreatedAt: got %v, want between %v and %v", n.CreatedAt, before, after)
	}
	if n.Existing {
		t.Error("Existing: got true for a new notification")
	}

	got, err := s.Get(ctx, tenantA, alice, n.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	sameNotification(t, "Get after Create", got, n)

	// Absent optional fields stay absent.
	m := create(t, s, note(tenantA, alice, "plain"))[0]
	if m.Data != nil || m.GroupKey != "" {
		t.Errorf("plain: got data %s, groupKey %q; want nil, empty", m.Data, m.GroupKey)
	}
	got, err = s.Get(ctx, tenantA, alice, m.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	sameNotification(t, "Get plain", got, m)
	if m.ID == n.ID {
		t.Errorf("two notifications share the ID %q", m.ID)
	}
}

// Create reports each user's unread count after the call, so that the
// caller can announce it without another query.
func testCreateUnreadCount(t *testing.T, s herald.Store) {
	ctx := context.Background()
	first := create(t, s, note(tenantA, alice, "1"))
	if first[0].UnreadCount != 1 {
		t.Fatalf("first notification: UnreadCount = %d, want 1", first[0].UnreadCount)
	}
	expired := note(tenantA, alice, "expired")
	expired.ExpiresAt = time.Now().Add(-time.Hour)
	keyed := note(tenantA, alice, "keyed")
	keyed.IdempotencyKey = "k1"
	out := create(t, s, note(tenantA, alice, "2"), note(tenantA, bob, "b1"), expired, note(tenantB, alice, "other tenant"), keyed)
	for i, want := range []int{3, 1, 3, 1, 3} {
		if out[i].UnreadCount != want {
			t.Errorf("notification %d (%s/%s %q): UnreadCount = %d, want %d", i, out[i].TenantID, out[i].UserID, out[i].Title, out[i].UnreadCount, want)
		}
	}
	if _, err := s.MarkRead(ctx, tenantA, alice, first[0].ID); err != nil {
		t.Fatal(err)
	}
	again := create(t, s, keyed, note(tenantA, alice, "4"))
	if !again[0].Existing || again[1].UnreadCount != 3 {
		t.Fatalf("after a read: existing %v, UnreadCount = %d; want existing, 3", again[0].Existing, again[1].UnreadCount)
	}
	wantCount(t, s, tenantA, alice, 3)
}

func testCreateLimitsAccepted(t *testing.T, s herald.Store) {
	data := `{"k":"` + strings.Repeat("d", herald.MaxDataBytes-8) + `"}`
	in := herald.NewNotification{
		TenantID:       strings.Repeat("t", herald.MaxIDBytes),
		UserID:         strings.Repeat("u", herald.MaxIDBytes),
		Type:           strings.Repeat("y", herald.MaxTypeBytes),
		Title:          strings.Repeat("é", herald.MaxTitleBytes/2),
		Message:        strings.Repeat("m", herald.MaxMessageBytes),
		Data:           json.RawMessage(data),
		IdempotencyKey: strings.Repeat("k", herald.MaxIDBytes),
		GroupKey:       strings.Repeat("g", herald.MaxIDBytes),
	}
	if len(data) != herald.MaxDataBytes {
		t.Fatalf("test data is %d bytes, want %d", len(data), herald.MaxDataBytes)
	}
	n := create(t, s, in)[0]
	got, err := s.Get(context.Background(), in.TenantID, in.UserID, n.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	sameNotification(t, "largest notification", got, n)
	if got.Title != in.Title || got.Message != in.Message || !jsonEqual(got.Data, in.Data) {
		t.Error("largest notification: fields changed in the store")
	}
}

func testSeqPerUser(t *testing.T, s herald.Store) {
	wantSeqs(t, "alice in A", createN(t, s, tenantA, alice, 3), 1, 2, 3)
	wantSeqs(t, "bob in A", createN(t, s, tenantA, bob, 2), 1, 2)
	wantSeqs(t, "alice in B", createN(t, s, tenantB, alice, 1), 1)
	wantSeqs(t, "alice in the default tenant", createN(t, s, "", alice, 1), 1)

	// One batch for several users: results in input order, each user's seq
	// continues, and the batch is numbered in input order.
	batch := create(t, s,
		note(tenantA, alice, "x"), note(tenantA, bob, "y"), note(tenantA, alice, "z"), note(tenantB, bob, "w"))
	wantSeqs(t, "batch", batch, 4, 3, 5, 1)
	for i, want := range []string{alice, bob, alice, bob} {
		if batch[i].UserID != want {
			t.Errorf("batch[%d]: got user %q, want %q", i, batch[i].UserID, want)
		}
	}
	wantSeqs(t, "alice in A, listed", listAll(t, s, tenantA, alice, herald.ListOptions{}), 5, 4, 3, 2, 1)
}

func testSeqNeverReused(t *testing.T, s herald.Store) {
	ctx := context.Background()
	ns := createN(t, s, tenantA, alice, 3)
	if err := s.Delete(ctx, tenantA, alice, ns[2].ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantSeqs(t, "after deleting the newest", createN(t, s, tenantA, alice, 1), 4)
	if _, err := s.DeleteAll(ctx, tenantA, alice); err != nil {
		t.Fatalf("DeleteAll: %v", err)
	}
	wantSeqs(t, "after deleting all", createN(t, s, tenantA, alice, 1), 5)
}

func testIdempotency(t *testing.T, s herald.Store) {
	ctx := context.Background()
	keyed := func(tenant, user, key string) herald.NewNotification {
		n := note(tenant, user, "keyed")
		n.IdempotencyKey = key
		return n
	}
	first := create(t, s, keyed(tenantA, alice, "k1"))[0]
	if first.Existing {
		t.Error("first: got Existing")
	}

	// A retry, even with other content, returns the first one.
	retry := keyed(tenantA, alice, "k1")
	retry.Title = "changed"
	again := create(t, s, retry)[0]
	if !again.Existing {
		t.Error("retry: Existing not set")
	}
	sameNotification(t, "retry", again, first)
	wantCount(t, s, tenantA, alice, 1)

	// The retry consumed no seq.
	wantSeqs(t, "next without key", createN(t, s, tenantA, alice, 1), 2)

	// Keys are per user and per tenant.
	if n := create(t, s, keyed(tenantA, bob, "k1"))[0]; n.Existing || n.ID == first.ID {
		t.Errorf("same key, other user: got %+v, want a new notification", n)
	}
	if n := create(t, s, keyed(tenantB, alice, "k1"))[0]; n.Existing || n.ID == first.ID {
		t.Errorf("same key, other tenant: got %+v, want a new notification", n)
	}

	// Within one batch.
	batch := create(t, s, keyed(tenantA, alice, "k2"), keyed(tenantA, alice, "k2"), keyed(tenantA, alice, "k1"))
	if batch[0].Existing || !batch[1].Existing || !batch[2].Existing {
		t.Errorf("batch: got Existing %v %v %v, want false true true", batch[0].Existing, batch[1].Existing, batch[2].Existing)
	}
	if batch[1].ID != batch[0].ID || batch[2].ID != first.ID {
		t.Error("batch: duplicates did not return the first notifications")
	}
	wantSeqs(t, "batch", batch, 3, 3, 1)

	// The existing notification is returned as stored now.
	if _, err := s.MarkRead(ctx, tenantA, alice, first.ID); err != nil {
		t.Fatalf("MarkRead: %v", err)
	}
	if n := create(t, s, keyed(tenantA, alice, "k1"))[0]; !n.Existing || n.Status != herald.StatusRead {
		t.Errorf("after MarkRead: got status %q, Existing %v; want read, true", n.Status, n.Existing)
	}

	// Once deleted, the key is free again.
	if err := s.Delete(ctx, tenantA, alice, first.ID); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if n := create(t, s, keyed(tenantA, alice, "k1"))[0]; n.Existing || n.ID == first.ID || n.Seq != 4 {
		t.Errorf("after Delete: got %+v, want a new notification with seq 4", n)
	}
}

func testTenantIsolation(t *testing.T, s herald.Store) {
	ctx := context.Background()
	// The same user id in two tenants (and the default tenant) is three people.
	inA := createN(t, s, tenantA, alice, 2)
	inB := createN(t, s, tenantB, alice, 3)
	inDefault := createN(t, s, "", alice, 1)

	wantSeqs(t, "list A", listAll(t, s, tenantA, alice, herald.ListOptions{}), 2, 1)
	wantSeqs(t, "list B", listAll(t, s, tenantB, alice, herald.ListOptions{}), 3, 2, 1)
	wantSeqs(t, "list default", listAll(t, s, "", alice, herald.ListOptions{}), 1)
	for _, n := range listAll(t, s, tenantB, alice, herald.ListOptions{}) {
		if n.TenantID != tenantB {
			t.Errorf("list B: got a notification of tenant %q", n.TenantID)
		}
	}
	wantCount(t, s, tenantA, alice, 2)
	wantCount(t, s, tenantB, alice, 3)
	wantCount(t, s, "", alice, 1)

	// Another tenant's ids are not found, and nothing changes.
	_, err := s.Get(ctx, tenantB, alice, inA[0].ID)
	wantCode(t, "Get across tenants", err, herald.ENOTFOUND)
	_, err = s.MarkRead(ctx, tenantB, alice, inA[0].ID)
	wantCode(t, "MarkRead across tenants", err, herald.ENOTFOUND)
	wantCode(t, "Delete across tenants", s.Delete(ctx, tenantB, alice, inA[0].ID), herald.ENOTFOUND)
	_, err = s.MarkRead(ctx, "", alice, inB[0].ID)
	wantCode(t, "MarkRead from the default tenant", err, herald.ENOTFOUND)
	wantCode(t, "Delete from the default tenant", s.Delete(ctx, "", alice, inB[0].ID), herald.ENOTFOUND)
	_, err = s.MarkRead(ctx, tenantA, alice, inDefault[0].ID)
	wantCode(t, "MarkRead of the default tenant", err, herald.ENOTFOUND)
	wantCount(t, s, tenantA, alice, 2)
	wantCount(t, s, "", alice, 1)

	// Bulk operations stay in their tenant.
	if n, err := s.MarkAllRead(ctx, tenantB, alice); err != nil || n != 3 {
		t.Fatalf("MarkAllRead B: got %d, %v; want 3", n, err)
	}
	wantCount(t, s, tenantA, alice, 2)
	if n, err := s.DeleteAll(ctx, tenantA, alice); err != nil || n != 2 {
		t.Fatalf("DeleteAll A: got %d, %v; want 2", n, err)
	}
	wantSeqs(t, "list B after A's DeleteAll", listAll(t, s, tenantB, alice, herald.ListOptions{}), 3, 2, 1)
	wantSeqs(t, "list default after A's DeleteAll", listAll(t, s, "", alice, herald.ListOptions{}), 1)
	wantSeqs(t, "since in B", mustSince(t, s, tenantB, alice, 0, 0), 1, 2, 3)
}

func testOtherUsersIDs(t *testing.T, s herald.Store) {
	ctx := context.Background()
	mine := create(t, s, note(tenantA, alice, "alice's"))[0]
	createN(t, s, tenantA, bob, 1)

	_, err := s.Get(ctx, tenantA, bob, mine.ID)
	wantCode(t, "Get of another user's id", err, herald.ENOTFOUND)
	_, err = s.MarkRead(ctx, tenantA, bob, mine.ID)
	wantCode(t, "MarkRead of another user's id", err, herald.ENOTFOUND)
	wantCode(t, "Delete of another user's id", s.Delete(ctx, tenantA, bob, mine.ID), herald.ENOTFOUND)

	for _, id := range []string{"", "nope", "00000000-0000-0000-0000-000000000000", "1", "' OR 1=1 --", strings.Repeat("x", 10_000)} {
		_, err = s.Get(ctx, tenantA, alice, id)
		wantCode(t, fmt.Sprintf("Get(%.20q)", id), err, herald.ENOTFOUND)
		_, err = s.MarkRead(ctx, tenantA, alice, id)
		wantCode(t, fmt.Sprintf("MarkRead(%.20q)", id), err, herald.ENOTFOUND)
		wantCode(t, fmt.Sprintf("Delete(%.20q)", id), s.Delete(ctx, tenantA, alice, id), herald.ENOTFOUND)
		_, err = s.DeleteByID(ctx, id)
		wantCode(t, fmt.Sprintf("DeleteByID(%.20q)", id), err, herald.ENOTFOUND)
	}

	// Alice's notification is untouched.
	got, err := s.Get(ctx, tenantA, alice, mine.ID)
	if err != nil {
		t.Fatalf("Get own: %v", err)
	}
	sameNotification(t, "after another user's attempts", got, mine)
	wantCount(t, s, tenantA, alice, 1)
	wantCount(t, s, tenantA, bob, 1)
}

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
	time.Sleep(5 * time.Millisecond) // so that a new ReadAt would differ
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
	time.Sleep(5 * time.Millisecond) // so that a new ReadAt would differ

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

func testValidation(t *testing.T, s herald.Store) {
	ctx := context.Background()
	valid := note(tenantA, alice, "ok")
	with := func(f func(*herald.NewNotification)) herald.NewNotification {
		n := valid
		f(&n)
		return n
	}
	tests := []struct {
		name string
		n    herald.NewNotification
	}{
		{"no user", with(func(n *herald.NewNotification) { n.UserID = "" })},
		{"blank user", with(func(n *herald.NewNotification) { n.UserID = "  " })},
		{"no type", with(func(n *herald.NewNotification) { n.Type = "" })},
		{"no title", with(func(n *herald.NewNotification) { n.Title = "" })},
		{"blank title", with(func(n *herald.NewNotification) { n.Title = " \t\n" })},
		{"long user", with(func(n *herald.NewNotification) { n.UserID = strings.Repeat("u", herald.MaxIDBytes+1) })},
		{"long tenant", with(func(n *herald.NewNotification) { n.TenantID = strings.Repeat("t", herald.MaxIDBytes+1) })},
		{"long type", with(func(n *herald.NewNotification) { n.Type = strings.Repeat("y", herald.MaxTypeBytes+1) })},
		{"long title", with(func(n *herald.NewNotification) { n.Title = strings.Repeat("é", herald.MaxTitleBytes/2) + "x" })},
		{"long message", with(func(n *herald.NewNotification) { n.Message = strings.Repeat("m", herald.MaxMessageBytes+1) })},
		{"long data", with(func(n *herald.NewNotification) {
			n.Data = json.RawMessage(`"` + strings.Repeat("d", herald.MaxDataBytes-1) + `"`)
		})},
		{"long idempotency key", with(func(n *herald.NewNotification) { n.IdempotencyKey = strings.Repeat("k", herald.MaxIDBytes+1) })},
		{"long group key", with(func(n *herald.NewNotification) { n.GroupKey = strings.Repeat("g", herald.MaxIDBytes+1) })},
		{"data not JSON", with(func(n *herald.NewNotification) { n.Data = json.RawMessage(`{"a":`) })},
		{"data two values", with(func(n *herald.NewNotification) { n.Data = json.RawMessage(`1 2`) })},
		{"data bad UTF-8", with(func(n *herald.NewNotification) { n.Data = json.RawMessage("\"\xff\"") })},
		{"title bad UTF-8", with(func(n *herald.NewNotification) { n.Title = "\xff" })},
		{"message bad UTF-8", with(func(n *herald.NewNotification) { n.Message = "ok\xc3" })},
		{"user bad UTF-8", with(func(n *herald.NewNotification) { n.UserID = "\xfe" })},
		{"expiry out of range", with(func(n *herald.NewNotification) { n.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) })},
	}
	for _, tt := range tests {
		_, err := s.Create(ctx, []herald.NewNotification{tt.n})
		wantCode(t, "Create with "+tt.name, err, herald.EINVALID)
		// One bad notification fails the whole batch.
		_, err = s.Create(ctx, []herald.NewNotification{valid, tt.n})
		wantCode(t, "batch with "+tt.name, err, herald.EINVALID)
	}
	_, err := s.Create(ctx, nil)
	wantCode(t, "Create of nothing", err, herald.EINVALID)
	big := make([]herald.NewNotification, herald.MaxCreateBatch+1)
	for i := range big {
		big[i] = valid
	}
	_, err = s.Create(ctx, big)
	wantCode(t, "Create of too many", err, herald.EINVALID)

	// Nothing was stored and no seq was consumed.
	wantCount(t, s, tenantA, alice, 0)
	wantSeqs(t, "first valid create", create(t, s, valid), 1)
}

func testConcurrentCreates(t *testing.T, s herald.Store) {
	const workers, each = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	got := make([][]herald.Notification, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				var (
					out []herald.Notification
					err error
				)
				if i%5 == 4 { // some batches, including another user
					out, err = s.Create(context.Background(), []herald.NewNotification{
						note(tenantA, alice, "batch"), note(tenantA, bob, "batch"),
					})
					out = out[:min(len(out), 1)]
				} else {
					out, err = s.Create(context.Background(), []herald.NewNotification{note(tenantA, alice, "single")})
				}
				if err != nil {
					errs <- err
					return
				}
				got[w] = append(got[w], out...)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Create: %v", err)
	}

	var all []int64
	for w, ns := range got {
		// Each worker sees its own creates in increasing seq order.
		if !slices.IsSorted(seqs(ns)) {
			t.Errorf("worker %d: seqs not increasing: %v", w, seqs(ns))
		}
		all = append(all, seqs(ns)...)
	}
	slices.Sort(all)
	if want := seqRange(1, workers*each); !slices.Equal(all, want) {
		t.Errorf("seqs: got %v, want 1..%d each once", all, workers*each)
	}
	wantCount(t, s, tenantA, alice, workers*each)
	wantSeqs(t, "bob", mustSince(t, s, tenantA, bob, 0, 0), seqRange(1, workers*each/5)...)
}

func testConcurrentIdempotency(t *testing.T, s herald.Store) {
	const workers = 8
	n := note(tenantA, alice, "once")
	n.IdempotencyKey = "retry-me"
	ids := make([]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			out, err := s.Create(context.Background(), []herald.NewNotification{n})
			if err != nil {
				t.Errorf("Create: %v", err)
				return
			}
			ids[w] = out[0].ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent creates with one key gave different ids: %v", ids)
		}
	}
	wantCount(t, s, tenantA, alice, 1)
	wantSeqs(t, "next", create(t, s, note(tenantA, alice, "next")), 2)
}

func testPing(t *testing.T, s herald.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}
