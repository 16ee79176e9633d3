package engineio_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"herald/engineio"
)

// events records what a server's sessions went through.
type events struct {
	mu       sync.Mutex
	sessions []*engineio.Session
	closed   map[string]string // sid → reason
	messages map[string][]string
}

func (e *events) OnMessage(s *engineio.Session, data []byte, binary bool) {
	e.mu.Lock()
	e.messages[s.ID()] = append(e.messages[s.ID()], string(data))
	e.mu.Unlock()
}

func (e *events) OnClose(s *engineio.Session, reason string) {
	e.mu.Lock()
	e.closed[s.ID()] = reason
	e.mu.Unlock()
}

func newServer(t *testing.T, opts engineio.Options) (*engineio.Server, *events, string) {
	t.Helper()
	ev := &events{closed: map[string]string{}, messages: map[string][]string{}}
	opts.OnSession = func(s *engineio.Session, r *http.Request) engineio.Handler {
		ev.mu.Lock()
		ev.sessions = append(ev.sessions, s)
		ev.mu.Unlock()
		return ev
	}
	srv := engineio.NewServer(opts)
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return srv, ev, hs.URL
}

// dial opens a websocket session and returns the connection and its sid.
func dial(t *testing.T, base string) (net.Conn, string) {
	t.Helper()
	url := "ws" + strings.TrimPrefix(base, "http") + "/?EIO=4&transport=websocket"
	c, br, _, err := ws.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	if br != nil { // frames that arrived with the handshake response
		c = bufferedConn{c, br}
	}
	open, err := wsutil.ReadServerText(c)
	if err != nil || open[0] != '0' {
		t.Fatalf("open packet %q, %v", open, err)
	}
	sid := string(open[bytes.Index(open, []byte(`"sid":"`))+7:])
	return c, sid[:strings.IndexByte(sid, '"')]
}

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A client that stops reading is disconnected once its queue passes the
// limit, with the slow-consumer reason, and it does not slow anyone else.
func TestSlowConsumerIsDisconnectedAlone(t *testing.T) {
	srv, ev, url := newServer(t, engineio.Options{WriteQueueLimit: 256 << 10})
	slow, slowID := dial(t, url)
	defer slow.Close()
	fast, fastID := dial(t, url)
	defer fast.Close()
	waitFor(t, "two sessions", func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); return len(ev.sessions) == 2 })
	var slowS, fastS *engineio.Session
	for _, s := range ev.sessions {
		switch s.ID() {
		case slowID:
			slowS = s
		case fastID:
			fastS = s
		}
	}
	msg := engineio.NewTextMessage(bytes.Repeat([]byte("x"), 64<<10))
	got := make(chan struct{})
	go func() {
		for {
			b, err := wsutil.ReadServerText(fast)
			if err != nil {
				close(got)
				return
			}
			if b[0] == '4' {
				got <- struct{}{}
			}
		}
	}()
	// The fast client reads each message before the next is sent; the slow
	// one never reads, so its queue grows until the limit.
	var slowErr error
	for i := 0; i < 200; i++ {
		if err := slowS.Send(msg); err != nil && slowErr == nil {
			slowErr = err
		}
		if err := fastS.Send(msg); err != nil {
			t.Fatalf("send %d to the fast client: %v", i, err)
		}
		select {
		case _, ok := <-got:
			if !ok {
				t.Fatalf("fast client lost its connection at message %d", i)
			}
		case <-time.After(2 * time.Second):
			t.Fatalf("fast client did not get message %d within 2s", i)
		}
	}
	if slowErr == nil {
		t.Fatal("sending 12.5 MiB to a client that never reads never failed")
	}
	waitFor(t, "slow close", func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); return ev.closed[slowID] != "" })
	if r := ev.closed[slowID]; r != engineio.ReasonSlowConsumer {
		t.Fatalf("slow client closed with %q, want %q", r, engineio.ReasonSlowConsumer)
	}
	if _, closed := ev.closed[fastID]; closed {
		t.Fatal("fast client was closed")
	}
	if st := srv.Stats(); st.SlowConsumers != 1 || st.Open != 1 {
		t.Fatalf("stats = %+v, want 1 slow consumer and 1 open session", st)
	}
}

// Messages sent by the client arrive in order, whole, whatever the TCP
// segmentation; a websocket-level ping is answered.
func TestWebsocketMessagesAndPing(t *testing.T) {
	_, ev, url := newServer(t, engineio.Options{})
	c, sid := dial(t, url)
	defer c.Close()
	big := "4" + strings.Repeat("é", 40000)
	for _, m := range []string{"4a", big, "4c"} {
		if err := wsutil.WriteClientText(c, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if err := wsutil.WriteClientMessage(c, ws.OpPing, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	var pong []byte
	for pong == nil {
		msgs, err := wsutil.ReadServerMessage(c, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.OpCode == ws.OpPong {
				pong = m.Payload
			}
		}
	}
	if string(pong) != "hi" {
		t.Fatalf("pong payload %q", pong)
	}
	waitFor(t, "3 messages", func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); return len(ev.messages[sid]) == 3 })
	got := ev.messages[sid]
	if got[0] != "a" || got[1] != big[1:] || got[2] != "c" {
		t.Fatalf("messages out of order or damaged: %d bytes, %q, %q", len(got[1]), got[0], got[2])
	}
}

// Closing the server ends every session with the shutdown reason.
func TestCloseEndsSessions(t *testing.T) {
	srv, ev, url := newServer(t, engineio.Options{})
	c, sid := dial(t, url)
	defer c.Close()
	srv.Close()
	waitFor(t, "close", func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); return ev.closed[sid] != "" })
	if r := ev.closed[sid]; r != engineio.ReasonServerShutdown {
		t.Fatalf("reason %q", r)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		if _, err := wsutil.ReadServerText(c); err != nil {
			return // the client sees the connection end
		}
	}
}

// Messages sent together leave in one writev; when the socket takes only
// part of them, the rest is queued and follows in order, whole.
func TestSendAllKeepsOrderUnderBackpressure(t *testing.T) {
	_, ev, url := newServer(t, engineio.Options{WriteQueueLimit: 64 << 20})
	c, sid := dial(t, url)
	defer c.Close()
	waitFor(t, "session", func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); return len(ev.sessions) == 1 })
	s := ev.sessions[0]
	if s.ID() != sid {
		t.Fatalf("session %s, dialed %s", s.ID(), sid)
	}
	const batches = 100
	for i := 0; i < batches; i++ {
		var ms []*engineio.Message
		for j := 0; j < 3; j++ {
			body := fmt.Sprintf("%04d-%d-", i, j) + strings.Repeat("x", 20<<10)
			ms = append(ms, engineio.NewTextMessageString(body))
		}
		if err := s.SendAll(ms); err != nil { // the client is not reading yet
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	for i := 0; i < batches; i++ {
		for j := 0; j < 3; j++ {
			var b []byte
			for {
				var err error
				if b, err = wsutil.ReadServerText(c); err != nil {
					t.Fatalf("read %d/%d: %v", i, j, err)
				}
				if b[0] == '4' {
					break
				}
			}
			want := fmt.Sprintf("4%04d-%d-", i, j)
			if !bytes.HasPrefix(b, []byte(want)) || len(b) != len(want)+20<<10 {
				t.Fatalf("message %d/%d: got %q... (%d bytes), want %q...", i, j, b[:min(len(b), 10)], len(b), want)
			}
		}
	}
}
