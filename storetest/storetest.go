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
		{"MarkReadMany", testMarkReadMany},
		{"MarkSeen", testMarkSeen},
		{"Delete", testDelete},
		{"DeleteAll", testDeleteAll},
		{"DeleteByID", testDeleteByID},
		{"Expiry", testExpiry},
		{"Validation", testValidation},
		{"ConcurrentCreates", testConcurrentCreates},
		{"ConcurrentIdempotency", testConcurrentIdempotency},
		{"CountsUnderRaces", testCountsUnderRaces},
		{"ConcurrentBulkCreates", testConcurrentBulkCreates},
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

func testPing(t *testing.T, s herald.Store) {
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

// nextMilli waits until the clock has passed the millisecond of after, so
// that a time the store takes from now on differs from after at the stored
// precision.
func nextMilli(t *testing.T, after time.Time) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for time.Now().UnixMilli() <= after.UnixMilli() {
		if time.Now().After(deadline) {
			t.Fatalf("the clock did not pass %v within a second", after)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
