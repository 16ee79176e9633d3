//go:build linux

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
)

// A conn is one Socket.IO client connection over websocket, spoken directly on the wire. It looks at
// each packet only as far as needed — the packet type, the event name prefix and a few numeric
// fields found with bytes.Index — so that receiving an event costs the load tool less than sending
// it costs the server.
//
// A conn has two lives. During the handshake a goroutine owns it and reads through net.Conn. Once
// authenticated, its socket is handed to the pool's reactor (see reactor.go), which reads every
// ready socket from one goroutine with one read(2) each: no goroutine, no buffer and no
// runtime-poller registration per idle connection.
type conn struct {
	pool  *Pool
	user  int   // user index; the JWT subject is "u<user>"
	group int64 // emit group of the user, for misroute detection

	nc      net.Conn // during the handshake
	fd      int      // after the handover to the reactor; -1 before
	started time.Time
	state   connState
	authed  bool   // `authenticated` arrived
	pending []byte // start of a frame split across reads
	skip    int    // bytes of an oversized frame still to discard
}

type connState uint8

const (
	stateOpening    connState = iota // waiting for the Engine.IO open packet
	stateConnecting                  // CONNECT sent, waiting for the ack and `authenticated`
	stateReady                       // authenticated: counting events
	stateClosed
)

// Limits of the frame reader. A frame up to maxKeptFrame bytes that arrives split across reads is
// reassembled; of a larger one only the first maxPrefix bytes are looked at and the rest is skipped
// (the fields the tool reads come first in every payload it triggers).
const (
	readBufSize  = 16 << 10
	maxKeptFrame = 8 << 10
	maxPrefix    = 2 << 10
)

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// Frames the client sends: masked, as RFC 6455 requires of clients. The mask key is fixed; servers
// must not depend on it being unpredictable (it only defends proxies against cache poisoning).
var (
	clientMask = [4]byte{0x5a, 0x17, 0xc3, 0x8e}
	pongFrame  = mustFrame(ws.OpText, []byte("3"))
)

func mustFrame(op ws.OpCode, p []byte) []byte {
	return ws.MustCompileFrame(ws.MaskFrameWith(ws.NewFrame(op, true, p), clientMask))
}

var (
	errConnectRefused = errors.New("connect_error")
	errServerClosed   = errors.New("server closed the connection")
	errBadFrame       = errors.New("malformed websocket frame")
)

// handshake dials, authenticates and hands the socket to the reactor. It returns once the
// handshake has ended either way.
func (c *conn) handshake() {
	p := c.pool
	c.started = time.Now()
	c.fd = -1
	err := c.dial()
	if err == nil {
		err = c.readHandshake()
	}
	if c.nc != nil && !p.untrack(c) && err == nil {
		err = errors.New("pool closed")
	}
	if err == nil {
		var r *reactor
		if r, err = p.reactorFor(c.user); err == nil {
			err = r.adopt(c)
		}
	}
	if err != nil {
		if c.nc != nil {
			c.nc.Close()
		}
		if c.authed {
			p.drop(err)
		} else {
			p.fail(err)
		}
	}
}

func (c *conn) dial() error {
	p := c.pool
	d := p.dialers[c.user%len(p.dialers)]
	nc, br, _, err := d.Dial(context.Background(), p.wsURLs[nodeFor(c.user, len(p.wsURLs))])
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	c.nc = nc
	if !p.track(c) {
		nc.Close()
		c.nc = nil
		return errors.New("pool closed")
	}
	if br != nil {
		// The server's first frames came with the upgrade response.
		b, _ := br.Peek(br.Buffered())
		err = c.feed(b)
		ws.PutReader(br)
	}
	return err
}

