package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/redis/go-redis/v9"

	"herald/socketio"
)

// checkFor polls fn every 10ms until it returns nil, failing the test with
// its last error after total.
func checkFor(t testing.TB, total time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// redisServer is a redis-server of the test's own on a free loopback
// port, which the test can stop and start again on the same port.
type redisServer struct {
	t    testing.TB
	addr string
	cmd  *exec.Cmd
}

// startRedis starts a redis-server that the test's cleanup kills. Without
// redis-server the test is skipped, except with CI=true.
func startRedis(t testing.TB) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server not found (CI=true: a missing service is a failure)")
		}
		t.Skip("redis-server not found")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	r := &redisServer{t: t, addr: addr}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	r.cmd = exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	r.cmd.SysProcAttr = dieWithParent()
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer rdb.Close()
	checkFor(r.t, 5*time.Second, func() error { return rdb.Ping(context.Background()).Err() })
}

func (r *redisServer) stop() {
	if r.cmd != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *redisServer) client(t testing.TB) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: r.addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// testNode is a Node with a socketio.Server of its own served over
// loopback. A client that connects with the query rooms=a,b joins those
// rooms, and with user=u counts in presence as user u; it gets the event
// "joined" once it is in its rooms.
type testNode struct {
	*Node
	srv *socketio.Server
	url string // ws://.../socket.io/
}

func newTestNode(t testing.TB, r *redisServer, prefix string, opts Options) *testNode {
	t.Helper()
	opts.Prefix = prefix
	if opts.UnsubscribeDelay == 0 {
		opts.UnsubscribeDelay = 200 * time.Millisecond
	}
	if opts.PresenceGrace == 0 {
		opts.PresenceGrace = 100 * time.Millisecond
	}
	n := New(r.client(t), opts)
	srv := socketio.NewServer(socketio.Options{NewAdapter: n.NewAdapter})
	nsp := srv.Of("/")
	nsp.OnConnection(func(s *socketio.Socket) {
		q := s.Query()
		if rooms := q.Get("rooms"); rooms != "" {
			s.Join(strings.Split(rooms, ",")...)
		}
		if u := q.Get("user"); u != "" {
			n.Presence().Add(u)
		}
		s.Emit("joined")
	})
	nsp.OnDisconnect(func(s *socketio.Socket, reason string) {
		if u := s.Query().Get("user"); u != "" {
			n.Presence().Remove(u)
		}
	})
	hs := httptest.NewServer(srv)
	tn := &testNode{Node: n, srv: srv, url: "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/"}
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		if !n.closed.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			n.Close(ctx)
			cancel()
		}
	})
	checkFor(t, 5*time.Second, func() error {
		if ok, reason := n.Health(); !ok {
			return fmt.Errorf("node not healthy: %s", reason)
		}
		return nil
	})
	return tn
}

// emit broadcasts event "msg" with a text argument from this node.
func (tn *testNode) emit(t testing.TB, text string, rooms []string, except ...string) {
	t.Helper()
	if err := tn.srv.Of("/").To(rooms...).Except(except...).Emit("msg", text); err != nil {
		t.Fatal(err)
	}
}

// wsClient is a minimal Socket.IO client over a raw Engine.IO websocket:
// it connects to "/" and collects the arguments of "msg" events.
type wsClient struct {
	conn   net.Conn
	wmu    sync.Mutex
	events chan string // first argument of each "msg" event
	joined chan struct{}
}

func dialClient(t testing.TB, url, query string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, br, _, err := ws.Dial(ctx, url+"?EIO=4&transport=websocket&"+query)
	if err != nil {
		t.Fatal(err)
	}
	if br != nil {
		conn = bufferedConn{conn, br}
	}
	c := &wsClient{conn: conn, events: make(chan string, 1000), joined: make(chan struct{})}
	t.Cleanup(c.close)
	open, err := wsutil.ReadServerText(conn)
	if err != nil || len(open) == 0 || open[0] != '0' {
		t.Fatalf("open packet %q, %v", open, err)
	}
	c.write("40")
	go c.read()
	select {
	case <-c.joined:
	case <-time.After(5 * time.Second):
		t.Fatal("no joined event")
	}
	return c
}

type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func (c *wsClient) write(s string) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	wsutil.WriteClientText(c.conn, []byte(s))
}

func (c *wsClient) read() {
	for {
		b, err := wsutil.ReadServerText(c.conn)
		if err != nil {
			return
		}
		switch {
		case bytes.Equal(b, []byte("2")):
			c.write("3")
		case bytes.HasPrefix(b, []byte(`42["joined"`)):
			close(c.joined)
		case bytes.HasPrefix(b, []byte(`42["msg","`)):
			arg := b[len(`42["msg","`):]
			c.events <- string(arg[:bytes.IndexByte(arg, '"')])
		}
	}
}

func (c *wsClient) close() { c.conn.Close() }

// next returns the next "msg" argument, failing after 5s.
func (c *wsClient) next(t testing.TB) string {
	t.Helper()
	select {
	case e := <-c.events:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
		return ""
	}
}

// expect checks that the next events are want, in order.
func (c *wsClient) expect(t testing.TB, want ...string) {
	t.Helper()
	for _, w := range want {
		if got := c.next(t); got != w {
			t.Fatalf("event %q, want %q", got, w)
		}
	}
}

// quiet checks that no event arrives for a short while: the check for a
// duplicate that would come after the expected events.
func (c *wsClient) quiet(t testing.TB) {
	t.Helper()
	select {
	case e := <-c.events:
		t.Fatalf("unexpected event %q", e)
	case <-time.After(200 * time.Millisecond):
	}
}

// numSub returns how many connections Redis has subscribed to channel.
func numSub(t testing.TB, rdb *redis.Client, channel string) int64 {
	t.Helper()
	m, err := rdb.PubSubNumSub(context.Background(), channel).Result()
	if err != nil {
		t.Fatal(err)
	}
	return m[channel]
}

// waitLive refreshes the leases of nodes until each counts n live nodes
// (a node counts the others at its lease refreshes).
func waitLive(t testing.TB, n int64, nodes ...*testNode) {
	t.Helper()
	checkFor(t, 5*time.Second, func() error {
		for _, x := range nodes {
			if got := x.liveNodes.Load(); got != n {
				select {
				case x.leaseNow <- struct{}{}:
				default:
				}
				return fmt.Errorf("a node counts %d live nodes, want %d", got, n)
			}
		}
		return nil
	})
}
