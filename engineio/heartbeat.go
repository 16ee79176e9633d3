package engineio

import (
	"sync"
	"time"
)

// wheel is a hashed timer wheel that drives the heartbeats of every session
// of a server from one goroutine: an idle session costs a list link, not a
// timer or a goroutine. A session fires within one tick of its delay:
// before it for pings (early pings are harmless), after it for pong
// timeouts (a client always gets its full grace).
type wheel struct {
	tick time.Duration

	mu    sync.Mutex
	slots []*Session // heads of doubly linked lists through Session.hbNext/hbPrev
	pos   int

	stop chan struct{}
	done chan struct{}
}

// newWheel starts a wheel whose delays go up to maxDelay with a resolution of tick.
func newWheel(tick, maxDelay time.Duration) *wheel {
	w := &wheel{
		tick:  tick,
		slots: make([]*Session, int(maxDelay/tick)+2),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go w.run()
	return w
}

// schedule (re)arms s to fire after about d, no later than d unless late
// is set, then no sooner. A session is in at most one slot.
func (w *wheel) schedule(s *Session, d time.Duration, late bool) {
	if late {
		d += w.tick - 1
	}
	n := int(d / w.tick)
	if n < 1 {
		n = 1
	}
	if n >= len(w.slots) {
		n = len(w.slots) - 1
	}
	w.mu.Lock()
	w.unlink(s)
	slot := (w.pos + n) % len(w.slots)
	s.hbSlot = int32(slot)
	s.hbNext = w.slots[slot]
	if s.hbNext != nil {
		s.hbNext.hbPrev = s
	}
	w.slots[slot] = s
	w.mu.Unlock()
}

// remove disarms s; it is a no-op for a session that is not armed.
func (w *wheel) remove(s *Session) {
	w.mu.Lock()
	w.unlink(s)
	w.mu.Unlock()
}

func (w *wheel) unlink(s *Session) {
	if s.hbSlot < 0 {
		return
	}
	if s.hbPrev != nil {
		s.hbPrev.hbNext = s.hbNext
	} else {
		w.slots[s.hbSlot] = s.hbNext
	}
	if s.hbNext != nil {
		s.hbNext.hbPrev = s.hbPrev
	}
	s.hbNext, s.hbPrev, s.hbSlot = nil, nil, -1
}

func (w *wheel) run() {
	defer close(w.done)
	t := time.NewTicker(w.tick)
	defer t.Stop()
	last := time.Now()
	var due []*Session
	for {
		select {
		case <-w.stop:
			return
		case now := <-t.C:
			// Advance by the time that passed, not by ticks received: a
			// ticker drops ticks when this goroutine falls behind.
			steps := int(now.Sub(last) / w.tick)
			if steps < 1 {
				continue
			}
			last = last.Add(time.Duration(steps) * w.tick)
			steps = min(steps, len(w.slots))
			w.mu.Lock()
			for ; steps > 0; steps-- {
				w.pos = (w.pos + 1) % len(w.slots)
				for s := w.slots[w.pos]; s != nil; {
					next := s.hbNext
					s.hbNext, s.hbPrev, s.hbSlot = nil, nil, -1
					due = append(due, s)
					s = next
				}
				w.slots[w.pos] = nil
			}
			w.mu.Unlock()
		}
		for i, s := range due {
			s.heartbeat()
			due[i] = nil
		}
		due = due[:0]
	}
}

func (w *wheel) close() {
	close(w.stop)
	<-w.done
}
