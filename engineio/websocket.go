package engineio

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// Websocket framing errors; each closes the connection with the status the
// RFC asks for.
var (
	errShortHeader   = errors.New("websocket: incomplete frame header")
	errProtocol      = errors.New("websocket: protocol error")
	errMessageTooBig = errors.New("websocket: message too big")
	errInvalidUTF8   = errors.New("websocket: text message is not valid UTF-8")
)

// ErrSlowConsumer is returned by Send when the client's write queue (and,
// in package socketio, what is held for a paused socket) passed the
// server's WriteQueueLimit; the session is then closed with
// ReasonSlowConsumer.
var ErrSlowConsumer = errors.New("engineio: write queue limit exceeded")

// Read states of a wsConn: reads are done by a goroutine that exists only
// while the connection has unread bytes.
const (
	readIdle    int32 = iota
	readRunning       // a goroutine is reading
	readAgain         // more bytes arrived while it was reading
)

var (
	closeFrame = ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
	// readBuffers hold bytes read from the network while a read is in flight.
	readBuffers = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}
)

// wsConn is a server-side websocket connection. On Linux it owns a raw
// non-blocking file descriptor driven by the shared epoll poller, so an
// idle connection has no goroutine, timer or buffer; elsewhere a goroutine
// per connection reads a net.Conn.
type wsConn struct {
	// The fields a broadcast touches for each receiver come first, so
	// that a write to a socket that takes the frame at once reads one or
	// two cache lines of this object and nothing else.
	mu      sync.Mutex // guards the descriptor and the write state
	closed  bool
	closing bool         // closes once the queue is flushed; writes refused
	writing bool         // the writer is writing a batch taken from queue
	holds   atomic.Int32 // see Writer.Hold
	fd      int          // raw descriptor, or -1
	wake    *sync.Cond   // wakes the writer in blocking mode; nil on the poller
	queue   [][]byte     // frames (or their unwritten tails) waiting for the socket
	queued  int          // bytes in queue, and being written in blocking mode
	// try, in blocking mode, writes what the connection takes without
	// blocking; nil if it cannot (TLS), then the writer writes everything.
	try func([]byte) (int, error)

	sess    *Session
	nc      net.Conn // used when fd is -1
	probing atomic.Bool

	rstate  atomic.Int32
	pending []byte // bytes of an incomplete frame
	frag    []byte // payload of a fragmented message so far
	fragOp  ws.OpCode

	closeWhy string
	drain    chan struct{} // closed when the queue shrinks; nil unless waited on
}

// Writer is the websocket of a session, for a broadcaster that writes the
// same messages to many sessions: it reaches the connection without going
// through the Session, so that each receiver costs one object's memory.
// A Writer made while the session was on long-polling holds the session
// instead and finds its websocket once it upgraded, so that a socket born
// on polling takes the same direct path after the upgrade (at the cost of
// one more object read per write). The zero Writer is not valid.
type Writer struct {
	c *wsConn  // the session's websocket, if it had one when w was made
	s *Session // else the session
}

// Writer returns the session's writer, valid for the session's whole life:
// a session on websocket never goes back to polling. ok is false while the
// session is on long-polling; w is valid then too, but not Ready until the
// session upgraded.
func (s *Session) Writer() (w Writer, ok bool) {
	if c := s.ws.Load(); c != nil {
		return Writer{c: c}, true
	}
	return Writer{s: s}, false
}

// Valid reports whether w is a session's writer.
func (w Writer) Valid() bool { return w.c != nil || w.s != nil }

// SendAll is Session.SendAll on the websocket: it writes or queues ms, in
// order, and returns at once, with the same errors. On a session still on
// long-polling it is Session.SendAll.
func (w Writer) SendAll(ms []*Message) error {
	c := w.c
	if c == nil {
		if c = w.s.ws.Load(); c == nil {
			return w.s.SendAll(ms)
		}
	}
	switch len(ms) {
	case 0:
		return nil
	case 1:
		return c.write(ms[0].Frame())
	}
	return c.writeFrames(ms)
}

