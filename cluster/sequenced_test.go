package cluster

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"herald/socketio"
)

// Options.Sequenced sees every packet with a seq and one target room, from
// this node and from others, with its seq; it decides what is delivered.
func TestSequencedTakesOverDelivery(t *testing.T) {
	r := startRedis(t)
	var mu sync.Mutex
	var seen []int64
	opts := Options{Sequenced: func(room string, e *socketio.Encoded, deliver func(*socketio.Encoded)) {
		mu.Lock()
		seen = append(seen, e.Seq())
		mu.Unlock()
		if e.Seq()%2 == 0 { // the application drops the even ones
			return
		}
		deliver(e)
	}}
	a := newTestNode(t, r, "h", opts)
	b := newTestNode(t, r, "h", Options{})
	u := dialClient(t, a.url, "rooms=user:1")
	send := func(n *testNode, text string, seq int64) {
		e, err := socketio.EncodeEvent("/", "msg", []any{text})
		if err != nil {
			t.Fatal(err)
		}
		if seq > 0 {
			e = e.WithSeq(seq)
		}
		n.srv.Of("/").To("user:1").Send(e)
	}
	send(b, "one", 1)
	send(b, "two", 2)
	send(b, "plain", 0) // no seq: not the hook's
	u.expect(t, "one", "plain")
	send(a, "three", 3) // from this node
	send(a, "four", 4)
	u.expect(t, "three")
	u.quiet(t)
	checkFor(t, 2*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) != 4 {
			return fmt.Errorf("hook saw seqs %v, want 1..4 in any order", seen)
		}
		return nil
	})
}
