package socketio_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"herald/socketio"
)

// memConn is a websocket connection whose handshake is done: it reads a
// fixed client stream once, then blocks until closed; writes are counted
// and dropped, and never block. It lets benchmarks measure the server
// without the kernel.
type memConn struct {
	net.Conn
	in      []byte
	closed  chan struct{}
	once    sync.Once
	written *atomic.Int64
	match   []byte       // writes equal to match are counted in matched
	matched atomic.Int64 // (the writer writes one frame per Write)
}

func (c *memConn) Read(p []byte) (int, error) {
	if len(c.in) > 0 {
		n := copy(p, c.in)
		c.in = c.in[n:]
		return n, nil
	}
	<-c.closed
	return 0, net.ErrClosed
}
func (c *memConn) Write(p []byte) (int, error) {
	c.written.Add(int64(len(p)))
	if c.match != nil && bytes.Equal(p, c.match) {
		c.matched.Add(1)
	}
	return len(p), nil
}

// TryWrite makes the connection one that never blocks, written from the
// sender's goroutine as a socket on the poller is (engineio.TryWriter).
func (c *memConn) TryWrite(p []byte) (int, error)     { return c.Write(p) }
func (c *memConn) Close() error                       { c.once.Do(func() { close(c.closed) }); return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

func clientText(s string) []byte {
	return ws.MustCompileFrame(ws.MaskFrameInPlace(ws.NewTextFrame([]byte(s))))
}

// connectN connects n in-memory clients to the default namespace, each
// joining room; their writes equal to match are counted.
func connectN(tb testing.TB, srv *socketio.Server, n int, room string, match []byte) (conns []*memConn, written *atomic.Int64, closeAll func()) {
	written = new(atomic.Int64)
	nsp := srv.Of("/")
	nsp.OnConnection(func(s *socketio.Socket) { s.Join(room) })
	req := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket", nil)
	for i := 0; i < n; i++ {
		c := &memConn{in: clientText("40"), closed: make(chan struct{}), written: written, match: match}
		conns = append(conns, c)
		srv.Engine().ServeConn(c, req)
	}
	// Counted as connected before the OnConnection handler joined room:
	// wait for the room, or an emit could miss the last ones.
	waitUntil(tb, fmt.Sprintf("%d sockets in %s", n, room), func() bool { return len(nsp.To(room).Sockets()) == n })
	return conns, written, func() {
		for _, c := range conns {
			c.Close()
		}
	}
}

// BenchmarkRoomEmit measures one emit to a room of 1, 100 and 10,000
// sockets: the packet and its frame are encoded once and shared, so the
// allocations must not grow with the room.
func BenchmarkRoomEmit(b *testing.B) {
	payload := json.RawMessage(`{"notification":{"id":"n1","title":"Order shipped","message":"It is on its way","type":"info","seq":42},"timestamp":"2026-11-27T16:23:38.000Z"}`)
	for _, n := range []int{1, 100, 10_000} {
		b.Run(fmt.Sprintf("sockets=%d", n), func(b *testing.B) {
			srv := socketio.NewServer(socketio.Options{})
			defer srv.Close()
			_, written, closeAll := connectN(b, srv, n, "room", nil)
			defer closeAll()
			e, _ := socketio.EncodeEvent("/", "notification:new", []any{payload})
			frame := int64(len(e.Text()) + 1 + 4) // '4', 16-bit length header
			waitUntil(b, "CONNECT answers written", func() bool { return written.Load() > 0 })
			before := written.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				srv.Of("/").To("room").Emit("notification:new", payload)
			}
			b.StopTimer()
			// Connections in blocking mode are written by their own goroutine.
			want := before + int64(b.N)*int64(n)*frame
			waitUntil(b, "every frame written", func() bool { return written.Load() >= want })
			b.ReportMetric(float64(written.Load()-before)/float64(b.N), "B/emit")
		})
	}
}

func BenchmarkEncodeEvent(b *testing.B) {
	payload := json.RawMessage(`{"notification":{"id":"n1","title":"Order shipped","message":"It is on its way","type":"info","seq":42},"timestamp":"2026-11-27T16:23:38.000Z"}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := socketio.EncodeEvent("/", "notification:new", []any{payload}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	pkt := []byte(`2/admin,12["notification:mark_read",{"notificationId":"01JDX5V3Q6M8K2N4P7R9T1W3Y5"}]`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := socketio.Decode(pkt); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRoomEmitReachesEverySocketOnce(t *testing.T) {
	srv := socketio.NewServer(socketio.Options{})
	defer srv.Close()
	text := `42["hello","x"]`
	frame := append([]byte{0x81, byte(len(text))}, text...)
	conns, _, closeAll := connectN(t, srv, 50, "room", frame)
	defer closeAll()
	if err := srv.Of("/").To("room").Emit("hello", "x"); err != nil {
		t.Fatal(err)
	}
	total := func() (n int64) {
		for _, c := range conns {
			n += c.matched.Load()
		}
		return n
	}
	waitUntil(t, "50 frames written", func() bool { return total() >= 50 })
	// A second emit to one socket is a marker: once it is out, the writers
	// had every chance to write a duplicate of the first.
	srv.Of("/").To(srv.Of("/").To("room").Sockets()[0].ID()).Emit("hello", "x")
	waitUntil(t, "the marker written", func() bool { return total() >= 51 })
	for i, c := range conns {
		if n := c.matched.Load(); n < 1 || n > 2 {
			t.Fatalf("socket %d got the frame %d times", i, n)
		}
	}
	if n := total(); n != 51 {
		t.Fatalf("%d frames written, want 51", n)
	}
}

// waitUntil polls cond until it holds, failing tb after 10s.
func waitUntil(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
