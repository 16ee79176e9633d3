package engineio_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"herald/engineio"
	"herald/internal/testpipe"
)

// Tests on an in-memory network (internal/testpipe): the transports, the
// upgrade and the heartbeat, without sockets or npm.

type pipeServer struct {
	srv *engineio.Server
	ev  *events
	l   *testpipe.Listener
	hc  *http.Client
}

func newPipeServer(t *testing.T, opts engineio.Options) *pipeServer {
	t.Helper()
	ev := &events{closed: map[string]string{}, messages: map[string][]string{}}
	opts.OnSession = func(s *engineio.Session, r *http.Request) engineio.Handler {
		ev.mu.Lock()
		ev.sessions = append(ev.sessions, s)
		ev.mu.Unlock()
		return ev
	}
	srv := engineio.NewServer(opts)
	l, stop := testpipe.Serve(srv)
	t.Cleanup(func() { srv.Close(); stop() })
	return &pipeServer{srv: srv, ev: ev, l: l, hc: l.Client()}
}

func (p *pipeServer) session(t *testing.T, sid string) *engineio.Session {
	t.Helper()
	var s *engineio.Session
	waitFor(t, "session "+sid, func() bool {
		p.ev.mu.Lock()
		defer p.ev.mu.Unlock()
		for _, x := range p.ev.sessions {
			if x.ID() == sid {
				s = x
			}
		}
		return s != nil
	})
	return s
}

func (p *pipeServer) closedWith(sid string) string {
	p.ev.mu.Lock()
	defer p.ev.mu.Unlock()
	return p.ev.closed[sid]
}

