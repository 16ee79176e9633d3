package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// transitions records what OnTransition reports.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func watch(t testing.TB, n *testNode, users ...string) *transitions {
	tr := &transitions{}
	n.Presence().OnTransition(func(user string, online bool) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		state := "offline"
		if online {
			state = "online"
		}
		tr.got = append(tr.got, user+" "+state)
	})
	for _, u := range users {
		n.Presence().Watch(u)
	}
	return tr
}

// waitFor waits until exactly want was reported, in the order given for
// each user (transitions of different users come on different channels,
// in no set order).
func (tr *transitions) waitFor(t testing.TB, want ...string) {
	t.Helper()
	checkFor(t, 5*time.Second, func() error {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		if fmt.Sprint(byUser(tr.got)) != fmt.Sprint(byUser(want)) {
			return fmt.Errorf("transitions %q, want %q", tr.got, want)
		}
		return nil
	})
}

// byUser groups "user state" entries by user, in order.
func byUser(list []string) map[string][]string {
	m := make(map[string][]string)
	for _, e := range list {
		user, state, _ := strings.Cut(e, " ")
		m[user] = append(m[user], state)
	}
	return m
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.got)
}

// A user with sockets on two nodes goes online once and offline once, for
// a watcher on a third node.
func TestPresenceOncePerClusterTransition(t *testing.T) {
	r := startRedis(t)
	a := newTestNode(t, r, "h", Options{})
	b := newTestNode(t, r, "h", Options{})
	c := newTestNode(t, r, "h", Options{})
	tr := watch(t, c, "u1")
	ctx := context.Background()

	onA := dialClient(t, a.url, "user=u1")
	tr.waitFor(t, "u1 online")
	onB := dialClient(t, b.url, "user=u1")
	onB2 := dialClient(t, b.url, "user=u1")
	checkFor(t, 5*time.Second, func() error {
		online, sockets, err := c.Presence().Online(ctx, "u1")
		if err != nil || !online || sockets != 3 {
			return fmt.Errorf("online %v, sockets %d, %v; want true, 3", online, sockets, err)
		}
		return nil
	})
	onA.close()
	onB.close()
	// One socket is left on B, so u1 stays online past A's grace period.
	checkFor(t, 5*time.Second, func() error {
		_, sockets, err := c.Presence().Online(ctx, "u1")
		if err != nil || sockets != 1 {
			return fmt.Errorf("sockets %d, %v; want 1", sockets, err)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond) // > PresenceGrace
	tr.waitFor(t, "u1 online")
	if got, err := c.Presence().Query(ctx, []string{"u1", "u2"}); err != nil || !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("Query = %v, %v; want [true false]", got, err)
	}
	onB2.close()
	tr.waitFor(t, "u1 online", "u1 offline")
	if got, err := a.Presence().Query(ctx, []string{"u1"}); err != nil || got[0] {
		t.Fatalf("Query = %v, %v; want [false]", got, err)
	}
	tot, err := a.Totals(ctx)
	if err != nil || tot != (Totals{Nodes: 3}) {
		t.Fatalf("Totals = %+v, %v; want 3 nodes, no users", tot, err)
	}
}

// A page reload within the grace period is no transition.
func TestPresenceGraceAbsorbsReload(t *testing.T) {
	r := startRedis(t)
	a := newTestNode(t, r, "h", Options{PresenceGrace: 500 * time.Millisecond})
	b := newTestNode(t, r, "h", Options{})
	tr := watch(t, b, "u1")
	dialClient(t, a.url, "user=u1").close()
	tr.waitFor(t, "u1 online")
	dialClient(t, a.url, "user=u1")
	time.Sleep(700 * time.Millisecond) // past the first grace period
	tr.waitFor(t, "u1 online")
}

// A node that stops refreshing its lease (a crash) is reaped by another:
// its users go offline within the bound and its counts disappear.
func TestDeadNodeIsReaped(t *testing.T) {
	r := startRedis(t)
	const ttl = 1500 * time.Millisecond
	a := newTestNode(t, r, "h", Options{LeaseTTL: ttl})
	b := newTestNode(t, r, "h", Options{LeaseTTL: ttl})
	tr := watch(t, b, "u1", "u2")
	ctx := context.Background()

	dialClient(t, a.url, "user=u1")
	dialClient(t, a.url, "user=u2")
	dialClient(t, b.url, "user=u2")
	tr.waitFor(t, "u1 online", "u2 online")
	checkFor(t, 5*time.Second, func() error {
		nodes, err := b.Nodes(ctx)
		if err != nil || len(nodes) != 2 {
			return fmt.Errorf("nodes %+v, %v", nodes, err)
		}
		return nil
	})

	a.stop() // no cleanup: to the cluster, a crash
	killed := time.Now()
	tr.waitFor(t, "u1 online", "u2 online", "u1 offline")
	// The bound: the lease lapses after ttl, a live node notices within
	// ttl/3. Scaled to the default 10s lease that is 13.3s, under 20s.
	if bound := ttl + ttl/3 + 1500*time.Millisecond; time.Since(killed) > bound {
		t.Errorf("offline after %v, want at most %v", time.Since(killed), bound)
	}
	nodes, err := b.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].ID != b.ID() {
		t.Fatalf("nodes %+v, %v; want only B", nodes, err)
	}
	tot, err := b.Totals(ctx)
	if err != nil || tot != (Totals{Nodes: 1, Users: 1, Sockets: 1}) {
		t.Fatalf("Totals = %+v, %v; want 1 node, 1 user, 1 socket", tot, err)
	}
	if online, sockets, err := b.Presence().Online(ctx, "u2"); err != nil || !online || sockets != 1 {
		t.Fatalf("u2: online %v, sockets %d, %v; want true, 1", online, sockets, err)
	}
	time.Sleep(ttl / 2) // no second offline for u1, none for u2
	if got := tr.list(); len(got) != 3 {
		t.Fatalf("transitions %q", got)
	}
}