// readHandshake reads until `authenticated`, the connect error or the connect timeout.
func (c *conn) readHandshake() error {
	c.nc.SetReadDeadline(c.started.Add(c.pool.cfg.ConnectTimeout))
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	for !c.authed {
		if c.state == stateClosed {
			return errServerClosed
		}
		n, err := c.nc.Read(*bp)
		if n > 0 {
			if ferr := c.feed((*bp)[:n]); ferr != nil {
				return ferr
			}
		}
		if err != nil && !c.authed {
			return err
		}
	}
	return nil
}

// write sends a frame on whichever side of the handover the conn is.
func (c *conn) write(b []byte) error {
	if c.nc != nil {
		_, err := c.nc.Write(b)
		return err
	}
	// The reactor's sockets are non-blocking; a frame this small does not meet a full send buffer
	// unless the server stopped reading, which a missing pong will tell it.
	_, err := syscall.Write(c.fd, b)
	return err
}

// feed consumes bytes read from the socket: whole frames are handled in place; a frame split across
// reads is kept until it is whole.
func (c *conn) feed(b []byte) error {
	if len(c.pending) > 0 {
		c.pending = append(c.pending, b...)
		b = c.pending
		c.pending = c.pending[:0:0] // the next append reallocates: b stays valid
	}
	for len(b) > 0 {
		if c.skip > 0 {
			n := min(c.skip, len(b))
			c.skip -= n
			b = b[n:]
			continue
		}
		fin, op, hlen, plen, ok := parseFrameHeader(b)
		if !ok {
			if len(b) > 14 {
				return errBadFrame
			}
			c.pending = append(c.pending, b...)
			return nil
		}
		if plen < 0 {
			return errBadFrame
		}
		if len(b) >= hlen+plen {
			if err := c.frame(fin, op, b[hlen:hlen+plen]); err != nil {
				return err
			}
			b = b[hlen+plen:]
			continue
		}
		if hlen+plen <= maxKeptFrame || len(b)-hlen < maxPrefix {
			c.pending = append(c.pending, b...)
			return nil
		}
		// Oversized: look at its first bytes, skip the rest.
		if err := c.frame(fin, op, b[hlen:hlen+maxPrefix]); err != nil {
			return err
		}
		c.skip = plen - maxPrefix
		b = b[hlen+maxPrefix:]
	}
	return nil
}

// parseFrameHeader decodes a server-to-client frame header. ok is false when b does not yet hold the
// whole header. plen is -1 for a length that cannot be right (masked server frame, 2^63 bytes).
func parseFrameHeader(b []byte) (fin bool, op ws.OpCode, hlen, plen int, ok bool) {
	if len(b) < 2 {
		return false, 0, 0, 0, false
	}
	fin = b[0]&0x80 != 0
	op = ws.OpCode(b[0] & 0x0f)
	masked := b[1]&0x80 != 0
	l := int(b[1] & 0x7f)
	hlen = 2
	switch l {
	case 126:
		if len(b) < 4 {
			return false, 0, 0, 0, false
		}
		l = int(b[2])<<8 | int(b[3])
		hlen = 4
	case 127:
		if len(b) < 10 {
			return false, 0, 0, 0, false
		}
		var v uint64
		for _, x := range b[2:10] {
			v = v<<8 | uint64(x)
		}
		if v > 1<<40 {
			return fin, op, 10, -1, true
		}
		l = int(v)
		hlen = 10
	}
	if masked {
		return fin, op, hlen, -1, true
	}
	return fin, op, hlen, l, true
}

// frame handles one websocket frame (or the prefix of an oversized one).
func (c *conn) frame(fin bool, op ws.OpCode, p []byte) error {
	switch op {
	case ws.OpText:
		return c.packet(p)
	case ws.OpPing:
		return c.write(mustFrame(ws.OpPong, p))
	case ws.OpClose:
		c.write(mustFrame(ws.OpClose, nil))
		c.state = stateClosed
		return errServerClosed
	}
	// Binary frames, pongs and continuation frames carry nothing the load tool counts.
	return nil
}