// Hold and Release count the holds a layer above puts on the writer (a
// paused socket of package socketio, whose packets must take that layer's
// path). The writer itself ignores them: they only spare a broadcaster a
// look at another object, see Ready.
func (w Writer) Hold()    { w.holds().Add(1) }
func (w Writer) Release() { w.holds().Add(-1) }

func (w Writer) holds() *atomic.Int32 {
	if w.c != nil {
		return &w.c.holds
	}
	return &w.s.holds
}

// Ready reports whether w is valid, on websocket and has no hold: a
// broadcaster may send to it directly.
func (w Writer) Ready() bool {
	if w.c != nil {
		return w.c.holds.Load() == 0
	}
	return w.s != nil && w.s.holds.Load() == 0 && w.s.ws.Load() != nil
}

// start begins reading. initial holds bytes that arrived with the handshake.
func (c *wsConn) start(initial []byte) {
	if len(initial) > 0 {
		c.rstate.Store(readRunning)
		if !c.feed(initial) {
			return
		}
		c.rstate.Store(readIdle)
	}
	if c.fd >= 0 {
		if err := thePoller().add(c); err != nil {
			c.close(ReasonTransportError)
			return
		}
		c.readable() // bytes may have arrived before registration
		return
	}
	go c.readBlocking()
}

// readable is called by the poller when the descriptor has bytes or hung up.
func (c *wsConn) readable() {
	for {
		switch c.rstate.Load() {
		case readIdle:
			if c.rstate.CompareAndSwap(readIdle, readRunning) {
				go c.readLoop()
				return
			}
		case readRunning:
			if c.rstate.CompareAndSwap(readRunning, readAgain) {
				return
			}
		default:
			return
		}
	}
}

// readLoop reads until the socket would block, then retires unless more
// bytes were announced meanwhile.
func (c *wsConn) readLoop() {
	for {
		for {
			// The pooled buffer is held only during the read: handlers run
			// on a copy of exactly what arrived, so that connections busy
			// in a handler (a store call, say) do not pin 16 KiB each.
			bp := readBuffers.Get().(*[]byte)
			n, err := c.readFD(*bp)
			var data []byte
			if n > 0 {
				data = append([]byte(nil), (*bp)[:n]...)
			}
			readBuffers.Put(bp)
			if n > 0 && !c.feed(data) {
				return
			}
			if err == errWouldBlock {
				break
			}
			if err != nil || n == 0 {
				c.close(ReasonTransportClose)
				return
			}
		}
		if c.rstate.CompareAndSwap(readRunning, readIdle) {
			return
		}
		c.rstate.Store(readRunning)
	}
}

func (c *wsConn) readBlocking() {
	buf := make([]byte, 4<<10) // what gorilla/websocket gives each connection
	for {
		n, err := c.nc.Read(buf)
		if n > 0 && !c.feed(buf[:n]) {
			return
		}
		if err != nil {
			c.close(ReasonTransportClose)
			return
		}
	}
}

// feed parses the frames in data (after any incomplete frame kept from the
// last read) and handles each. It returns false once the connection closed.
func (c *wsConn) feed(data []byte) bool {
	if len(c.pending) > 0 {
		c.pending = append(c.pending, data...)
		data = c.pending
	}
	maxPayload := int64(c.sess.srv.opts.MaxPayload)
	for len(data) > 0 {
		h, hn, err := parseHeader(data)
		if err == errShortHeader {
			break
		}
		if err == nil && h.Length > maxPayload {
			err = errMessageTooBig
		}
		if err != nil {
			c.fail(err)
			return false
		}
		end := int64(hn) + h.Length
		if int64(len(data)) < end {
			break
		}
		payload := data[hn:end]
		ws.Cipher(payload, h.Mask, 0)
		data = data[end:]
		if err := c.onFrame(h, payload); err != nil {
			c.fail(err)
			return false
		}
		if c.isClosed() {
			return false
		}
	}
	switch {
	case len(data) == 0 && cap(c.pending) > 64<<10:
		c.pending = nil
	case len(data) == 0:
		c.pending = c.pending[:0]
	default:
		c.pending = append(c.pending[:0], data...)
	}
	return true
}