func (p *pipeServer) get(t *testing.T, query string) string {
	t.Helper()
	res, err := p.hc.Get("http://pipe/?EIO=4&transport=polling" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func (p *pipeServer) post(t *testing.T, sid, body string) int {
	t.Helper()
	res, err := p.hc.Post("http://pipe/?EIO=4&transport=polling&sid="+sid, "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func sidOf(t *testing.T, open string) string {
	t.Helper()
	i := strings.Index(open, `"sid":"`)
	if !strings.HasPrefix(open, "0") || i < 0 {
		t.Fatalf("open packet %q", open)
	}
	sid := open[i+7:]
	return sid[:strings.IndexByte(sid, '"')]
}

func (p *pipeServer) dialWS(t *testing.T, query string) net.Conn {
	t.Helper()
	d := ws.Dialer{NetDial: p.l.Dial, Timeout: 5 * time.Second}
	c, br, _, err := d.Dial(context.Background(), "ws://pipe/?EIO=4&transport=websocket"+query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if br != nil {
		return bufferedConn{c, br}
	}
	return c
}

// Long-polling: the open packet, messages both ways in payloads, and the
// client's close packet.
func TestPollingOverPipe(t *testing.T) {
	p := newPipeServer(t, engineio.Options{})
	sid := sidOf(t, p.get(t, ""))
	s := p.session(t, sid)
	if code := p.post(t, sid, "4hello\x1e4world"); code != http.StatusOK {
		t.Fatalf("POST answered %d", code)
	}
	s.Send(engineio.NewTextMessageString("a"))
	s.Send(engineio.NewBinaryMessage([]byte{1, 2}))
	if got := p.get(t, "&sid="+sid); got != "4a\x1ebAQI=" {
		t.Fatalf("GET = %q, want the two messages", got)
	}
	p.ev.mu.Lock()
	got := strings.Join(p.ev.messages[sid], ",")
	p.ev.mu.Unlock()
	if got != "hello,world" {
		t.Fatalf("messages %q", got)
	}
	p.post(t, sid, "1")
	waitFor(t, "close", func() bool { return p.closedWith(sid) != "" })
	if r := p.closedWith(sid); r != engineio.ReasonTransportClose {
		t.Fatalf("closed with %q", r)
	}
}

// The upgrade from polling to websocket: probe, upgrade, then what was
// queued for polling and what follows arrive on the websocket, in order.
func TestUpgradeOverPipe(t *testing.T) {
	p := newPipeServer(t, engineio.Options{})
	sid := sidOf(t, p.get(t, ""))
	s := p.session(t, sid)
	s.Send(engineio.NewTextMessageString("before"))
	c := p.dialWS(t, "&sid="+sid)
	wsutil.WriteClientText(c, []byte("2probe"))
	if b, err := wsutil.ReadServerText(c); err != nil || string(b) != "3probe" {
		t.Fatalf("probe answer %q, %v", b, err)
	}
	wsutil.WriteClientText(c, []byte("5"))
	waitFor(t, "websocket transport", func() bool { return s.Transport() == "websocket" })
	s.Send(engineio.NewTextMessageString("after"))
	for _, want := range []string{"4before", "4after"} {
		if b, err := wsutil.ReadServerText(c); err != nil || string(b) != want {
			t.Fatalf("got %q, %v; want %q", b, err, want)
		}
	}
	wsutil.WriteClientText(c, []byte("4up"))
	waitFor(t, "message over websocket", func() bool {
		p.ev.mu.Lock()
		defer p.ev.mu.Unlock()
		return len(p.ev.messages[sid]) == 1 && p.ev.messages[sid][0] == "up"
	})
}

// A client that answers pings stays; one that does not is closed with
// "ping timeout" after PingInterval + PingTimeout.
func TestPingTimeoutOverPipe(t *testing.T) {
	p := newPipeServer(t, engineio.Options{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
	live := p.dialWS(t, "")
	open, _ := wsutil.ReadServerText(live)
	liveID := sidOf(t, string(open))
	pings := make(chan struct{}, 100)
	go func() {
		for {
			b, err := wsutil.ReadServerText(live)
			if err != nil {
				return
			}
			if string(b) == "2" {
				wsutil.WriteClientText(live, []byte("3"))
				pings <- struct{}{}
			}
		}
	}()
	mute := p.dialWS(t, "")
	open, _ = wsutil.ReadServerText(mute)
	muteID := sidOf(t, string(open))
	go io.Copy(io.Discard, mute) // reads, never answers
	start := time.Now()
	waitFor(t, "ping timeout", func() bool { return p.closedWith(muteID) != "" })
	if r := p.closedWith(muteID); r != engineio.ReasonPingTimeout {
		t.Fatalf("silent client closed with %q", r)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed after %v, before the ping timeout", d)
	}
	for i := 0; i < 3; i++ {
		select {
		case <-pings:
		case <-time.After(5 * time.Second):
			t.Fatal("the live client stopped getting pings")
		}
	}
	if r := p.closedWith(liveID); r != "" {
		t.Fatalf("live client closed with %q", r)
	}
}

// Regression: a connection in blocking mode (a pipe, TLS, BlockingReads)
// wrote on the caller's goroutine, so a client that stopped reading
// stalled every Send to it, the broadcaster's loop and the heartbeat
// wheel, up to the write deadline. Now Send returns at once, the client is
// dropped as a slow consumer when its queue passes the limit, and the
// other clients keep their heartbeats.
func TestStuckClientNeverStallsSend(t *testing.T) {
	p := newPipeServer(t, engineio.Options{WriteQueueLimit: 64 << 10, PingInterval: 50 * time.Millisecond, PingTimeout: 5 * time.Second})
	stuck := p.dialWS(t, "")
	open, _ := wsutil.ReadServerText(stuck)
	sid := sidOf(t, string(open))
	s := p.session(t, sid)
	live := p.dialWS(t, "")
	wsutil.ReadServerText(live)
	pings := make(chan struct{}, 100)
	go func() {
		for {
			b, err := wsutil.ReadServerText(live)
			if err != nil {
				return
			}
			if string(b) == "2" {
				wsutil.WriteClientText(live, []byte("3"))
				pings <- struct{}{}
			}
		}
	}()
	msg := engineio.NewTextMessage(bytes.Repeat([]byte("x"), 1<<10))
	var err error
	for i := 0; i < 200 && err == nil; i++ {
		err = sendWithin(t, s, msg, time.Second)
	}
	if err != engineio.ErrSlowConsumer {
		t.Fatalf("Send to a client that never reads: %v, want ErrSlowConsumer", err)
	}
	waitFor(t, "slow-consumer close", func() bool { return p.closedWith(sid) == engineio.ReasonSlowConsumer })
	for i := 0; i < 3; i++ {
		select {
		case <-pings:
		case <-time.After(5 * time.Second):
			t.Fatal("the live client stopped getting pings")
		}
	}
}

// WaitWritable returns once the client read enough of its queue, and
// ErrClosed once the session is gone.
func TestWaitWritableOverPipe(t *testing.T) {
	p := newPipeServer(t, engineio.Options{WriteQueueLimit: 1 << 20})
	c := p.dialWS(t, "")
	open, _ := wsutil.ReadServerText(c)
	s := p.session(t, sidOf(t, string(open)))
	msg := engineio.NewTextMessage(bytes.Repeat([]byte("x"), 16<<10))
	for i := 0; i < 20; i++ {
		if err := s.Send(msg); err != nil {
			t.Fatal(err)
		}
	}
	if s.Queued() < 16<<10 {
		t.Fatalf("Queued = %d with a client that is not reading", s.Queued())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if err := s.WaitWritable(ctx, 0); err != context.DeadlineExceeded {
		t.Fatalf("WaitWritable with nothing read: %v", err)
	}
	cancel()
	go io.Copy(io.Discard, c)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.WaitWritable(ctx, 0); err != nil {
		t.Fatalf("WaitWritable while the client reads: %v", err)
	}
	s.Close()
	if err := s.WaitWritable(ctx, 0); err != engineio.ErrClosed {
		t.Fatalf("WaitWritable on a closed session: %v", err)
	}
}
