package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/socketio"
)

// Three nodes; the clients are on A. B emits; C holds none of the rooms.
func TestBroadcastAcrossNodes(t *testing.T) {
	r := startRedis(t)
	a := newTestNode(t, r, "h", Options{})
	b := newTestNode(t, r, "h", Options{})
	c := newTestNode(t, r, "h", Options{})
	waitLive(t, 3, a, b, c)

	u1 := dialClient(t, a.url, "rooms=user:1")
	both := dialClient(t, a.url, "rooms=user:2,team")
	muted := dialClient(t, a.url, "rooms=team,muted")

	t.Run("user room", func(t *testing.T) {
		b.emit(t, "one", []string{"user:1"})
		u1.expect(t, "one")
	})
	t.Run("socket in two target rooms gets one copy", func(t *testing.T) {
		b.emit(t, "two", []string{"user:2", "team"})
		b.emit(t, "sentinel", []string{"user:2"})
		both.expect(t, "two", "sentinel")
		both.quiet(t)
		muted.expect(t, "two")
	})
	t.Run("except across nodes", func(t *testing.T) {
		b.emit(t, "not-muted", []string{"team"}, "muted")
		b.emit(t, "sentinel", []string{"muted"})
		both.expect(t, "not-muted")
		muted.expect(t, "sentinel")
		muted.quiet(t)
	})
	t.Run("node without the rooms receives only the emit to as many rooms as other nodes", func(t *testing.T) {
		// user:2 and team: two rooms, two other nodes, so one message
		// on the all channel rather than one per room.
		checkFor(t, 5*time.Second, func() error {
			if got := c.Stats(); got.Received != 1 || got.Echoes != 0 {
				return fmt.Errorf("node C received %d messages and %d echoes, want 1 and none", got.Received, got.Echoes)
			}
			return nil
		})
	})
	t.Run("every socket", func(t *testing.T) {
		b.emit(t, "all", nil, "user:2")
		u1.expect(t, "all")
		muted.expect(t, "all")
		both.quiet(t)
	})
	t.Run("counts", func(t *testing.T) {
		// C got the two-room emit and the every-socket broadcast, on the
		// channel all nodes share.
		if got := c.Stats().Received; got != 2 {
			t.Errorf("node C received %d messages, want 2 (the two-room emit and the broadcast to all)", got)
		}
		// One per target room below the number of other nodes: user:1;
		// user:2 and team (one, in all); user:2; team; muted; all.
		if got := a.Stats().Received; got != 6 {
			t.Errorf("node A received %d messages, want 6", got)
		}
		if got, want := b.Stats().Published, uint64(6); got != want {
			t.Errorf("node B published %d messages, want %d", got, want)
		}
	})
	t.Run("the origin ignores its own message", func(t *testing.T) {
		before := b.Stats().Published
		dialClient(t, b.url, "rooms=user:1")
		if err := b.srv.Of("/").To("user:1").Emit("msg", "x"); err != nil {
			t.Fatal(err)
		}
		checkFor(t, 5*time.Second, func() error {
			if b.Stats().Published == before {
				return fmt.Errorf("not published yet")
			}
			return nil
		})
		u1.expect(t, "x")
		checkFor(t, 5*time.Second, func() error {
			if b.Stats().Echoes == 0 {
				return fmt.Errorf("no echo counted")
			}
			return nil
		})
	})
}