// parseHeader decodes a client frame header at the start of b and returns
// it with its length in bytes.
func parseHeader(b []byte) (h ws.Header, n int, err error) {
	if len(b) < 2 {
		return h, 0, errShortHeader
	}
	h.Fin = b[0]&0x80 != 0
	h.Rsv = (b[0] & 0x70) >> 4
	h.OpCode = ws.OpCode(b[0] & 0x0f)
	h.Masked = b[1]&0x80 != 0
	n = 2
	switch l := b[1] & 0x7f; l {
	case 126:
		if len(b) < 4 {
			return h, 0, errShortHeader
		}
		h.Length = int64(binary.BigEndian.Uint16(b[2:]))
		n = 4
	case 127:
		if len(b) < 10 {
			return h, 0, errShortHeader
		}
		u := binary.BigEndian.Uint64(b[2:])
		if u>>63 != 0 {
			return h, 0, errProtocol
		}
		h.Length = int64(u)
		n = 10
	default:
		h.Length = int64(l)
	}
	if !h.Masked {
		return h, 0, errProtocol // RFC 6455 §5.1: client frames are masked
	}
	if len(b) < n+4 {
		return h, 0, errShortHeader
	}
	copy(h.Mask[:], b[n:n+4])
	return h, n + 4, nil
}

func (c *wsConn) onFrame(h ws.Header, payload []byte) error {
	if h.Rsv != 0 || h.OpCode.IsReserved() {
		return errProtocol
	}
	if h.OpCode.IsControl() {
		if !h.Fin || len(payload) > 125 {
			return errProtocol
		}
		switch h.OpCode {
		case ws.OpPing:
			return c.write(ws.MustCompileFrame(ws.NewPongFrame(payload)))
		case ws.OpClose:
			if c.writeAndClose(closeFrame, ReasonTransportClose) {
				c.close(ReasonTransportClose)
			}
		}
		return nil
	}
	switch {
	case h.OpCode == ws.OpContinuation && c.frag == nil:
		return errProtocol
	case h.OpCode != ws.OpContinuation && c.frag != nil:
		return errProtocol
	case h.OpCode == ws.OpContinuation:
		if int64(len(c.frag)+len(payload)) > int64(c.sess.srv.opts.MaxPayload) {
			return errMessageTooBig
		}
		c.frag = append(c.frag, payload...)
		if !h.Fin {
			return nil
		}
		msg, op := c.frag, c.fragOp
		c.frag = nil
		return c.onData(op, msg)
	case !h.Fin:
		c.frag = append(make([]byte, 0, len(payload)), payload...)
		c.fragOp = h.OpCode
		return nil
	}
	return c.onData(h.OpCode, payload)
}

// onData turns a complete websocket message into an Engine.IO packet.
func (c *wsConn) onData(op ws.OpCode, data []byte) error {
	var p Packet
	if op == ws.OpBinary {
		p = Packet{Type: PacketMessage, Binary: true, Data: data}
	} else {
		if !utf8.Valid(data) { // RFC 6455 §8.1
			return errInvalidUTF8
		}
		var err error
		if p, err = DecodeText(data); err != nil {
			return err
		}
	}
	if c.probing.Load() {
		c.sess.onProbePacket(c, p)
	} else {
		c.sess.onPacket(p)
	}
	return nil
}

// fail closes the connection after a protocol violation, telling the peer why.
func (c *wsConn) fail(err error) {
	status := ws.StatusProtocolError
	reason := ReasonTransportError
	switch err {
	case errMessageTooBig:
		status = ws.StatusMessageTooBig
	case errInvalidUTF8:
		status = ws.StatusInvalidFramePayloadData
	case errProtocol:
	default:
		reason = ReasonParseError
	}
	if c.writeAndClose(ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(status, ""))), reason) {
		c.close(reason)
	}
}

// write sends frame, or queues what the socket does not take at once. The
// caller must not modify frame afterwards. It never closes anything on the
// caller's goroutine: a failed write or an overflowing queue hands the
// connection to a close goroutine and returns the reason.
func (c *wsConn) write(frame []byte) error {
	c.mu.Lock()
	if c.closed || c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	err := c.writeLocked(frame)
	c.mu.Unlock()
	return err
}

