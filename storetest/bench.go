package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"herald"
)

// BenchmarkCreateCallers measures single-notification Create calls from
// callers goroutines at once, as from that many concurrent API requests,
// spread over 1,000 users of one tenant. It reports notifications/s.
func BenchmarkCreateCallers(b *testing.B, s herald.Store, callers int) {
	ctx := context.Background()
	var next, done atomic.Int64
	total := int64(b.N)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > total {
					return
				}
				n := []herald.NewNotification{{
					TenantID: "bench",
					UserID:   fmt.Sprintf("user-%d", i%1000),
					Type:     "order.shipped",
					Title:    "Your order has shipped",
					Message:  "Order #12345 is on its way and should arrive on Thursday.",
					Data:     json.RawMessage(`{"orderId":12345,"url":"/orders/12345"}`),
				}}
				if _, err := s.Create(ctx, n); err != nil {
					b.Error(err)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(done.Load())/b.Elapsed().Seconds(), "notifications/s")
}