// Four nodes, clients on A, B emits to two rooms: fewer rooms than other
// nodes, so one message per room, each to the node that holds it; C and D
// receive nothing, and a socket in both rooms gets one copy.
func TestBroadcastToFewRoomsGoesToTheirNodesOnly(t *testing.T) {
	r := startRedis(t)
	a := newTestNode(t, r, "h", Options{})
	b := newTestNode(t, r, "h", Options{})
	c := newTestNode(t, r, "h", Options{})
	d := newTestNode(t, r, "h", Options{})
	waitLive(t, 4, a, b, c, d)
	both := dialClient(t, a.url, "rooms=user:7,team")
	one := dialClient(t, a.url, "rooms=team")
	b.emit(t, "few", []string{"user:7", "team"})
	both.expect(t, "few")
	one.expect(t, "few")
	both.quiet(t)
	if got := a.Stats().Received; got != 2 {
		t.Errorf("node A received %d messages, want 2 (one per room)", got)
	}
	for name, n := range map[string]*testNode{"C": c, "D": d} {
		if got := n.Stats(); got.Received != 0 || got.Echoes != 0 {
			t.Errorf("node %s received %d messages and %d echoes, want none", name, got.Received, got.Echoes)
		}
	}
	// Three rooms, three other nodes: one message in all, one per node.
	other := dialClient(t, a.url, "rooms=user:8")
	b.emit(t, "many", []string{"user:7", "team", "user:8"})
	both.expect(t, "many")
	one.expect(t, "many")
	other.expect(t, "many")
	both.quiet(t)
	for name, n := range map[string]*testNode{"A": a, "C": c, "D": d} {
		want := uint64(1)
		if name == "A" {
			want = 3
		}
		checkFor(t, 5*time.Second, func() error {
			if got := n.Stats().Received; got != want {
				return fmt.Errorf("node %s received %d messages, want %d", name, got, want)
			}
			return nil
		})
	}
}

// A join returns once Redis confirmed the subscription: the very first
// broadcast after it arrives, and Redis lists the subscriber.
func TestSubscribeConfirmedBeforeAddReturns(t *testing.T) {
	r := startRedis(t)
	a := newTestNode(t, r, "h", Options{})
	b := newTestNode(t, r, "h", Options{})
	rdb := r.client(t)
	for i := range 20 {
		room := fmt.Sprintf("user:%d", i)
		cl := dialClient(t, a.url, "rooms="+room)
		if n := numSub(t, rdb, "h:/:r:"+room); n != 1 {
			t.Fatalf("%s: %d subscribers right after the join, want 1", room, n)
		}
		b.emit(t, room, []string{room})
		cl.expect(t, room)
	}
}

// The last socket of a room leaving unsubscribes only after the delay; a
// socket joining again meanwhile keeps the same subscription.
func TestDelayedUnsubscribe(t *testing.T) {
	r := startRedis(t)
	a := newTestNode(t, r, "h", Options{UnsubscribeDelay: 500 * time.Millisecond})
	rdb := r.client(t)
	const channel = "h:/:r:user:1"

	cl := dialClient(t, a.url, "rooms=user:1")
	sh := a.shard(channel)
	sh.mu.Lock()
	first := sh.subs[channel]
	sh.mu.Unlock()
	cl.close()
	checkFor(t, 2*time.Second, func() error {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if first.refs != 0 {
			return fmt.Errorf("%d refs", first.refs)
		}
		return nil
	})
	dialClient(t, a.url, "rooms=user:1") // a page reload
	sh.mu.Lock()
	again := sh.subs[channel]
	sh.mu.Unlock()
	if again != first {
		t.Fatal("the re-join made a new subscription")
	}
	time.Sleep(600 * time.Millisecond) // past the delay: nothing may change
	if n := numSub(t, rdb, channel); n != 1 {
		t.Fatalf("%d subscribers after the re-join, want 1", n)
	}

	// Without a re-join the channel is unsubscribed after the delay.
	cl2 := dialClient(t, a.url, "rooms=room:2")
	if n := numSub(t, rdb, "h:/:r:room:2"); n != 1 {
		t.Fatalf("%d subscribers, want 1", n)
	}
	cl2.close()
	checkFor(t, 3*time.Second, func() error {
		if n := numSub(t, rdb, "h:/:r:room:2"); n != 0 {
			return fmt.Errorf("%d subscribers after the delay", n)
		}
		return nil
	})
}

