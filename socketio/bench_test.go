package socketio_test

import (
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
// and dropped. It lets benchmarks measure the server without the kernel.
type memConn struct {
	net.Conn
	in      []byte
	closed  chan struct{}
	once    sync.Once
	written *atomic.Int64
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
	return len(p), nil
}
func (c *memConn) Close() error                       { c.once.Do(func() { close(c.closed) }); return nil }
func (c *memConn) SetWriteDeadline(t time.Time) error { return nil }

func clientText(s string) []byte {
	return ws.MustCompileFrame(ws.MaskFrameInPlace(ws.NewTextFrame([]byte(s))))
}

// connectN connects n in-memory clients to the default namespace, each
// joining room.
func connectN(tb testing.TB, srv *socketio.Server, n int, room string) (written *atomic.Int64, closeAll func()) {
	written = new(atomic.Int64)
	nsp := srv.Of("/")
	nsp.OnConnection(func(s *socketio.Socket) { s.Join(room) })
	var conns []*memConn
	req := httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket", nil)
	for i := 0; i < n; i++ {
		c := &memConn{in: clientText("40"), closed: make(chan struct{}), written: written}
		conns = append(conns, c)
		srv.Engine().ServeConn(c, req)
	}
	deadline := time.Now().Add(10 * time.Second)
	for nsp.Len() < n {
		if time.Now().After(deadline) {
			tb.Fatalf("%d of %d sockets connected", nsp.Len(), n)
		}
		time.Sleep(time.Millisecond)
	}
	return written, func() {
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
			written, closeAll := connectN(b, srv, n, "room")
			defer closeAll()
			before := written.Load()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				srv.Of("/").To("room").Emit("notification:new", payload)
			}
			b.StopTimer()
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
	written, closeAll := connectN(t, srv, 50, "room")
	defer closeAll()
	time.Sleep(20 * time.Millisecond) // let the CONNECT answers be written
	before := written.Load()
	if err := srv.Of("/").To("room").Emit("hello", "x"); err != nil {
		t.Fatal(err)
	}
	frame := len(`42["hello","x"]`) + 2
	if got := written.Load() - before; got != int64(50*frame) {
		t.Fatalf("wrote %d bytes, want %d (50 frames of %d)", got, 50*frame, frame)
	}
}
