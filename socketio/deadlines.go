package socketio

import (
	"sync"
	"time"
)

// deadlines runs the connect timeout of every new client from one
// goroutine. All clients get the same timeout, so they expire in the order
// they came: a FIFO is enough, and a client costs one queue slot until its
// deadline, not a timer.
type deadlines struct {
	mu    sync.Mutex
	queue []deadline
	head  int
	stop  chan struct{}
	done  chan struct{}
}

type deadline struct {
	at time.Time
	c  *client
}

func newDeadlines() *deadlines {
	d := &deadlines{stop: make(chan struct{}), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *deadlines) add(c *client, at time.Time) {
	d.mu.Lock()
	d.queue = append(d.queue, deadline{at, c})
	d.mu.Unlock()
}

func (d *deadlines) run() {
	defer close(d.done)
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	var due []*client
	for {
		select {
		case <-d.stop:
			return
		case now := <-t.C:
			d.mu.Lock()
			for d.head < len(d.queue) && !d.queue[d.head].at.After(now) {
				due = append(due, d.queue[d.head].c)
				d.queue[d.head] = deadline{}
				d.head++
			}
			if d.head == len(d.queue) { // reuse the backing array
				d.queue, d.head = d.queue[:0], 0
			} else if d.head > 1024 && d.head > len(d.queue)/2 {
				d.queue, d.head = append([]deadline(nil), d.queue[d.head:]...), 0
			}
			d.mu.Unlock()
			for i, c := range due {
				c.connectTimeout()
				due[i] = nil
			}
			due = due[:0]
		}
	}
}

func (d *deadlines) close() {
	select {
	case <-d.stop:
	default:
		close(d.stop)
		<-d.done
	}
}