// Redis restarted: nodes stay up, report degraded, then resubscribe,
// rewrite presence and leases, call OnResync, and deliver again by
// themselves.
func TestRedisRestart(t *testing.T) {
	r := startRedis(t)
	var resyncs [2]atomic.Int32
	a := newTestNode(t, r, "h", Options{OnResync: func() { resyncs[0].Add(1) }})
	b := newTestNode(t, r, "h", Options{OnResync: func() { resyncs[1].Add(1) }})
	cl := dialClient(t, a.url, "rooms=user:1&user=u1")
	b.emit(t, "before", []string{"user:1"})
	cl.expect(t, "before")

	r.stop()
	for _, n := range []*testNode{a, b} {
		checkFor(t, 5*time.Second, func() error {
			if ok, _ := n.Health(); ok {
				return fmt.Errorf("healthy while Redis is down")
			}
			if d := n.shardsDown.Load(); d != int32(len(n.shards)) {
				return fmt.Errorf("%d shards down", d)
			}
			return nil
		})
	}
	if _, reason := a.Health(); !strings.Contains(reason, "redis") {
		t.Errorf("reason %q does not name redis", reason)
	}
	start := time.Now()
	local := dialClient(t, b.url, "rooms=user:1") // a new subscription
	if d := time.Since(start); d > time.Second {
		t.Errorf("a join took %v while Redis was down, want no wait", d)
	}
	b.emit(t, "during", []string{"user:1"}) // local delivery goes on
	local.expect(t, "during")
	checkFor(t, 5*time.Second, func() error {
		if b.Stats().PublishErrors == 0 {
			return fmt.Errorf("no publish error counted")
		}
		return nil
	})

	r.start()
	checkFor(t, 10*time.Second, func() error {
		for i, n := range []*testNode{a, b} {
			if ok, reason := n.Health(); !ok {
				return fmt.Errorf("node %d: %s", i, reason)
			}
			if resyncs[i].Load() != 1 {
				return fmt.Errorf("node %d: %d resyncs", i, resyncs[i].Load())
			}
		}
		return nil
	})
	b.emit(t, "after", []string{"user:1"})
	cl.expect(t, "after") // "during" was lost to A: OnResync is for that
	local.expect(t, "after")
	ctx := context.Background()
	checkFor(t, 5*time.Second, func() error {
		tot, err := b.Totals(ctx)
		if err != nil || tot != (Totals{Nodes: 2, Users: 1, Sockets: 1}) {
			return fmt.Errorf("Totals = %+v, %v; want 2 nodes, 1 user, 1 socket", tot, err)
		}
		return nil
	})
}

// BenchmarkPublishDeliver: one broadcast from node B to a user room whose
// socket is on node A, until A's client has it (a round trip through
// Redis and a websocket, one at a time). Allocations are those of both
// nodes and the client.
func BenchmarkPublishDeliver(b *testing.B) {
	r := startRedis(b)
	a := newTestNode(b, r, "h", Options{})
	from := newTestNode(b, r, "h", Options{})
	cl := dialClient(b, a.url, "rooms=user:1")
	nsp := from.srv.Of("/")
	b.ReportAllocs()
	for b.Loop() {
		if err := nsp.To("user:1").Emit("msg", "x"); err != nil {
			b.Fatal(err)
		}
		cl.next(b)
	}
}

// BenchmarkPublishThroughput: broadcasts from node B to 100 user rooms in
// turn, each with one socket on node A, without waiting; ns/op is per
// delivered event, all of them received before the timer stops.
func BenchmarkPublishThroughput(b *testing.B) {
	r := startRedis(b)
	a := newTestNode(b, r, "h", Options{})
	from := newTestNode(b, r, "h", Options{})
	const users = 100
	var got atomic.Int64
	rooms := make([]string, users)
	for i := range rooms {
		rooms[i] = fmt.Sprintf("user:%d", i)
		cl := dialClient(b, a.url, "rooms="+rooms[i])
		go func() {
			for range cl.events {
				got.Add(1)
			}
		}()
	}
	nsp := from.srv.Of("/")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := nsp.To(rooms[i%users]).Emit("msg", "x"); err != nil {
			b.Fatal(err)
		}
	}
	checkFor(b, 30*time.Second, func() error {
		if n := got.Load(); n != int64(b.N) {
			return fmt.Errorf("%d of %d delivered", n, b.N)
		}
		return nil
	})
	b.StopTimer()
	if s := from.Stats(); s.PublishErrors != 0 {
		b.Fatalf("%d publish errors", s.PublishErrors)
	}
}

