package routines_test

import (
	"sync/atomic"
	"testing"

	"herald/internal/routines"
)

func TestWaitWaitsForEveryGoroutine(t *testing.T) {
	var g routines.Group
	stop := make(chan struct{})
	var done atomic.Int32
	for range 10 {
		if !g.Go(func() { <-stop; done.Add(1) }) {
			t.Fatal("Go refused before Wait")
		}
	}
	close(stop)
	g.Wait()
	if n := done.Load(); n != 10 {
		t.Fatalf("Wait returned with %d of 10 goroutines done", n)
	}
	if g.Go(func() { t.Error("ran after Wait") }) {
		t.Fatal("Go started a goroutine after Wait")
	}
}
