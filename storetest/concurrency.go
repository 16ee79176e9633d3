package storetest

import (
	"context"
	"fmt"
	"herald"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"
)

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

// The counters stay exact while creates, reads, seen marks and deletes of
// one user race: afterwards they match what the feed holds.
func testCountsUnderRaces(t *testing.T, s herald.Store) {
	ctx := context.Background()
	const rounds = 40
	seed := createN(t, s, tenantA, alice, 20)
	ids := make(chan string, rounds*4+len(seed))
	for _, n := range seed {
		ids <- n.ID
	}
	var wg sync.WaitGroup
	fail := func(what string, err error) {
		if err != nil && herald.ErrorCode(err) != herald.ENOTFOUND {
			t.Errorf("%s: %v", what, err)
		}
	}
	wg.Go(func() { // creates, alone and in batches
		for i := range rounds {
			out, err := s.Create(ctx, []herald.NewNotification{note(tenantA, alice, "a"), note(tenantA, alice, "b"), note(tenantA, bob, "c")})
			fail("Create", err)
			if err == nil {
				ids <- out[0].ID
				ids <- out[1].ID
			}
			if i%10 == 0 {
				_, err := s.MarkAllRead(ctx, tenantA, alice)
				fail("MarkAllRead", err)
			}
		}
	})
	takeID := func() (string, bool) {
		select {
		case id := <-ids:
			return id, true
		default:
			return "", false
		}
	}
	for w := range 3 {
		wg.Go(func() { // reads, seen marks and deletes of the ids made so far
			for i := range rounds {
				id, ok := takeID()
				if !ok {
					continue
				}
				switch (w + i) % 4 {
				case 0:
					_, err := s.MarkRead(ctx, tenantA, alice, id)
					fail("MarkRead", err)
				case 1:
					fail("Delete", s.Delete(ctx, tenantA, alice, id))
				case 2:
					_, err := s.MarkSeen(ctx, tenantA, alice, []string{id})
					fail("MarkSeen", err)
				default:
					_, err := s.MarkReadMany(ctx, tenantA, alice, []string{id, id})
					fail("MarkReadMany", err)
					ids <- id // again, for a racing delete
				}
			}
		})
	}
	wg.Wait()

	unread, unseen := 0, 0
	for _, n := range listAll(t, s, tenantA, alice, herald.ListOptions{}) {
		if n.Status == herald.StatusUnread {
			unread++
		}
		if n.SeenAt == nil {
			unseen++
		}
	}
	wantCounts(t, s, tenantA, alice, unread, unseen)
	wantCounts(t, s, tenantA, bob, rounds, rounds)
	if c := len(listAll(t, s, tenantA, alice, herald.ListOptions{UnreadOnly: true})); c != unread {
		t.Errorf("unread list: got %d, want %d", c, unread)
	}
}

// Bulk creates for many of the same users, given in different orders,
// run at once without deadlocking, and every user's seqs stay 1..n.
func testConcurrentBulkCreates(t *testing.T, s herald.Store) {
	const users, callers = herald.MaxCreateBatch, 4
	ids := make([]string, users)
	for i := range ids {
		ids[i] = fmt.Sprintf("bulk-%04d", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for c := range callers {
		order := slices.Clone(ids)
		switch c % 3 {
		case 1:
			slices.Reverse(order)
		case 2:
			rand.New(rand.NewPCG(uint64(c), 1)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		wg.Go(func() {
			ns := make([]herald.NewNotification, len(order))
			for i, u := range order {
				ns[i] = note(tenantA, u, "bulk")
			}
			if _, err := s.Create(ctx, ns); err != nil {
				t.Errorf("bulk Create %d: %v", c, err)
			}
		})
	}
	wg.Wait()
	for _, u := range []string{ids[0], ids[users/2], ids[users-1]} {
		wantSeqs(t, u, mustSince(t, s, tenantA, u, 0, 0), seqRange(1, callers)...)
	}
	wantCount(t, s, tenantA, ids[7], callers)
}
