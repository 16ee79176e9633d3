package engineio_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"herald/engineio"
)

// faultConn is a net.Conn whose writes fail once fail reports true for the
// bytes being written. It is not a *net.TCPConn, so the server serves it in
// blocking mode.
type faultConn struct {
	net.Conn
	fail func(b []byte) bool
}

var errInjected = errors.New("injected write error")

func (c *faultConn) Write(b []byte) (int, error) {
	if c.fail != nil && c.fail(b) {
		c.Conn.Close()
		return 0, errInjected
	}
	return c.Conn.Write(b)
}

// faultListener wraps every accepted connection in a faultConn.
type faultListener struct {
	net.Listener
	fail func(b []byte) bool
}

func (l faultListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &faultConn{Conn: c, fail: l.fail}, nil
}

// pollingOpen does a polling handshake and returns the sid.
func pollingOpen(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Get(base + "/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	i := bytes.Index(body, []byte(`"sid":"`))
	if i < 0 {
		t.Fatalf("open packet %q", body)
	}
	sid := string(body[i+7:])
	return sid[:strings.IndexByte(sid, '"')]
}

// sendWithin fails t if s.Send(m) does not return within d.
func sendWithin(t *testing.T, s *engineio.Session, m *engineio.Message, d time.Duration) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Send(m) }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("Send blocked for more than %v", d)
		return nil
	}
}

// Regression: the upgrade flushed the polling queue to the new websocket
// while holding the session's lock; a write that failed there closed the
// session, which took the same lock again, and every later Send blocked
// forever.
func TestUpgradeFlushWriteErrorDoesNotDeadlock(t *testing.T) {
	ev := &events{closed: map[string]string{}, messages: map[string][]string{}}
	srv := engineio.NewServer(engineio.Options{OnSession: func(s *engineio.Session, r *http.Request) engineio.Handler {
		ev.mu.Lock()
		ev.sessions = append(ev.sessions, s)
		ev.mu.Unlock()
		return ev
	}})
	hs := httptest.NewUnstartedServer(srv)
	hs.Listener = faultListener{Listener: hs.Listener, fail: func(b []byte) bool { return bytes.Contains(b, []byte("4queued")) }}
	hs.Start()
	defer func() { hs.Close(); srv.Close() }()

	sid := pollingOpen(t, hs.URL)
	s := ev.sessions[0]
	if err := s.Send(engineio.NewTextMessageString("queued")); err != nil {
		t.Fatal(err)
	}
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/?EIO=4&transport=websocket&sid=" + sid
	c, _, _, err := ws.Dial(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	wsutil.WriteClientText(c, []byte("2probe"))
	if b, err := wsutil.ReadServerText(c); err != nil || string(b) != "3probe" {
		t.Fatalf("probe answer %q, %v", b, err)
	}
	wsutil.WriteClientText(c, []byte("5")) // the flush of "queued" fails
	waitFor(t, "close", func() bool { ev.mu.Lock(); defer ev.mu.Unlock(); return ev.closed[sid] != "" })
	if err := sendWithin(t, s, engineio.NewTextMessageString("after"), 2*time.Second); err == nil {
		t.Fatal("Send on a closed session succeeded")
	}
}

// brokenConn is a connection whose handshake is done and whose every write fails.
type brokenConn struct {
	net.Conn
	closed chan struct{}
	once   sync.Once
}

func (c *brokenConn) Read([]byte) (int, error)         { <-c.closed; return 0, net.ErrClosed }
func (c *brokenConn) Write([]byte) (int, error)        { return 0, errInjected }
func (c *brokenConn) Close() error                     { c.once.Do(func() { close(c.closed) }); return nil }
func (c *brokenConn) SetWriteDeadline(time.Time) error { return nil }

// countingHandler counts what the server tells it.
type countingHandler struct{ opened, closed atomic.Int32 }

func (h *countingHandler) OnMessage(*engineio.Session, []byte, bool) {}
func (h *countingHandler) OnClose(*engineio.Session, string)         { h.closed.Add(1) }

// Regression: the open packet was written before the session had its
// handler; a failing write closed the session and called OnClose on a nil
// handler, and Stats counted a close with no open.
func TestOpenPacketWriteFailure(t *testing.T) {
	h := &countingHandler{}
	srv := engineio.NewServer(engineio.Options{OnSession: func(*engineio.Session, *http.Request) engineio.Handler {
		h.opened.Add(1)
		return h
	}})
	defer srv.Close()
	r := httptest.NewRequest("GET", "/?EIO=4&transport=websocket", nil)
	srv.ServeConn(&brokenConn{closed: make(chan struct{})}, r)
	waitFor(t, "close", func() bool { return h.closed.Load() == 1 })
	waitFor(t, "stats", func() bool { st := srv.Stats(); return st.Closed == 1 && st.Open == 0 })
	if st := srv.Stats(); st.Opened != 1 || h.opened.Load() != 1 {
		t.Fatalf("stats %+v, OnSession called %d times; want 1 open and 1 close", st, h.opened.Load())
	}
}

// readUntil reads server frames from br until one satisfies ok.
func readUntil(t *testing.T, c io.ReadWriter, ok func([]byte) bool) {
	t.Helper()
	for {
		b, err := wsutil.ReadServerText(c)
		if err != nil {
			t.Fatal(err)
		}
		if ok(b) {
			return
		}
	}
}

var _ = bufio.NewReader