// Subscriptions asked for together go to Redis in a few SUBSCRIBE
// commands, not one per channel.
func TestSubscribesAreBatched(t *testing.T) {
	r := startRedis(t)
	a := newTestNode(t, r, "h", Options{Shards: 2})
	rdb := r.client(t)
	calls := func() int {
		info, err := rdb.Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		_, rest, ok := strings.Cut(info, "cmdstat_subscribe:calls=")
		if !ok {
			return 0
		}
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		return n
	}
	before := calls()
	const channels = 2000
	ready := make([]<-chan struct{}, 0, channels)
	for i := range channels {
		ready = append(ready, a.acquire(fmt.Sprintf("h:/:r:batch:%d", i), func(string) {}))
	}
	a.wait(ready...)
	for i, c := range ready {
		if c == nil {
			continue
		}
		select {
		case <-c:
		default:
			t.Fatalf("channel %d not confirmed", i)
		}
	}
	// One per channel without batching; how many fewer depends on how
	// fast the writer wakes meanwhile (a few under no load).
	if n := calls() - before; n > channels/4 {
		t.Errorf("%d SUBSCRIBE commands for %d channels", n, channels)
	} else {
		t.Logf("%d SUBSCRIBE commands for %d channels", n, channels)
	}
}

// freezer forwards TCP connections to a backend until freeze, which stalls
// the connections open at that moment without closing them (a peer that
// vanished); later connections are forwarded again.
type freezer struct {
	l       net.Listener
	backend string
	mu      sync.Mutex
	conns   []net.Conn // forwarding
	frozen  []net.Conn
}

func newFreezer(t *testing.T, backend string) *freezer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{l: l, backend: backend}
	t.Cleanup(func() {
		l.Close()
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, c := range append(f.conns, f.frozen...) {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, b)
			f.mu.Unlock()
			go io.Copy(b, c)
			go io.Copy(c, b)
		}
	}()
	return f
}

// freeze stalls the open connections: the copies stop, the sockets stay.
func (f *freezer) freeze() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.SetReadDeadline(time.Unix(1, 0)) // the copy goroutines stop reading
	}
	f.frozen = append(f.frozen, f.conns...) // open until cleanup
	f.conns = nil
}

// A Pub/Sub connection whose peer went silent without closing is found by
// its unanswered ping, replaced, and delivery resumes with a resync.
func TestSilentConnectionIsReplaced(t *testing.T) {
	r := startRedis(t)
	f := newFreezer(t, r.addr)
	var resyncs atomic.Int32
	rdb := redis.NewClient(&redis.Options{Addr: f.l.Addr().String(), ReadTimeout: 500 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	a := New(rdb, Options{Prefix: "h", pingEvery: 200 * time.Millisecond, OnResync: func() { resyncs.Add(1) }})
	t.Cleanup(a.stop)
	srv := socketio.NewServer(socketio.Options{NewAdapter: a.NewAdapter})
	srv.Of("/").OnConnection(func(s *socketio.Socket) { s.Join("user:1"); s.Emit("joined") })
	hs := httptest.NewServer(srv)
	t.Cleanup(func() { hs.Close(); srv.Close() })
	checkFor(t, 5*time.Second, func() error {
		if ok, reason := a.Health(); !ok {
			return errors.New(reason)
		}
		return nil
	})
	b := newTestNode(t, r, "h", Options{})
	cl := dialClient(t, "ws"+strings.TrimPrefix(hs.URL, "http")+"/socket.io/", "")
	b.emit(t, "before", []string{"user:1"})
	cl.expect(t, "before")

	f.freeze()
	checkFor(t, 10*time.Second, func() error {
		if resyncs.Load() == 0 {
			return errors.New("no resync")
		}
		if ok, reason := a.Health(); !ok {
			return errors.New(reason)
		}
		return nil
	})
	// Shards notice one by one; emit until the room's shard is back.
	checkFor(t, 10*time.Second, func() error {
		b.emit(t, "after", []string{"user:1"})
		select {
		case e := <-cl.events:
			if e != "after" {
				t.Fatalf("event %q, want after", e)
			}
			return nil
		case <-time.After(200 * time.Millisecond):
			return errors.New("nothing delivered")
		}
	})
}
