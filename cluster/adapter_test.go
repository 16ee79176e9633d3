package cluster

import (
	"fmt"
	"testing"
	"time"
)

// Three nodes; the clients are on A. B emits; C holds none of the rooms.
func TestBroadcastAcrossNodes(t *testing.T) {
	r := startRedis(t)
	a := newTestNode(t, r, "h", Options{})
	b := newTestNode(t, r, "h", Options{})
	c := newTestNode(t, r, "h", Options{})

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
	t.Run("every socket", func(t *testing.T) {
		b.emit(t, "all", nil, "user:2")
		u1.expect(t, "all")
		muted.expect(t, "all")
		both.quiet(t)
	})
	t.Run("node without the rooms receives nothing", func(t *testing.T) {
		// C got only the every-socket broadcast, on the channel all
		// nodes share.
		if got := c.Stats().Received; got != 1 {
			t.Errorf("node C received %d messages, want 1 (the broadcast to all)", got)
		}
		// One per target room: user:1; user:2 and team; user:2; team;
		// muted; all.
		if got := a.Stats().Received; got != 7 {
			t.Errorf("node A received %d messages, want 7", got)
		}
		if got, want := b.Stats().Published, uint64(7); got != want {
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
