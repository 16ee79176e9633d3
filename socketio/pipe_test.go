package socketio_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"herald/engineio"
	"herald/internal/testpipe"
	"herald/socketio"
)

// Tests on an in-memory network (internal/testpipe) with a minimal
// client written here: acknowledgements, middleware and the packet
// budgets, without sockets or npm.

type pipeClient struct {
	t *testing.T
	c net.Conn
}

func pipeServe(t *testing.T, opts socketio.Options) (*socketio.Server, *testpipe.Listener) {
	t.Helper()
	srv := socketio.NewServer(opts)
	l, stop := testpipe.Serve(srv)
	t.Cleanup(func() { srv.Close(); stop() })
	return srv, l
}

// pipeDial opens a websocket session and reads its open packet.
func pipeDial(t *testing.T, l *testpipe.Listener) *pipeClient {
	t.Helper()
	d := ws.Dialer{NetDial: l.Dial, Timeout: 5 * time.Second}
	c, br, _, err := d.Dial(context.Background(), "ws://pipe/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		t.Fatal(err)
	}
	if br != nil {
		ws.PutReader(br)
	}
	t.Cleanup(func() { c.Close() })
	pc := &pipeClient{t: t, c: c}
	if open := pc.read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	return pc
}

func (pc *pipeClient) send(s string) {
	pc.t.Helper()
	if err := wsutil.WriteClientText(pc.c, []byte(s)); err != nil {
		pc.t.Fatal(err)
	}
}

// read returns the next text message other than a ping (which it answers).
func (pc *pipeClient) read() string {
	pc.t.Helper()
	for {
		pc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := wsutil.ReadServerText(pc.c)
		if err != nil {
			pc.t.Fatalf("read: %v", err)
		}
		if string(b) == "2" {
			wsutil.WriteClientText(pc.c, []byte("3"))
			continue
		}
		return string(b)
	}
}

// closed reports whether the server ends the connection within 5s,
// reading (and dropping) what comes before.
func (pc *pipeClient) closed() bool {
	pc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := wsutil.ReadServerText(pc.c); err != nil {
			var ne net.Error
			return !(errors.As(err, &ne) && ne.Timeout())
		}
	}
}