// writeFrames sends the frames of several messages, in order, with one
// writev(2) when the socket takes them at once.
func (c *wsConn) writeFrames(ms []*Message) error {
	c.mu.Lock()
	if c.closed || c.closing {
		c.mu.Unlock()
		return ErrClosed
	}
	var err error
	if len(c.queue) == 0 && c.fd >= 0 {
		frames := make([][]byte, len(ms))
		for i, m := range ms {
			frames[i] = m.Frame()
		}
		var n int
		if n, err = writevFD(c.fd, frames); err == errWouldBlock {
			n, err = 0, nil
		}
		if err != nil {
			err = c.failLocked(err)
		}
		for _, f := range frames {
			if err != nil {
				break
			}
			switch {
			case n >= len(f):
				n -= len(f)
			default: // the socket took part of f: queue the rest
				err = c.writeLocked(f[n:])
				n = 0
			}
		}
	} else {
		for _, m := range ms {
			if err = c.writeLocked(m.Frame()); err != nil {
				break
			}
		}
	}
	c.mu.Unlock()
	return err
}

// writeLocked writes what the socket takes of frame at once, without
// blocking, and queues the rest: for the poller's writable, or in blocking
// mode for the connection's writer goroutine. An error has already handed
// the connection to failLocked.
func (c *wsConn) writeLocked(frame []byte) error {
	if c.wake != nil {
		// Blocking mode: a connection that can try a write without
		// blocking takes what it can at once, unless the writer is busy.
		if len(c.queue) == 0 && !c.writing && c.try != nil {
			n, err := c.try(frame)
			if err != nil {
				return c.failLocked(err)
			}
			if n == len(frame) {
				return nil
			}
			frame = frame[n:]
		}
		if len(c.queue) == 0 {
			c.wake.Signal()
		}
	} else if len(c.queue) == 0 {
		n, err := c.writeNow(frame)
		if err != nil {
			return c.failLocked(err)
		}
		if n == len(frame) {
			return nil
		}
		frame = frame[n:]
	}
	c.queue = append(c.queue, frame)
	c.queued += len(frame)
	if c.queued > c.sess.srv.opts.WriteQueueLimit {
		return c.failLocked(ErrSlowConsumer)
	}
	return nil
}

// failLocked drops what is queued, refuses further writes and closes the
// connection from a goroutine of its own, so that no caller of Send runs
// close logic under its locks. It returns the error to report: the
// exported ErrSlowConsumer, or a write error.
func (c *wsConn) failLocked(err error) error {
	reason := ReasonTransportError
	if err == ErrSlowConsumer {
		reason = ReasonSlowConsumer
	}
	c.closing, c.closeWhy = true, reason
	c.queue, c.queued = nil, 0
	c.notifyDrainLocked()
	go c.close(reason)
	return err
}

// writeNow writes as much of b as the socket takes without blocking.
func (c *wsConn) writeNow(b []byte) (int, error) {
	written := 0
	for written < len(b) {
		n, err := writeFD(c.fd, b[written:])
		if err == errWouldBlock {
			return written, nil
		}
		if err != nil {
			return written, err
		}
		written += n
	}
	return written, nil
}

// writable is called by the poller when the socket has room again.
func (c *wsConn) writable() {
	c.mu.Lock()
	if c.closed || len(c.queue) == 0 {
		c.mu.Unlock()
		return
	}
	var err error
	for len(c.queue) > 0 {
		var n int
		n, err = c.writeNow(c.queue[0])
		c.queued -= n
		if err != nil || n < len(c.queue[0]) {
			c.queue[0] = c.queue[0][n:]
			break
		}
		c.queue[0] = nil
		c.queue = c.queue[1:]
	}
	if len(c.queue) == 0 {
		c.queue = nil
	}
	c.notifyDrainLocked()
	done := len(c.queue) == 0 && c.closing
	why := c.closeWhy
	c.mu.Unlock()
	// Closing runs the handlers' disconnect code: never on the poller's
	// goroutine, which every connection waits on.
	switch {
	case err != nil:
		go c.close(ReasonTransportError)
	case done:
		go c.close(why)
	}
}

