package storetest

import (
	"context"
	"encoding/json"
	"herald"
	"strings"
	"testing"
	"time"
)

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
