package groupcommit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

var errClosed = errors.New("closed")

// recorder is a Commit that doubles its inputs and remembers its groups.
type recorder struct {
	mu     sync.Mutex
	groups [][]int
	fail   func(in int) bool // a group holding such an input fails
	hold   chan struct{}     // when set, each commit waits for it
}

func (r *recorder) commit(_ context.Context, group []*Call[int, int]) error {
	if r.hold != nil {
		<-r.hold
	}
	var ins []int
	for _, c := range group {
		if r.fail != nil && r.fail(c.In) {
			return errors.New("boom")
		}
		ins = append(ins, c.In)
		c.Out = 2 * c.In
	}
	r.mu.Lock()
	r.groups = append(r.groups, ins)
	r.mu.Unlock()
	return nil
}

func TestGroupFailureIsolated(t *testing.T) {
	r := &recorder{fail: func(in int) bool { return in == 2 }}
	q := New(Config[int, int]{Commit: r.commit, Closed: errClosed})
	defer q.Close()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []*Call[int, int]{NewCall[int, int](context.Background(), 1), NewCall[int, int](context.Background(), 2),
		NewCall[int, int](context.Background(), 3), NewCall[int, int](canceled, 4)}
	q.Commit(calls...)
	for i, c := range calls {
		if !c.Answered() {
			t.Fatalf("call %d not answered", i)
		}
	}
	if calls[0].Err != nil || calls[0].Out != 2 || calls[2].Err != nil || calls[2].Out != 6 {
		t.Errorf("good calls: got %d %v, %d %v", calls[0].Out, calls[0].Err, calls[2].Out, calls[2].Err)
	}
	if calls[1].Err == nil || calls[1].Out != 0 {
		t.Errorf("failing call: got %d, %v; want an error and no output", calls[1].Out, calls[1].Err)
	}
	if !errors.Is(calls[3].Err, context.Canceled) {
		t.Errorf("canceled call: got %v", calls[3].Err)
	}
	if len(r.groups) != 2 || len(r.groups[0]) != 1 || len(r.groups[1]) != 1 {
		t.Errorf("committed groups %v, want [1] and [3] alone", r.groups)
	}
}

func TestNoRetryAloneWhenRefused(t *testing.T) {
	commits := 0
	q := New(Config[int, int]{
		Commit: func(context.Context, []*Call[int, int]) error { commits++; return errors.New("down") },
		Alone:  func(error) bool { return false },
		Wrap:   func(err error) error { return errors.Join(errors.New("wrapped"), err) },
		Closed: errClosed,
	})
	defer q.Close()
	calls := []*Call[int, int]{NewCall[int, int](context.Background(), 1), NewCall[int, int](context.Background(), 2)}
	q.Commit(calls...)
	if commits != 1 {
		t.Errorf("commits: got %d, want 1", commits)
	}
	for _, c := range calls {
		if c.Err == nil || c.Err.Error() != "wrapped\ndown" {
			t.Errorf("got %v, want the wrapped error", c.Err)
		}
	}
}

// TestBudget holds the worker on a first call while others queue up, then
// checks that the next groups keep to the item budget (Size = the input).
func TestBudget(t *testing.T) {
	r := &recorder{hold: make(chan struct{})}
	q := New(Config[int, int]{Commit: r.commit, Closed: errClosed,
		Size: func(in int) (int, int) { return in, 0 }, MaxItems: 5})
	defer q.Close()
	var wg sync.WaitGroup
	do := func(in int) {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if out, err := q.Do(ctx, in); err != nil || out != 2*in {
				t.Errorf("Do(%d): got %d, %v", in, out, err)
			}
		})
	}
	do(1)
	time.Sleep(50 * time.Millisecond) // the worker takes it and waits in commit
	for _, in := range []int{3, 3, 2, 9} {
		do(in)
		time.Sleep(10 * time.Millisecond) // in this order
	}
	// Release the commits one by one; fewer groups than expected leaves
	// a send waiting, and the test fails on the deadline.
	for range 4 {
		select {
		case r.hold <- struct{}{}:
		case <-time.After(5 * time.Second):
			t.Fatal("fewer than 4 groups were committed")
		}
	}
	close(r.hold)
	wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.groups {
		sum := 0
		for _, in := range g {
			sum += in
		}
		if sum > 5 && len(g) > 1 {
			t.Errorf("group %v is over the budget of 5 items", g)
		}
	}
	if len(r.groups) != 4 {
		t.Errorf("groups %v, want [1] [3] [3 2] [9]", r.groups)
	}
}

func TestClosed(t *testing.T) {
	q := New(Config[int, int]{Commit: (&recorder{}).commit, Closed: errClosed})
	if out, err := q.Do(context.Background(), 4); err != nil || out != 8 {
		t.Fatalf("Do: got %d, %v", out, err)
	}
	q.Close()
	q.Close()
	if _, err := q.Do(context.Background(), 1); !errors.Is(err, errClosed) {
		t.Errorf("after Close: got %v, want errClosed", err)
	}
}

func TestCallerDeadline(t *testing.T) {
	r := &recorder{hold: make(chan struct{})}
	q := New(Config[int, int]{Commit: r.commit, Closed: errClosed})
	defer q.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := q.Do(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the caller's deadline", err)
	}
	close(r.hold)
}
