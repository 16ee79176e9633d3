package engineio_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"herald/engineio"
)

// faultHandler checks the Handler contract under faults: OnClose once per
// session, no OnMessage after it.
type faultHandler struct {
	mu       sync.Mutex
	live     map[*engineio.Session]bool
	opened   int
	closes   map[*engineio.Session]int
	problems []string
}

func (h *faultHandler) open(s *engineio.Session) {
	h.mu.Lock()
	h.live[s] = true
	h.opened++
	h.mu.Unlock()
}

func (h *faultHandler) OnMessage(s *engineio.Session, data []byte, binary bool) {
	h.mu.Lock()
	if h.closes[s] > 0 {
		h.problems = append(h.problems, "OnMessage after OnClose")
	}
	h.mu.Unlock()
}

func (h *faultHandler) OnClose(s *engineio.Session, reason string) {
	h.mu.Lock()
	h.closes[s]++
	if h.closes[s] > 1 {
		h.problems = append(h.problems, "OnClose twice")
	}
	delete(h.live, s)
	h.mu.Unlock()
}

func (h *faultHandler) sessions() []*engineio.Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*engineio.Session, 0, len(h.live))
	for s := range h.live {
		out = append(out, s)
	}
	return out
}

// watchdog fails the test when a Send (or SendAll, or Close) it tracks
// takes more than limit.
type watchdog struct {
	limit time.Duration
	calls []atomic.Int64 // start of the call in flight per sender, 0 if none
}

func (w *watchdog) track(i int, fn func()) {
	w.calls[i].Store(time.Now().UnixNano())
	fn()
	w.calls[i].Store(0)
}

func (w *watchdog) run(t *testing.T, stop <-chan struct{}) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for i := range w.calls {
			if at := w.calls[i].Load(); at != 0 && time.Since(time.Unix(0, at)) > w.limit {
				// A blocked Send never returns: end the test binary with
				// every goroutine's stack rather than hang.
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				fmt.Fprintf(os.Stderr, "goroutines:\n%s\n", buf)
				panic(fmt.Sprintf("%s: sender %d blocked in Send for over %v", t.Name(), i, w.limit))
			}
		}
	}
}

// TestFaultInjection runs clients that misbehave over real sockets —
// resets during the upgrade and in the middle of writes, clients that
// never read, polling clients that vanish, server-side closes — while
// broadcasters send to every session. Bounded in time; a watchdog fails it
// if any Send blocks for over 5s. At the end every session closed exactly
// once and the counters agree.
func TestFaultInjection(t *testing.T) {
	for _, mode := range []struct {
		name     string
		blocking bool
	}{{"poller", false}, {"blocking", true}} {
		t.Run(mode.name, func(t *testing.T) { faultRun(t, mode.blocking, 4*time.Second) })
	}
}

func faultRun(t *testing.T, blocking bool, d time.Duration) {
	h := &faultHandler{live: map[*engineio.Session]bool{}, closes: map[*engineio.Session]int{}}
	srv := engineio.NewServer(engineio.Options{
		PingInterval: 100 * time.Millisecond, PingTimeout: 300 * time.Millisecond,
		WriteQueueLimit: 128 << 10, UpgradeTimeout: time.Second, BlockingReads: blocking,
		OnSession: func(s *engineio.Session, r *http.Request) engineio.Handler { h.open(s); return h },
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	base := hs.URL
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()

	const senders = 3
	wd := &watchdog{limit: 5 * time.Second, calls: make([]atomic.Int64, senders)}
	wdStop := make(chan struct{})
	wdDone := make(chan struct{})
	go func() { wd.run(t, wdStop); close(wdDone) }()

	var wg sync.WaitGroup
	small := engineio.NewTextMessageString("small")
	big := engineio.NewTextMessage(bytes.Repeat([]byte("b"), 16<<10))
	bin := engineio.NewBinaryMessage(bytes.Repeat([]byte{7}, 1<<10))
	for i := 0; i < senders; i++ {
		wg.Add(1)
		go func() { // a broadcaster, as the adapter's loop
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 1))
			for ctx.Err() == nil {
				for _, s := range h.sessions() {
					wd.track(i, func() {
						switch r.IntN(20) {
						case 0:
							s.Close() // the server ends it, racing the sends
						case 1, 2:
							s.SendAll([]*engineio.Message{small, big, bin})
						case 3:
							s.Send(big)
						default:
							s.Send(small)
						}
					})
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	const clients = 12
	var runs atomic.Int64
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 2))
			for ctx.Err() == nil {
				faultClient(base, r)
				runs.Add(1)
			}
		}()
	}
	wg.Wait()
	close(wdStop)
	<-wdDone

	// Every session ends: clients are gone, the server closes what is left.
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Server.Close blocked for over 5s")
	}
	waitFor(t, "every OnClose", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.live) == 0
	})
	waitFor(t, "counters", func() bool { st := srv.Stats(); return st.Open == 0 && st.Opened == st.Closed })
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.problems) > 0 {
		t.Fatalf("handler contract broken: %v", h.problems[:min(len(h.problems), 5)])
	}
	st := srv.Stats()
	if int(st.Opened) != h.opened {
		t.Fatalf("Stats %+v, OnSession called %d times", st, h.opened)
	}
	t.Logf("%d client runs, %+v", runs.Load(), st)
}