// packet handles one Engine.IO packet.
func (c *conn) packet(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	switch p[0] {
	case '2': // ping
		return c.write(pongFrame)
	case '4': // message: a Socket.IO packet follows
		return c.socketPacket(p[1:])
	case '0': // open
		if c.state != stateOpening {
			return nil
		}
		c.state = stateConnecting
		return c.write(c.pool.connectFrame(c.user))
	case '1': // close
		c.state = stateClosed
		return errServerClosed
	}
	return nil
}

// socketPacket handles a Socket.IO packet of the default namespace.
func (c *conn) socketPacket(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	switch p[0] {
	case '2': // EVENT
		c.event(p[1:])
	case '0': // CONNECT ack; `authenticated` follows
	case '4': // CONNECT_ERROR
		c.state = stateClosed
		return fmt.Errorf("%w: %s", errConnectRefused, clip(p[1:], 120))
	case '1': // DISCONNECT
		c.state = stateClosed
		return errServerClosed
	}
	return nil
}

var authenticatedPrefix = []byte(`["authenticated"`)

// event looks at an EVENT packet `["name",{...}]` without decoding it.
func (c *conn) event(p []byte) {
	p0 := c.pool
	if c.state == stateConnecting {
		if bytes.HasPrefix(p, authenticatedPrefix) {
			c.state = stateReady
			c.authed = true
			p0.connected.Add(1)
			now := time.Now()
			p0.connectHist.Record(now.Sub(c.started))
			storeMax(&p0.lastConnect, now.UnixNano())
		}
		return
	}
	if !bytes.HasPrefix(p, p0.eventPrefix) {
		p0.otherEvents.Add(1)
		return
	}
	now := time.Now().UnixNano()
	body := p[len(p0.eventPrefix):]
	w, ok := intField(body, keyWindow)
	if !ok || w != p0.window.Load() {
		p0.stale.Add(1)
		return
	}
	if p0.cfg.GroupSize > 0 {
		if g, ok := intField(body, keyGroup); ok && g != c.group {
			p0.misrouted.Add(1)
			return
		}
	}
	t, ok := intField(body, keyTime)
	if !ok {
		p0.stale.Add(1)
		return
	}
	p0.received.Add(1)
	p0.recvHist.Load().Record(time.Duration(now - t))
	storeMax(&p0.lastRecv, now)
}

// Keys of the numeric fields the load tool puts into every payload it triggers.
var (
	keyTime   = []byte(`"t":`) // send time, Unix nanoseconds
	keyWindow = []byte(`"w":`) // measurement window: fanout repetition or emit step
	keySeq    = []byte(`"s":`) // sequence number of the call
	keyGroup  = []byte(`"g":`) // user group the call was addressed to
)

// intField finds `"key":` in p and parses the integer after it (a fraction is ignored; a number in
// exponent form, which no encoder writes below 1e21, is refused).
func intField(p, key []byte) (int64, bool) {
	i := bytes.Index(p, key)
	if i < 0 {
		return 0, false
	}
	p = p[i+len(key):]
	for len(p) > 0 && p[0] == ' ' {
		p = p[1:]
	}
	neg := false
	if len(p) > 0 && p[0] == '-' {
		neg = true
		p = p[1:]
	}
	var v int64
	n := 0
	for ; n < len(p) && p[n] >= '0' && p[n] <= '9'; n++ {
		v = v*10 + int64(p[n]-'0')
	}
	if n == 0 || n > 19 {
		return 0, false
	}
	if n < len(p) && p[n] == '.' {
		for n++; n < len(p) && p[n] >= '0' && p[n] <= '9'; n++ {
		}
	}
	if n < len(p) && (p[n] == 'e' || p[n] == 'E') {
		return 0, false
	}
	if neg {
		v = -v
	}
	return v, true
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}

// connectPayload is the CONNECT packet with the user's token in the auth payload.
func connectPayload(token string) []byte {
	b := make([]byte, 0, len(token)+16)
	b = append(b, `40{"token":`...)
	b = strconv.AppendQuote(b, token)
	return append(b, '}')
}
