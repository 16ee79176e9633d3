package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"herald"
	"herald/internal/groupcommit"
)

// TestGroupFailureIsolated checks that one failing Create in a group commit
// fails alone: the others are retried on their own and succeed.
func TestGroupFailureIsolated(t *testing.T) {
	t.Parallel()
	db, err := Open(filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	boom := errors.New("boom")
	calls := 0
	db.failInsert = func(n *herald.NewNotification) error {
		if n.Title == "boom" {
			calls++
			return boom
		}
		return nil
	}

	note := func(user, title string) []herald.NewNotification {
		return []herald.NewNotification{{UserID: user, Type: "t", Title: title}}
	}
	call := groupcommit.NewCall[[]herald.NewNotification, []herald.Notification]
	group := []*createCall{
		call(context.Background(), note("a", "one")),
		call(context.Background(), append(note("b", "two"), note("b", "boom")...)),
		call(context.Background(), note("a", "three")),
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	group = append(group, call(canceled, note("a", "gone")))

	db.creates.Commit(group...)
	for i, req := range group {
		if !req.Answered() {
			t.Fatalf("request %d was not answered", i)
		}
	}
	if calls != 2 {
		t.Errorf("failing insert ran %d times, want 2 (in the group, then alone)", calls)
	}
	if !errors.Is(group[1].Err, boom) || group[1].Out != nil {
		t.Errorf("failing request: got %v, %v; want the boom error and no notifications", group[1].Out, group[1].Err)
	}
	if !errors.Is(group[3].Err, context.Canceled) {
		t.Errorf("canceled request: got %v, want context.Canceled", group[3].Err)
	}
	for _, i := range []int{0, 2} {
		if group[i].Err != nil || len(group[i].Out) != 1 {
			t.Fatalf("request %d: got %v, %v; want one notification", i, group[i].Out, group[i].Err)
		}
	}
	if group[0].Out[0].Seq != 1 || group[2].Out[0].Seq != 2 {
		t.Errorf("seqs: got %d, %d; want 1, 2", group[0].Out[0].Seq, group[2].Out[0].Seq)
	}
	ctx := context.Background()
	if n, _ := db.UnreadCount(ctx, "", "b"); n != 0 {
		t.Errorf("user b: got %d notifications, want none (the request was all-or-nothing)", n)
	}
	if got, err := db.Get(ctx, "", "a", group[2].Out[0].ID); err != nil || got.Title != "three" {
		t.Errorf("Get: got %+v, %v", got, err)
	}
	// b's seq was not consumed either.
	db.failInsert = nil
	out, err := db.Create(ctx, note("b", "after"))
	if err != nil || out[0].Seq != 1 {
		t.Errorf("after the failure: got %+v, %v; want seq 1", out, err)
	}
}