// reset closes c with a TCP RST.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// faultClient plays one misbehaving client against base.
func faultClient(base string, r *rand.Rand) {
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/?EIO=4&transport=websocket"
	var raw net.Conn
	dialer := ws.Dialer{Timeout: 2 * time.Second, NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		raw = c
		return c, err
	}}
	hc := &http.Client{Timeout: 2 * time.Second}
	switch r.IntN(5) {
	case 0: // websocket: reads a little, then resets
		c, _, _, err := dialer.Dial(context.Background(), wsURL)
		if err != nil {
			return
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		for n := r.IntN(20); n > 0; n-- {
			if _, err := wsutil.ReadServerText(c); err != nil {
				break
			}
		}
		reset(raw)
	case 1: // websocket that never reads: a slow consumer
		c, _, _, err := dialer.Dial(context.Background(), wsURL)
		if err != nil {
			return
		}
		time.Sleep(time.Duration(r.IntN(300)) * time.Millisecond)
		reset(c)
	case 2: // polling, then an upgrade reset at a random step
		res, err := hc.Get(base + "/?EIO=4&transport=polling")
		if err != nil {
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		i := bytes.Index(body, []byte(`"sid":"`))
		if i < 0 {
			return
		}
		sid := string(body[i+7 : i+7+bytes.IndexByte(body[i+7:], '"')])
		go func() { // a pending GET, as a real client has during the probe
			if res, err := hc.Get(base + "/?EIO=4&transport=polling&sid=" + sid); err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
		}()
		c, _, _, err := dialer.Dial(context.Background(), wsURL+"&sid="+sid)
		if err != nil {
			return
		}
		step := r.IntN(3)
		wsutil.WriteClientText(c, []byte("2probe"))
		if step > 0 {
			c.SetReadDeadline(time.Now().Add(time.Second))
			wsutil.ReadServerText(c)
		}
		if step > 1 {
			wsutil.WriteClientText(c, []byte("5")) // the flush races the reset
		}
		reset(raw)
	case 3: // polling client that posts, then vanishes mid-GET
		res, err := hc.Get(base + "/?EIO=4&transport=polling")
		if err != nil {
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		i := bytes.Index(body, []byte(`"sid":"`))
		if i < 0 {
			return
		}
		sid := string(body[i+7 : i+7+bytes.IndexByte(body[i+7:], '"')])
		u := base + "/?EIO=4&transport=polling&sid=" + sid
		if res, err := hc.Post(u, "text/plain", strings.NewReader("4hi\x1e4there")); err == nil {
			res.Body.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+r.IntN(200))*time.Millisecond)
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		if res, err := hc.Do(req); err == nil {
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
		cancel()
	default: // a well-behaved websocket client that answers pings, sends, and leaves
		c, _, _, err := dialer.Dial(context.Background(), wsURL)
		if err != nil {
			return
		}
		deadline := time.Now().Add(time.Duration(r.IntN(500)) * time.Millisecond)
		c.SetReadDeadline(deadline)
		for time.Now().Before(deadline) {
			b, err := wsutil.ReadServerText(c)
			if err != nil {
				break
			}
			if string(b) == "2" {
				wsutil.WriteClientText(c, []byte("3"))
			}
			wsutil.WriteClientText(c, []byte(fmt.Sprint("4m", r.IntN(100))))
		}
		c.Close()
	}
}
