package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"herald"
	"herald/internal/pgtest"
)

// Two nodes (two stores on one schema) take bulk creates for the same
// 1,000 users in different orders at once, some with idempotency keys (the
// transaction that locks heads in chunks) and some without (the single
// statement): none deadlocks, and every user's seqs are 1..n with no gap.
func TestBulkCreatesOnTwoNodes(t *testing.T) {
	t.Parallel()
	url := pgtest.SchemaURL(t, "nodes")
	nodes := []herald.Store{mustOpenURL(t, url), mustOpenURL(t, url)}
	const users, callers = herald.MaxCreateBatch, 6
	ids := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%04d", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for c := range callers {
		order := slices.Clone(ids)
		rand.New(rand.NewPCG(uint64(c), 7)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		wg.Go(func() {
			ns := make([]herald.NewNotification, len(order))
			for i, u := range order {
				ns[i] = herald.NewNotification{TenantID: "t", UserID: u, Type: "bulk", Title: "bulk"}
				if c%2 == 1 {
					ns[i].IdempotencyKey = fmt.Sprintf("call-%d", c)
				}
			}
			if _, err := nodes[c%2].Create(ctx, ns); err != nil {
				t.Errorf("bulk create %d: %v", c, err)
			}
		})
	}
	wg.Wait()
	for _, u := range ids {
		got, err := nodes[0].Since(ctx, "t", u, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range got {
			if n.Seq != int64(i+1) {
				t.Fatalf("%s: seqs %v, want 1..%d", u, seqsOf(got), callers)
			}
		}
		if len(got) != callers {
			t.Fatalf("%s: %d notifications, want %d", u, len(got), callers)
		}
	}
}

func seqsOf(ns []herald.Notification) []int64 {
	out := make([]int64, len(ns))
	for i, n := range ns {
		out[i] = n.Seq
	}
	return out
}
