package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"herald/internal/pgtest"
	"herald/postgres"
)

// benchNotify sends POST /v1/notifications for one user of 1,000 in turn,
// through the whole handler: API key, rate limit, decoding, the store's
// Create and the announce. Its allocations and CPU profile are those of
// the notify path less the HTTP server.
func benchNotify(b *testing.B, e *env) {
	bodies := make([]string, 1000)
	for i := range bodies {
		bodies[i] = `{"userId":"user-` + strconv.Itoa(i) + `","tenantId":"bench","type":"order.shipped",` +
			`"title":"Your order has shipped","message":"Order #12345 is on its way and should arrive on Thursday.",` +
			`"data":{"orderId":12345,"url":"/orders/12345"}}`
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/v1/notifications", strings.NewReader(bodies[i%len(bodies)]))
		r.Header.Set("Authorization", "Bearer "+apiKey)
		w := httptest.NewRecorder()
		e.handler.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
		i++
	}
}

// BenchmarkNotifySQLite is the notify path on the SQLite store.
func BenchmarkNotifySQLite(b *testing.B) {
	benchNotify(b, newEnv(b))
}

// BenchmarkNotifyPostgres is the notify path on the PostgreSQL store.
func BenchmarkNotifyPostgres(b *testing.B) {
	db, err := postgres.Open(context.Background(), pgtest.SchemaURL(b, "httpbench"), postgres.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	benchNotify(b, newEnvOn(b, db))
}

// BenchmarkNotifyParallelSQLite is benchNotify from 32 callers at once, as
// from that many concurrent requests (creates share group commits). Its
// mutex and block profiles show where concurrent creates wait.
func BenchmarkNotifyParallelSQLite(b *testing.B) {
	e := newEnv(b)
	bodies := make([]string, 1000)
	for i := range bodies {
		bodies[i] = `{"userId":"user-` + strconv.Itoa(i) + `","tenantId":"bench","type":"order.shipped",` +
			`"title":"Your order has shipped","message":"Order #12345 is on its way and should arrive on Thursday.",` +
			`"data":{"orderId":12345,"url":"/orders/12345"}}`
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16) // 32 callers on 2 CPUs
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := bodies[next.Add(1)%int64(len(bodies))]
			r := httptest.NewRequest(http.MethodPost, "/v1/notifications", strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+apiKey)
			w := httptest.NewRecorder()
			e.handler.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}