// Leases list every live node with its address and counts.
func TestLeases(t *testing.T) {
	r := startRedis(t)
	const ttl = 600 * time.Millisecond
	a := newTestNode(t, r, "h", Options{LeaseTTL: ttl, Addr: "10.0.0.1:3000"})
	b := newTestNode(t, r, "h", Options{LeaseTTL: ttl, Addr: "10.0.0.2:3000"})
	ctx := context.Background()
	tr := watch(t, b, "u1", "u2")
	dialClient(t, a.url, "user=u1")
	dialClient(t, a.url, "user=u1")
	dialClient(t, a.url, "user=u2")
	dialClient(t, b.url, "user=u1")
	checkFor(t, 5*time.Second, func() error {
		nodes, err := b.Nodes(ctx)
		if err != nil {
			return err
		}
		got := map[string]NodeInfo{}
		for _, n := range nodes {
			n.Started = time.Time{}
			got[n.ID] = n
		}
		want := map[string]NodeInfo{
			a.ID(): {ID: a.ID(), Addr: "10.0.0.1:3000", Sockets: 3, Users: 2},
			b.ID(): {ID: b.ID(), Addr: "10.0.0.2:3000", Sockets: 1, Users: 1},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("nodes %+v, want %+v", got, want)
		}
		return nil
	})
	tot, err := a.Totals(ctx)
	if err != nil || tot != (Totals{Nodes: 2, Users: 2, Sockets: 4}) {
		t.Fatalf("Totals = %+v, %v; want 2 nodes, 2 users, 4 sockets", tot, err)
	}
	// A graceful Close takes the node and its users out at once, with no
	// grace period: u2 (only on A) goes offline, u1 (also on B) does not.
	tr.waitFor(t, "u1 online", "u2 online")
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	tr.waitFor(t, "u1 online", "u2 online", "u2 offline")
	tot, err = b.Totals(ctx)
	if err != nil || tot != (Totals{Nodes: 1, Users: 1, Sockets: 1}) {
		t.Fatalf("Totals after A closed = %+v, %v; want 1 node, 1 user, 1 socket", tot, err)
	}
}

// Redis restarted while one user left and another stayed: the watcher
// learns that the first went offline, and the second, still online, is not
// announced again.
func TestPresenceAcrossRedisRestart(t *testing.T) {
	r := startRedis(t)
	opts := Options{LeaseTTL: 900 * time.Millisecond}
	a := newTestNode(t, r, "h", opts)
	b := newTestNode(t, r, "h", opts)
	tr := watch(t, b, "stays", "leaves")
	dialClient(t, a.url, "user=stays")
	leaves := dialClient(t, a.url, "user=leaves")
	tr.waitFor(t, "stays online", "leaves online")

	r.stop()
	checkFor(t, 5*time.Second, func() error {
		if ok, _ := a.Health(); ok {
			return fmt.Errorf("healthy while Redis is down")
		}
		return nil
	})
	leaves.close()
	checkFor(t, 5*time.Second, func() error { // its grace period ran out
		if _, sockets := a.Presence().counts(); sockets != 1 {
			return fmt.Errorf("%d sockets", sockets)
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	r.start()
	tr.waitFor(t, "stays online", "leaves online", "leaves offline")
	ctx := context.Background()
	checkFor(t, 5*time.Second, func() error {
		got, err := b.Presence().Query(ctx, []string{"stays", "leaves"})
		if err != nil || !slices.Equal(got, []bool{true, false}) {
			return fmt.Errorf("Query = %v, %v; want [true false]", got, err)
		}
		return nil
	})
	time.Sleep(opts.LeaseTTL) // past the recheck: nothing more
	if got := tr.list(); len(got) != 3 {
		t.Fatalf("transitions %q", got)
	}
}
