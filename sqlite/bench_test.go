package sqlite_test

import (
	"context"
	"encoding/json"
	"fmt"
	"herald/storetest"
	"sync/atomic"
	"testing"

	"herald"
)

// benchNote is a typical notification: short texts and a small data object.
func benchNote(user int) herald.NewNotification {
	return herald.NewNotification{
		TenantID: "bench",
		UserID:   fmt.Sprintf("user-%d", user),
		Type:     "order.shipped",
		Title:    "Your order has shipped",
		Message:  "Order #12345 is on its way and should arrive on Thursday.",
		Data:     json.RawMessage(`{"orderId":12345,"url":"/orders/12345"}`),
	}
}

// BenchmarkCreate measures one notification per Create call (one transaction
// each), spread over 1,000 users.
func BenchmarkCreate(b *testing.B) {
	db := MustOpenDB(b)
	ctx := context.Background()
	notes := make([]herald.NewNotification, 1000)
	for i := range notes {
		notes[i] = benchNote(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := db.Create(ctx, notes[i%len(notes):i%len(notes)+1]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}

// BenchmarkCreateParallel measures concurrent single Creates, as from many
// HTTP requests at once; they share transactions (group commit).
func BenchmarkCreateParallel(b *testing.B) {
	db := MustOpenDB(b)
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32) // 64 concurrent callers on 2 CPUs
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := []herald.NewNotification{benchNote(int(next.Add(1) % 1000))}
			if _, err := db.Create(ctx, n); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
}

// BenchmarkCreateBatch100 measures Create calls of 100 notifications for
// 100 different users (one transaction per call).
func BenchmarkCreateBatch100(b *testing.B) {
	db := MustOpenDB(b)
	ctx := context.Background()
	batch := make([]herald.NewNotification, 100)
	for i := range batch {
		batch[i] = benchNote(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.Create(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "notifications/s")
}

// seedFeed gives user-0 1,000 notifications of which the newest 200 are
// unread, among 100 other users' notifications.
func seedFeed(b *testing.B) herald.Store {
	db := MustOpenDB(b)
	ctx := context.Background()
	batch := make([]herald.NewNotification, 100)
	for range 10 {
		for i := range batch {
			batch[i] = benchNote(0)
		}
		if _, err := db.Create(ctx, batch); err != nil {
			b.Fatal(err)
		}
		for i := range batch {
			batch[i] = benchNote(i + 1)
		}
		if _, err := db.Create(ctx, batch); err != nil {
			b.Fatal(err)
		}
		if n, err := db.UnreadCount(ctx, "bench", "user-0"); err != nil || n < 0 {
			b.Fatal(err)
		}
	}
	if _, err := db.MarkAllRead(ctx, "bench", "user-0"); err != nil {
		b.Fatal(err)
	}
	for range 2 {
		for i := range batch {
			batch[i] = benchNote(0)
		}
		if _, err := db.Create(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

// BenchmarkUnreadCount counts 200 unread notifications in a feed of 1,200.
func BenchmarkUnreadCount(b *testing.B) {
	db := seedFeed(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		n, err := db.UnreadCount(ctx, "bench", "user-0")
		if err != nil || n != 200 {
			b.Fatalf("UnreadCount: got %d, %v; want 200", n, err)
		}
	}
}

// BenchmarkList reads the first page (20) of a feed of 1,200.
func BenchmarkList(b *testing.B) {
	db := seedFeed(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p, err := db.List(ctx, "bench", "user-0", herald.ListOptions{})
		if err != nil || len(p.Notifications) != herald.DefaultListLimit {
			b.Fatalf("List: got %d, %v", len(p.Notifications), err)
		}
	}
}

// BenchmarkCreate32Callers is BenchmarkCreate32Callers of the PostgreSQL
// store, for comparison: 32 concurrent single creates.
func BenchmarkCreate32Callers(b *testing.B) {
	storetest.BenchmarkCreateCallers(b, MustOpenDB(b), 32)
}
