package engineio

import (
	"bytes"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// recorder is a Handler that keeps what it is given.
type recorder struct {
	mu     sync.Mutex
	msgs   [][]byte
	closed []string
}

func (r *recorder) OnMessage(_ *Session, data []byte, binary bool) {
	r.mu.Lock()
	r.msgs = append(r.msgs, append([]byte{boolByte(binary)}, data...))
	r.mu.Unlock()
}
func (r *recorder) OnClose(_ *Session, reason string) {
	r.mu.Lock()
	r.closed = append(r.closed, reason)
	r.mu.Unlock()
}

// waitClosed waits until the handler was told the session closed: in
// blocking mode the writer goroutine closes after the close frame went out.
func (r *recorder) waitClosed(t testing.TB) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.mu.Lock()
		n := len(r.closed)
		r.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// discardConn is a net.Conn that swallows writes and never reads.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error)      { return len(b), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

func newTestConn(t testing.TB, srv *Server) (*wsConn, *recorder) {
	rec := &recorder{}
	s := &Session{id: "test", srv: srv, handler: rec, hbSlot: -1}
	c := srv.newWSConn(s, discardConn{})
	s.ws.Store(c)
	t.Cleanup(func() { c.close(ReasonForcedClose) }) // ends its writer goroutine
	return c, rec
}

func clientFrame(op ws.OpCode, fin bool, payload []byte) []byte {
	f := ws.NewFrame(op, fin, append([]byte(nil), payload...))
	f = ws.MaskFrameInPlace(f)
	return ws.MustCompileFrame(f)
}

func TestFeedFragmentsAndControlFrames(t *testing.T) {
	srv := NewServer(Options{OnSession: func(*Session, *http.Request) Handler { return nil }})
	defer srv.Close()
	c, rec := newTestConn(t, srv)
	stream := bytes.Join([][]byte{
		clientFrame(ws.OpText, true, []byte("4one")),
		clientFrame(ws.OpText, false, []byte("4tw")),
		clientFrame(ws.OpPing, true, []byte("p")), // control frames may interleave
		clientFrame(ws.OpContinuation, true, []byte("o")),
		clientFrame(ws.OpBinary, true, []byte{9, 8}),
	}, nil)
	// Feed the stream one byte at a time: partial headers and payloads must
	// be kept between reads.
	for i := range stream {
		if !c.feed(stream[i : i+1]) {
			t.Fatalf("feed closed the connection at byte %d", i)
		}
	}
	want := [][]byte{[]byte("\x00one"), []byte("\x00two"), {1, 9, 8}}
	if len(rec.msgs) != len(want) {
		t.Fatalf("got %q, want %q", rec.msgs, want)
	}
	for i := range want {
		if !bytes.Equal(rec.msgs[i], want[i]) {
			t.Errorf("message %d = %q, want %q", i, rec.msgs[i], want[i])
		}
	}
}

func TestFeedRejects(t *testing.T) {
	tests := map[string][]byte{
		"unmasked":           ws.MustCompileFrame(ws.NewTextFrame([]byte("4x"))),
		"reserved bits":      func() []byte { b := clientFrame(ws.OpText, true, []byte("4x")); b[0] |= 0x40; return b }(),
		"fragmented control": clientFrame(ws.OpPing, false, nil),
		"stray continuation": clientFrame(ws.OpContinuation, true, []byte("x")),
		"too big":            clientFrame(ws.OpText, true, bytes.Repeat([]byte("a"), 200)),
		"bad engine packet":  clientFrame(ws.OpText, true, []byte("9")),
		"reserved opcode":    clientFrame(ws.OpCode(3), true, nil),
	}
	for name, frame := range tests {
		t.Run(name, func(t *testing.T) {
			srv := NewServer(Options{MaxPayload: 100, OnSession: func(*Session, *http.Request) Handler { return nil }})
			defer srv.Close()
			c, rec := newTestConn(t, srv)
			if c.feed(frame) {
				t.Fatal("feed accepted the frame")
			}
			rec.waitClosed(t)
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if len(rec.msgs) != 0 || len(rec.closed) != 1 {
				t.Fatalf("messages %q, closes %q; want none and one", rec.msgs, rec.closed)
			}
		})
	}
}

// FuzzWebsocketFrames feeds arbitrary bytes as a client stream, whole and
// split in two at a chosen point: no panic, and both ways deliver the same
// messages, each within MaxPayload.
func FuzzWebsocketFrames(f *testing.F) {
	f.Add(clientFrame(ws.OpText, true, []byte("4hello")), uint16(3))
	f.Add(append(clientFrame(ws.OpText, false, []byte("4he")), clientFrame(ws.OpContinuation, true, []byte("llo"))...), uint16(7))
	f.Add(clientFrame(ws.OpBinary, true, []byte{1, 2, 3}), uint16(1))
	f.Add(clientFrame(ws.OpClose, true, nil), uint16(0))
	f.Add(clientFrame(ws.OpText, true, bytes.Repeat([]byte("4"), 300)), uint16(2))
	f.Fuzz(func(t *testing.T, stream []byte, split uint16) {
		srv := NewServer(Options{MaxPayload: 256, OnSession: func(*Session, *http.Request) Handler { return nil }})
		defer srv.Close()
		whole, recWhole := newTestConn(t, srv)
		whole.feed(append([]byte(nil), stream...))
		parts, recParts := newTestConn(t, srv)
		cut := int(split) % (len(stream) + 1)
		s2 := append([]byte(nil), stream...)
		if parts.feed(s2[:cut]) {
			parts.feed(s2[cut:])
		}
		if len(recWhole.msgs) != len(recParts.msgs) {
			t.Fatalf("whole delivered %d messages, split %d", len(recWhole.msgs), len(recParts.msgs))
		}
		for i := range recWhole.msgs {
			if !bytes.Equal(recWhole.msgs[i], recParts.msgs[i]) {
				t.Fatalf("message %d differs: %q vs %q", i, recWhole.msgs[i], recParts.msgs[i])
			}
			if len(recWhole.msgs[i])-1 > 256 {
				t.Fatalf("message of %d bytes over MaxPayload", len(recWhole.msgs[i])-1)
			}
		}
	})
}

// captureConn is a net.Conn that keeps what is written and never reads.
type captureConn struct {
	net.Conn
	mu  sync.Mutex
	out []byte
}

func (c *captureConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	c.out = append(c.out, b...)
	c.mu.Unlock()
	return len(b), nil
}
func (*captureConn) Close() error                     { return nil }
func (*captureConn) SetWriteDeadline(time.Time) error { return nil }

// Regression: text frames were not checked for valid UTF-8; RFC 6455 asks
// to close with 1007, and the message must not reach the handler.
func TestFeedRejectsInvalidUTF8(t *testing.T) {
	srv := NewServer(Options{OnSession: func(*Session, *http.Request) Handler { return nil }})
	defer srv.Close()
	rec := &recorder{}
	s := &Session{id: "test", srv: srv, handler: rec, hbSlot: -1}
	nc := &captureConn{}
	c := srv.newWSConn(s, nc)
	s.ws.Store(c)
	defer c.close(ReasonForcedClose)
	stream := append(clientFrame(ws.OpText, false, []byte("4ok\xc3")), clientFrame(ws.OpContinuation, true, []byte("\xa9"))...)
	stream = append(stream, clientFrame(ws.OpText, true, []byte("4\xff"))...)
	if !c.feed(stream[:len(stream)-7]) { // a UTF-8 sequence split across fragments is valid
		t.Fatal("valid fragmented text refused")
	}
	if c.feed(stream[len(stream)-7:]) {
		t.Fatal("invalid UTF-8 accepted")
	}
	rec.waitClosed(t)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.msgs) != 1 || string(rec.msgs[0][1:]) != "ok\xc3\xa9" {
		t.Fatalf("messages %q, want the valid one only", rec.msgs)
	}
	nc.mu.Lock()
	defer nc.mu.Unlock()
	want := ws.MustCompileFrame(ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusInvalidFramePayloadData, "")))
	if !bytes.HasSuffix(nc.out, want) {
		t.Fatalf("wrote %q, want a close frame with status 1007 last", nc.out)
	}
}
