// Package groupcommit queues concurrent write calls so that those that
// arrive together are committed in one transaction: a commit costs far
// more than the rows it writes (a WAL flush), so one commit for many
// calls is the cheapest way to store many small writes.
//
// Contract:
//   - A lone call is committed at once: nothing ever waits for company.
//     A worker that takes a call first lets the goroutines that are ready
//     to run go (runtime.Gosched), so that calls about to be made join the
//     group, then takes whatever is waiting, within the budget.
//   - A group stays within Config.MaxCalls calls, Config.MaxItems items and
//     Config.MaxBytes bytes; its first call is taken whatever its size, so
//     a call larger than the budget is committed alone.
//   - Each call stays all-or-nothing: if a group fails and Config.Alone
//     allows it, its calls are committed again one by one, so that one bad
//     call fails alone.
//   - A call whose context has ended before its group commits is answered
//     with its context's error and left out of the group. A call whose
//     context ends while its group commits gets its context's error, but
//     its writes may still be committed.
//   - Do waits no longer than its context: give it a deadline (the
//     gateway's Config.StoreTimeout does). The commit itself runs with a
//     context no caller can cancel, so Config.Commit bounds its own
//     transaction (as the PostgreSQL store's TxTimeout does).
//   - After Close, Do fails with Config.Closed; groups under way finish.
package groupcommit

import (
	"context"
	"runtime"
	"sync"
)

// Call is one caller's write waiting in a Queue. Commit sets Out (on
// success) for each call of its group; the queue sets Err.
type Call[In, Out any] struct {
	Ctx  context.Context
	In   In
	Out  Out
	Err  error
	done chan struct{} // closed when Out or Err is final
}

// NewCall returns a call of in, bound to ctx, for Queue.Commit.
func NewCall[In, Out any](ctx context.Context, in In) *Call[In, Out] {
	return &Call[In, Out]{Ctx: ctx, In: in, done: make(chan struct{})}
}

// Answered reports whether the call has its final Out or Err.
func (c *Call[In, Out]) Answered() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Config is what a Queue commits and how large its groups may be.
type Config[In, Out any] struct {
	// Commit stores the calls' writes in one transaction, setting each
	// call's Out, and returns nil if it committed. It runs on one of the
	// queue's worker goroutines, with a context that no caller can cancel.
	// Required.
	Commit func(ctx context.Context, group []*Call[In, Out]) error
	// Size returns the items (rows) and bytes of a call's input, for the
	// budget. Nil means one item of zero bytes.
	Size func(In) (items, bytes int)
	// Alone reports whether a failed group of several calls is committed
	// again call by call (nil means always). A failure that no call
	// caused, such as an unreachable server, is better not tried again
	// once per call.
	Alone func(err error) bool
	// Wrap turns a commit's or context's error into the one the caller
	// gets; nil means as it is.
	Wrap func(error) error
	// Closed is the error of Do after Close. Required.
	Closed error

	Workers  int // groups committed at once; zero means 1
	MaxCalls int // calls in a group; zero means DefaultMaxCalls
	MaxItems int // items in a group; zero means no bound
	MaxBytes int // bytes in a group; zero means DefaultMaxBytes
}

// The defaults of Config.
const (
	DefaultMaxCalls = 256
	DefaultMaxBytes = 8 << 20
)

// Queue is a group-commit queue. It is safe for concurrent use.
type Queue[In, Out any] struct {
	cfg     Config[In, Out]
	calls   chan *Call[In, Out]
	closing chan struct{}
	workers sync.WaitGroup
	once    sync.Once
}

// New starts the queue's workers. It panics if cfg.Commit or cfg.Closed
// is nil.
func New[In, Out any](cfg Config[In, Out]) *Queue[In, Out] {
	if cfg.Commit == nil || cfg.Closed == nil {
		panic("groupcommit: Config.Commit and Config.Closed are required")
	}
	if cfg.Size == nil {
		cfg.Size = func(In) (int, int) { return 1, 0 }
	}
	if cfg.Alone == nil {
		cfg.Alone = func(error) bool { return true }
	}
	if cfg.Wrap == nil {
		cfg.Wrap = func(err error) error { return err }
	}
	cfg.Workers = max(cfg.Workers, 1)
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = DefaultMaxCalls
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	q := &Queue[In, Out]{cfg: cfg, calls: make(chan *Call[In, Out]), closing: make(chan struct{})}
	q.workers.Add(cfg.Workers)
	for range cfg.Workers {
		go q.run()
	}
	return q
}

