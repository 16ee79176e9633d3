package engineio

import (
	"io"
	"net/http"
	"time"
)

// polling is the long-polling transport of a session. Its fields are
// guarded by the session's mutex.
type polling struct {
	s           *Session
	queue       []*Message
	queuedBytes int
	waiting     bool // a GET is pending
	posting     bool // a POST is being read
	closed      bool // the session ended or moved to websocket
	// lingerAnswered is set once a GET that crossed the client's close
	// packet got its noop.
	lingerAnswered bool
	wake           chan struct{} // signals the pending GET; capacity 1
}

func newPolling(s *Session) *polling {
	return &polling{s: s, wake: make(chan struct{}, 1)}
}

// enqueue queues m for the next GET. A client that stops polling while
// packets keep coming is a slow consumer once the queue passes the
// server's WriteQueueLimit; the caller then closes the session.
func (p *polling) enqueue(m *Message) error {
	p.enqueueLocked(m)
	if p.queuedBytes > p.s.srv.opts.WriteQueueLimit {
		return ErrSlowConsumer
	}
	return nil
}

func (p *polling) enqueueLocked(m *Message) {
	p.queue = append(p.queue, m)
	p.queuedBytes += len(m.Packet())
	p.signal()
}

func (p *polling) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *polling) pending() int { return len(p.queue) }

// shutdown releases a pending GET: it answers with a close packet if the
// session ended, or a noop if it moved to websocket.
func (p *polling) shutdown() {
	p.s.mu.Lock()
	p.closed = true
	p.signal()
	p.s.mu.Unlock()
}

const pollingContentType = "text/plain; charset=UTF-8"

// pollGet answers a GET with the queued packets, waiting for one if none is
// queued. A second concurrent GET is a protocol violation that ends the session.
func (s *Session) pollGet(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := s.poll
	if p != nil && s.state == stateClosed && s.reason == ReasonTransportClose && !p.lingerAnswered {
		p.lingerAnswered = true // the GET that crossed the client's close
		s.mu.Unlock()
		w.Header().Set("Content-Type", pollingContentType)
		w.Write(noopMessage.Packet())
		return
	}
	if p == nil || p.waiting || s.state == stateClosed {
		s.mu.Unlock()
		writeError(w, errBadRequest)
		if p != nil {
			s.close(ReasonTransportError)
		}
		return
	}
	p.waiting = true
	// During an upgrade the client stops polling once this GET returns:
	// answer soon with a noop unless there is data or the upgrade completes.
	var upgradeWait <-chan time.Time
wait:
	for len(p.queue) == 0 && !p.closed && s.state != stateClosing {
		if s.probe != nil && upgradeWait == nil {
			t := time.NewTimer(100 * time.Millisecond)
			defer t.Stop()
			upgradeWait = t.C
		}
		s.mu.Unlock()
		select {
		case <-p.wake:
		case <-upgradeWait:
			s.mu.Lock()
			break wait
		case <-r.Context().Done():
			s.mu.Lock()
			p.waiting = false
			s.mu.Unlock()
			s.close(ReasonTransportError) // poll connection closed prematurely
			return
		}
		s.mu.Lock()
	}
	msgs := p.queue
	p.queue, p.queuedBytes = nil, 0
	p.waiting = false
	s.notifyDrainLocked()
	if p.closed && s.state != stateClosed && len(msgs) == 0 { // moved to websocket
		s.mu.Unlock()
		writeError(w, errBadRequest)
		return
	}
	// A closing session sends its close packet alone, once the queued
	// packets went out: socket.io-client handles the Socket.IO packets of
	// a payload a tick after its close packet, so a close packet sharing
	// their payload would overtake them (a DISCONNECT would be seen as
	// "transport close").
	finish := false
	switch {
	case s.state == stateClosing && len(msgs) == 0:
		msgs = []*Message{closeMessage}
		finish = true
	case s.state == stateClosed && len(msgs) == 0 && s.reason != ReasonTransportClose:
		msgs = []*Message{closeMessage}
	case len(msgs) == 0:
		msgs = []*Message{noopMessage}
	}
	reason := s.reason
	s.mu.Unlock()

	size := len(msgs) - 1
	for _, m := range msgs {
		size += pollingSize(m)
	}
	body := make([]byte, 0, size)
	for i, m := range msgs {
		if i > 0 {
			body = append(body, recordSeparator)
		}
		body = appendPolling(body, m)
	}
	h := w.Header()
	h.Set("Content-Type", pollingContentType)
	h.Set("Cache-Control", "no-store")
	w.Write(body)
	if finish {
		s.close(reason)
	}
}

// pollPost reads the packets a client sends over polling.
func (s *Session) pollPost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p := s.poll
	if p == nil || p.posting || s.state == stateClosed {
		s.mu.Unlock()
		writeError(w, errBadRequest)
		if p != nil {
			s.close(ReasonTransportError)
		}
		return
	}
	p.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		p.posting = false
		s.mu.Unlock()
	}()

	max := s.srv.opts.MaxPayload
	if r.ContentLength > int64(max) {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		s.close(ReasonTransportError)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil {
		s.close(ReasonTransportError)
		return
	}
	if len(body) > max {
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		s.close(ReasonTransportError)
		return
	}
	err = DecodePayload(body, func(pkt Packet) error {
		s.onPacket(pkt)
		return nil
	})
	if err != nil {
		writeError(w, errBadRequest)
		s.close(ReasonParseError)
		return
	}
	w.Header().Set("Content-Type", "text/html")
	w.Write([]byte("ok"))
}

// onProbePacket handles a packet on a websocket that is being probed for
// the upgrade of a polling session: "2probe", then "5".
func (s *Session) onProbePacket(c *wsConn, p Packet) {
	switch {
	case p.Type == PacketPing && string(p.Data) == "probe":
		c.write(probeMessage.Frame())
		s.mu.Lock()
		if s.poll != nil {
			s.poll.signal() // a pending GET answers with noop
		}
		s.mu.Unlock()
	case p.Type == PacketUpgrade:
		s.mu.Lock()
		if s.probe != c || s.state != stateOpen {
			s.mu.Unlock()
			c.close(ReasonTransportError)
			return
		}
		// The polling queue goes first, in order, under the session's lock
		// so that no Send overtakes it. Writing never closes anything on
		// this goroutine: a failure hands c to a close goroutine, which
		// waits for the lock.
		c.probing.Store(false)
		if q := s.poll.queue; len(q) > 0 {
			c.writeFrames(q)
		}
		old := s.poll
		s.poll.queue, s.poll.queuedBytes = nil, 0
		s.poll = nil
		s.probe = nil
		s.ws.Store(c)
		s.notifyDrainLocked()
		s.mu.Unlock()
		old.shutdown()
	default:
		c.close(ReasonTransportError)
	}
}

// abortProbe forgets a probe websocket that closed before the upgrade.
func (s *Session) abortProbe(c *wsConn) {
	s.mu.Lock()
	if s.probe == c {
		s.probe = nil
	}
	s.mu.Unlock()
}
