package storetest

import (
	"context"
	"fmt"
	"herald"
	"strings"
	"testing"
)

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