// Do queues in and waits for its group's commit or for ctx to end,
// whichever comes first (see the package contract).
func (q *Queue[In, Out]) Do(ctx context.Context, in In) (Out, error) {
	var zero Out
	c := NewCall[In, Out](ctx, in)
	select {
	case q.calls <- c:
	case <-q.closing:
		return zero, q.cfg.Closed
	case <-ctx.Done():
		return zero, q.cfg.Wrap(ctx.Err())
	}
	select {
	case <-c.done:
		return c.Out, c.Err
	case <-ctx.Done():
		return zero, q.cfg.Wrap(ctx.Err())
	}
}

// Close stops the workers once the groups under way are committed; it is
// safe to call more than once.
func (q *Queue[In, Out]) Close() {
	q.once.Do(func() {
		close(q.closing)
		q.workers.Wait()
	})
}

// run forms groups and commits them until Close.
func (q *Queue[In, Out]) run() {
	defer q.workers.Done()
	group := make([]*Call[In, Out], 0, q.cfg.MaxCalls)
	live := make([]*Call[In, Out], 0, q.cfg.MaxCalls)
	var next *Call[In, Out] // taken, but over the last group's budget
	for {
		first := next
		next = nil
		if first == nil {
			select {
			case first = <-q.calls:
			case <-q.closing:
				return
			}
		}
		group = append(group[:0], first)
		items, bytes := q.cfg.Size(first.In)
		// Let the goroutines that are ready to run go first, so that those
		// about to call Do reach the queue before this group commits. On
		// one core this is what makes groups: the first caller's send
		// hands the processor straight to this goroutine, ahead of the
		// other calls that arrived with it. If no goroutine is ready,
		// Gosched returns at once.
		runtime.Gosched()
	fill:
		for len(group) < q.cfg.MaxCalls {
			select {
			case c := <-q.calls:
				n, b := q.cfg.Size(c.In)
				if !q.fits(items+n, bytes+b) {
					next = c // the first of the next group
					break fill
				}
				group = append(group, c)
				items, bytes = items+n, bytes+b
			default:
				break fill
			}
		}
		q.commit(group, live[:0])
		clear(live[:len(group)]) // let the calls be collected
		clear(group)
	}
}

// fits reports whether a group of items and bytes is within the budget.
func (q *Queue[In, Out]) fits(items, bytes int) bool {
	return (q.cfg.MaxItems <= 0 || items <= q.cfg.MaxItems) && bytes <= q.cfg.MaxBytes
}

// Commit commits the calls as one group now, on the caller's goroutine,
// and answers every call: the workers' step, offered to tests that need a
// group of their own making.
func (q *Queue[In, Out]) Commit(group ...*Call[In, Out]) {
	q.commit(group, make([]*Call[In, Out], 0, len(group)))
}

// commit is Commit with live, an empty slice with room for the group, to
// hold the calls still waiting.
func (q *Queue[In, Out]) commit(group, live []*Call[In, Out]) {
	for _, c := range group {
		if err := c.Ctx.Err(); err != nil {
			c.Err = q.cfg.Wrap(err)
			close(c.done)
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	// The commit outlives any one caller's context: a caller that gives up
	// must not roll back the others.
	ctx := context.Background()
	err := q.cfg.Commit(ctx, live)
	if err != nil && len(live) > 1 && q.cfg.Alone(err) {
		// Find the culprit: each call alone, in its own transaction.
		for _, c := range live {
			if err := q.cfg.Commit(ctx, []*Call[In, Out]{c}); err != nil {
				var zero Out
				c.Out, c.Err = zero, q.cfg.Wrap(err)
			}
			close(c.done)
		}
		return
	}
	for _, c := range live {
		if err != nil {
			var zero Out
			c.Out, c.Err = zero, q.cfg.Wrap(err)
		}
		close(c.done)
	}
}