// writeLoop is the writer of a connection in blocking mode (TLS, pipes,
// BlockingReads): it alone blocks in Write, so that a stuck client stalls
// neither a broadcaster nor the heartbeat wheel. It ends with the connection.
func (c *wsConn) writeLoop() {
	var spare [][]byte
	var bufs net.Buffers // one writev on a TCP connection; declared once, it escapes once
	for {
		c.mu.Lock()
		for len(c.queue) == 0 && !c.closed && !c.closing {
			c.wake.Wait()
		}
		if c.closed || len(c.queue) == 0 { // closed, or closing and flushed
			why, closing := c.closeWhy, c.closing && !c.closed
			c.mu.Unlock()
			if closing {
				c.close(why)
			}
			return
		}
		batch := c.queue
		c.queue = spare[:0]
		c.writing = true
		c.mu.Unlock()
		n := 0
		for _, b := range batch {
			n += len(b)
		}
		c.nc.SetWriteDeadline(time.Now().Add(c.sess.srv.opts.PingTimeout))
		bufs = batch
		_, err := bufs.WriteTo(c.nc)
		clear(batch)
		spare = batch[:0]
		if err != nil {
			c.close(ReasonTransportError)
			return
		}
		c.mu.Lock()
		c.writing = false
		if !c.closed && c.queued >= n {
			c.queued -= n
		}
		c.notifyDrainLocked()
		c.mu.Unlock()
	}
}

// notifyDrainLocked wakes the WaitWritable callers after the queue shrank.
func (c *wsConn) notifyDrainLocked() {
	if c.drain != nil {
		close(c.drain)
		c.drain = nil
	}
}

// waitWritable waits until at most max bytes are queued, the connection
// closes (ErrClosed) or ctx is done.
func (c *wsConn) waitWritable(ctx context.Context, max int) error {
	for {
		c.mu.Lock()
		if c.closed || c.closing {
			c.mu.Unlock()
			return ErrClosed
		}
		if c.queued <= max {
			c.mu.Unlock()
			return nil
		}
		if c.drain == nil {
			c.drain = make(chan struct{})
		}
		ch := c.drain
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// queuedBytes returns the bytes waiting for the socket.
func (c *wsConn) queuedBytes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queued
}

// closeAfterFlush sends a close frame after the queued frames, then closes
// from a goroutine of its own.
func (c *wsConn) closeAfterFlush(reason string) {
	if c.writeAndClose(closeFrame, reason) {
		go c.close(reason)
	}
}

// writeAndClose queues frame as the last one; the connection closes once it
// is flushed. It reports whether the caller must close it now (the frame
// went out at once); a failed write closes it anyway.
func (c *wsConn) writeAndClose(frame []byte, reason string) (closeNow bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.closing {
		return false
	}
	if err := c.writeLocked(frame); err != nil {
		return false
	}
	// From here the close has its reason, whoever runs it: the client may
	// answer the close frame by closing its side before the caller's close.
	c.closing, c.closeWhy = true, reason
	if len(c.queue) == 0 {
		return true
	}
	if c.wake != nil {
		c.wake.Signal()
	}
	return false
}

func (c *wsConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// close releases the connection at once and ends its session (a probe only
// gives up the upgrade). It is idempotent.
func (c *wsConn) close(reason string) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.closing && c.closeWhy != "" {
		reason = c.closeWhy // the first reason wins
	}
	c.closed = true
	c.queue, c.queued = nil, 0
	c.notifyDrainLocked()
	if c.wake != nil {
		c.wake.Broadcast()
	}
	if c.fd >= 0 {
		thePoller().remove(c)
		closeFD(c.fd)
	} else {
		c.nc.Close()
	}
	c.mu.Unlock()
	if c.probing.Load() {
		c.sess.abortProbe(c)
		return
	}
	c.sess.close(reason)
}