// Acknowledgements both ways: the client's ack request is answered with
// the handler's values; the server's is completed by the client's ack, or
// times out.
func TestAcksOverPipe(t *testing.T) {
	srv, l := pipeServe(t, socketio.Options{})
	nsp := srv.Of("/")
	nsp.On("echo", func(s *socketio.Socket, e *socketio.Event) {
		var v string
		e.Args.Decode(0, &v)
		e.Ack(v + "!")
	})
	got := make(chan string, 2)
	nsp.OnConnection(func(s *socketio.Socket) {
		s.EmitWithAck(5*time.Second, func(a socketio.Args, err error) {
			var v string
			a.Decode(0, &v)
			got <- v + "|" + errString(err)
		}, "question")
		s.EmitWithAck(50*time.Millisecond, func(a socketio.Args, err error) { got <- "late|" + errString(err) }, "ignored")
	})
	c := pipeDial(t, l)
	c.send("40")
	if p := c.read(); !strings.HasPrefix(p, `40{"sid":"`) {
		t.Fatalf("CONNECT answer %q", p)
	}
	if p := c.read(); p != `420["question"]` {
		t.Fatalf("server ack request %q", p)
	}
	if p := c.read(); p != `421["ignored"]` {
		t.Fatalf("second ack request %q", p)
	}
	c.send(`430["yes"]`)
	c.send(`4212["echo","hi"]`)
	if p := c.read(); p != `4312["hi!"]` {
		t.Fatalf("ack of the client's request %q", p)
	}
	want := map[string]bool{"yes|": true, "late|" + socketio.ErrAckTimeout.Error(): true}
	for i := 0; i < 2; i++ {
		select {
		case v := <-got:
			if !want[v] {
				t.Fatalf("ack callback got %q", v)
			}
			delete(want, v)
		case <-time.After(5 * time.Second):
			t.Fatalf("ack callbacks missing: %v", want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Middleware runs in order before the socket exists; an error refuses the
// connection with CONNECT_ERROR and its message and data, and what it sets
// is seen by the handlers.
func TestMiddlewareOverPipe(t *testing.T) {
	srv, l := pipeServe(t, socketio.Options{})
	admin := srv.Of("/admin")
	var order []string
	admin.Use(func(s *socketio.Socket) error { order = append(order, "first"); return nil })
	admin.Use(func(s *socketio.Socket) error {
		order = append(order, "second")
		if !bytes.Contains(s.Auth(), []byte(`"ok"`)) {
			return &socketio.ConnectError{Message: "not allowed", Data: map[string]string{"code": "denied"}}
		}
		s.SetData("checked")
		return nil
	})
	data := make(chan any, 1)
	admin.OnConnection(func(s *socketio.Socket) { data <- s.Data() })
	c := pipeDial(t, l)
	c.send(`40/admin,{"token":"bad"}`)
	if p := c.read(); p != `44/admin,{"message":"not allowed","data":{"code":"denied"}}` {
		t.Fatalf("refusal %q", p)
	}
	c.send(`40/admin,{"token":"ok"}`)
	if p := c.read(); !strings.HasPrefix(p, `40/admin,{"sid":"`) {
		t.Fatalf("CONNECT answer %q", p)
	}
	select {
	case v := <-data:
		if v != "checked" {
			t.Fatalf("socket data %v", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("connection handler did not run")
	}
	if strings.Join(order, ",") != "first,second,first,second" {
		t.Fatalf("middleware ran %v", order)
	}
	c.send(`40/nowhere,`)
	if p := c.read(); p != `44/nowhere,{"message":"Invalid namespace"}` {
		t.Fatalf("unknown namespace %q", p)
	}
}

// Regression (pre-auth memory): a client that never CONNECTs announced a
// binary event and sent attachments, which the server kept for the whole
// connect timeout. A binary packet before CONNECT now ends the connection
// before any attachment is kept.
func TestBinaryBeforeConnectRefused(t *testing.T) {
	srv, l := pipeServe(t, socketio.Options{Engine: engineio.Options{MaxPayload: 100_000}})
	var ran atomic.Int32
	srv.Of("/").On("x", func(*socketio.Socket, *socketio.Event) { ran.Add(1) })
	c := pipeDial(t, l)
	c.send(`451-["x",{"_placeholder":true,"num":0}]`)
	go wsutil.WriteClientBinary(c.c, append([]byte{}, make([]byte, 90_000)...))
	if !c.closed() {
		t.Fatal("a client announcing attachments before CONNECT was not disconnected")
	}
	if ran.Load() != 0 {
		t.Fatal("the event handler ran")
	}
}

// Regression: attachments had no byte budget of their own: after CONNECT,
// a packet announcing 10 attachments (the cap) may still take only
// MaxPayload bytes with them; the client that sends more is disconnected.
func TestAttachmentsShareThePacketBudget(t *testing.T) {
	srv, l := pipeServe(t, socketio.Options{Engine: engineio.Options{MaxPayload: 100_000}})
	var ran atomic.Int32
	srv.Of("/").On("x", func(*socketio.Socket, *socketio.Event) { ran.Add(1) })
	c := pipeDial(t, l)
	c.send("40")
	c.read()
	placeholders := strings.Repeat(`,{"_placeholder":true,"num":0}`, 10)
	c.send(`4510-["x"` + placeholders + `]`)
	go func() {
		for i := 0; i < 10; i++ {
			if wsutil.WriteClientBinary(c.c, make([]byte, 40_000)) != nil {
				return
			}
		}
	}()
	if !c.closed() {
		t.Fatal("400 kB of attachments for a 100 kB budget were accepted")
	}
	if ran.Load() != 0 {
		t.Fatal("the event handler ran")
	}
	c2 := pipeDial(t, l)
	c2.send(`4511-["x"]`)
	if !c2.closed() {
		t.Fatal("11 attachments were accepted")
	}
}

// Regression: packets held for a paused socket had no byte budget. They
// now count against the write budget with the write queue: the socket
// whose held packets pass it is dropped as a slow consumer.
func TestHeldPacketsCountAgainstWriteBudget(t *testing.T) {
	srv, l := pipeServe(t, socketio.Options{Engine: engineio.Options{WriteQueueLimit: 64 << 10}})
	sockets := make(chan *socketio.Socket, 1)
	srv.Of("/").OnConnection(func(s *socketio.Socket) { s.Pause(); sockets <- s })
	c := pipeDial(t, l)
	c.send("40")
	c.read()
	s := <-sockets
	if s.WriteBudget() != 64<<10 {
		t.Fatalf("WriteBudget = %d", s.WriteBudget())
	}
	e, _ := socketio.EncodeEvent("/", "big", []any{strings.Repeat("x", 4<<10)})
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = s.Send(e)
	}
	if err != engineio.ErrSlowConsumer {
		t.Fatalf("holding 400 KiB for a 64 KiB budget: %v", err)
	}
	if !c.closed() {
		t.Fatal("the socket was not dropped")
	}
	waitUntil(t, "slow consumer counted", func() bool { return srv.Engine().Stats().SlowConsumers == 1 })
}

// Encoded carries the event name and the seq a caller gave it, so that
// nobody decodes packets to sort or skip them.
func TestEncodedEventAndSeq(t *testing.T) {
	e, err := socketio.EncodeEvent("/", "notification:new", []any{map[string]any{"seq": 7}})
	if err != nil {
		t.Fatal(err)
	}
	if e.Event() != "notification:new" || e.Seq() != 0 {
		t.Fatalf("Event %q Seq %d", e.Event(), e.Seq())
	}
	s := e.WithSeq(7)
	if s.Event() != "notification:new" || s.Seq() != 7 || e.Seq() != 0 {
		t.Fatalf("WithSeq: %q %d (original %d)", s.Event(), s.Seq(), e.Seq())
	}
	other, _ := socketio.EncodeEvent("/", "count", nil)
	if c := socketio.Concat(s, other); c.Event() != "notification:new" || c.Seq() != 7 || c.Size() != s.Size()+other.Size() {
		t.Fatalf("Concat: %q %d size %d", c.Event(), c.Seq(), c.Size())
	}
}

// Regression: a namespace name that is not UTF-8 was echoed back in the
// CONNECT_ERROR text packet. Such a packet is now a parse error: the
// client is disconnected and nothing of it is sent back.
func TestInvalidUTF8NamespaceNotEchoed(t *testing.T) {
	_, l := pipeServe(t, socketio.Options{})
	hc := l.Client()
	res, err := hc.Get("http://pipe/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	open, _ := io.ReadAll(res.Body)
	res.Body.Close()
	i := bytes.Index(open, []byte(`"sid":"`))
	sid := string(open[i+7 : i+7+bytes.IndexByte(open[i+7:], '"')])
	url := "http://pipe/socket.io/?EIO=4&transport=polling&sid=" + sid
	if res, err = hc.Post(url, "text/plain", strings.NewReader("40/\xff\xfe,")); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = hc.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if bytes.Contains(body, []byte("\xff")) || res.StatusCode == http.StatusOK && string(body) != "1" {
		t.Fatalf("GET after an invalid namespace: %d %q, want the close packet", res.StatusCode, body)
	}
}

// A paused socket on websocket holds room broadcasts, which reach its
// connection without going through the Socket, until Resume, after what
// SendNow sent; another namespace's socket on the same connection keeps
// getting its broadcasts meanwhile.
func TestPausedSocketHoldsBroadcasts(t *testing.T) {
	srv, l := pipeServe(t, socketio.Options{})
	paused := make(chan *socketio.Socket, 1)
	srv.Of("/").OnConnection(func(s *socketio.Socket) { s.Join("room"); s.Pause(); paused <- s })
	joined := make(chan struct{}, 1)
	srv.Of("/admin").OnConnection(func(s *socketio.Socket) { s.Join("room"); joined <- struct{}{} })
	c := pipeDial(t, l)
	c.send("40")
	if got := c.read(); !strings.HasPrefix(got, "40{") {
		t.Fatalf("CONNECT answer %q", got)
	}
	s := <-paused
	c.send("40/admin,")
	if got := c.read(); !strings.HasPrefix(got, "40/admin,{") {
		t.Fatalf("CONNECT answer %q", got)
	}
	<-joined // OnConnection runs after the CONNECT answer, as in socket.io
	srv.Of("/").To("room").Emit("live", 1)
	srv.Of("/admin").To("room").Emit("other")
	if got := c.read(); got != `42/admin,["other"]` {
		t.Fatalf("read %q, want the other namespace's broadcast first", got)
	}
	replay, _ := socketio.EncodeEvent("/", "replay", nil)
	s.SendNow(replay)
	s.Resume(nil)
	srv.Of("/").To("room").Emit("after")
	for _, want := range []string{`42["replay"]`, `42["live",1]`, `42["after"]`} {
		if got := c.read(); got != want {
			t.Fatalf("read %q, want %q", got, want)
		}
	}
}

// The namespace's EventFilter sees every event, with a handler or not,
// before the handler; false drops it.
func TestEventFilterOverPipe(t *testing.T) {
	srv, l := pipeServe(t, socketio.Options{})
	nsp := srv.Of("/")
	var handled atomic.Int32
	nsp.On("known", func(s *socketio.Socket, e *socketio.Event) { handled.Add(1); e.Ack("handled") })
	seen := make(chan string, 8)
	nsp.FilterEvents(func(s *socketio.Socket, e *socketio.Event) bool {
		seen <- e.Name
		if e.Name == "known" && handled.Load() == 1 {
			e.Ack("filtered")
			return false
		}
		return true
	})
	c := pipeDial(t, l)
	c.send("40")
	if p := c.read(); !strings.HasPrefix(p, `40{"sid":"`) {
		t.Fatalf("CONNECT answer %q", p)
	}
	c.send(`421["known"]`)
	c.send(`422["unknown",1]`)
	c.send(`423["known"]`)
	if p := c.read(); p != `431["handled"]` {
		t.Fatalf("first known: %q", p)
	}
	if p := c.read(); p != `433["filtered"]` {
		t.Fatalf("second known, dropped by the filter: %q", p)
	}
	for _, want := range []string{"known", "unknown", "known"} {
		if got := <-seen; got != want {
			t.Fatalf("filter saw %q, want %q", got, want)
		}
	}
	if n := handled.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
}
