package gateway

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"herald"
	"herald/internal/routines"
	"herald/socketio"
)

func TestWithTimestamp(t *testing.T) {
	ts := "2026-11-27T16:23:38.000Z"
	tests := []struct{ in, want string }{
		{``, `{"timestamp":"` + ts + `"}`},
		{`null`, `{"timestamp":"` + ts + `"}`},
		{`{}`, `{"timestamp":"` + ts + `"}`},
		{` { "a" : 1 } `, `{"a" : 1,"timestamp":"` + ts + `"}`},
		{`{"timestamp":"old","b":[1]}`, `{"timestamp":"old","b":[1],"timestamp":"` + ts + `"}`},
	}
	for _, tt := range tests {
		got, err := withTimestamp(json.RawMessage(tt.in), ts)
		if err != nil || string(got) != tt.want {
			t.Errorf("withTimestamp(%q) = %s, %v; want %s", tt.in, got, err, tt.want)
			continue
		}
		var v map[string]any
		if err := json.Unmarshal(got, &v); err != nil || v["timestamp"] != ts {
			t.Errorf("withTimestamp(%q) = %s: timestamp %v, err %v", tt.in, got, v["timestamp"], err)
		}
	}
	for _, bad := range []string{`[1]`, `"x"`, `3`, `{"a":}`, `{`} {
		if _, err := withTimestamp(json.RawMessage(bad), ts); herald.ErrorCode(err) != herald.EINVALID {
			t.Errorf("withTimestamp(%q) error = %v, want EINVALID", bad, err)
		}
	}
}

func TestTimestampIsJavaScriptISO(t *testing.T) {
	got := Timestamp(time.Date(2026, 1, 2, 3, 4, 5, 6_000_000, time.FixedZone("X", 3600)))
	if want := "2026-01-02T02:04:05.006Z"; got != want {
		t.Fatalf("Timestamp = %s, want %s", got, want)
	}
}

func TestHeldEvent(t *testing.T) {
	e, err := encodeNotificationNew(&herald.Notification{ID: "n", Seq: 42}, "ts")
	if err != nil {
		t.Fatal(err)
	}
	if name, seq := heldEvent(e); name != EventNotificationNew || seq != 42 {
		t.Fatalf("heldEvent = %q, %d; want %q, 42", name, seq, EventNotificationNew)
	}
	other, _ := encodeEvent(EventUnreadCount, unreadCount{herald.Counts{Unread: 3}, "ts"})
	if name, seq := heldEvent(other); name != EventUnreadCount || seq != 0 {
		t.Fatalf("heldEvent(unread_count) = %q, %d", name, seq)
	}
	if name, seq := heldEvent(socketio.NewEncoded([]byte("garbage"), nil)); name != "" || seq != 0 {
		t.Fatalf("heldEvent(garbage) = %q, %d", name, seq)
	}
}

func TestParseSince(t *testing.T) {
	tests := map[any]int64{nil: -1, float64(0): 0, float64(17): 17, "23": 23, float64(-1): -1, "x": -1, "-4": -1, true: -1}
	for in, want := range tests {
		if got := parseSince(in); got != want {
			t.Errorf("parseSince(%v) = %d, want %d", in, got, want)
		}
	}
}

func TestScopedRoomsDoNotCollide(t *testing.T) {
	// Tenant "a:1" with room "x" must differ from tenant "a" with room "1:x".
	if scopedRoom("a:1", "x") == scopedRoom("a", "1:x") {
		t.Fatal("rooms of different tenants collide")
	}
	if userRoom("t", "1") == userRoom("", "1") {
		t.Fatal("user rooms of different tenants collide")
	}
}

// checkFor calls fn every few milliseconds until it returns nil, and fails
// the test with fn's last error when total has passed.
func checkFor(t *testing.T, total time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// presenceLog records what a presence announces, to whom.
type presenceLog struct {
	mu     sync.Mutex
	events []string // "online:user>watcher" or "offline:user>watcher"
}

func (l *presenceLog) announce(k userKey, online bool, to []*conn) {
	kind := "offline"
	if online {
		kind = "online"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range to {
		l.events = append(l.events, kind+":"+k.user+">"+w.identity.UserID)
	}
}

func (l *presenceLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.events...)
}

func watcher(user string) *conn {
	return &conn{identity: herald.Identity{UserID: user}, expiryIndex: -1}
}

func TestPresenceGrace(t *testing.T) {
	log := &presenceLog{}
	w := newLocalWatchers()
	p := newPresence(100*time.Millisecond, w, log.announce)
	k := userKey{"t", "u"}
	w.watch(k, watcher("w"))
	p.add(k)
	p.add(k) // second tab
	p.remove(k)
	p.remove(k) // last tab closed...
	p.add(k)    // ...and reopened within the grace period
	if got := log.get(); len(got) != 1 || got[0] != "online:u>w" {
		t.Fatalf("events = %v, want [online:u>w]", got)
	}
	if n := p.socketsOf(k); n != 1 {
		t.Fatalf("sockets = %d, want 1", n)
	}
	gone := time.Now()
	p.remove(k)
	checkFor(t, 2*time.Second, func() error {
		if got := log.get(); len(got) != 2 || got[1] != "offline:u>w" {
			return fmt.Errorf("events = %v, want offline after the grace period", got)
		}
		return nil
	})
	if d := time.Since(gone); d < 100*time.Millisecond {
		t.Fatalf("offline after %v, before the grace period", d)
	}
	if got := log.get(); len(got) != 2 {
		t.Fatalf("events = %v: the reload within the grace announced something", got)
	}
	if users, sockets := p.counts(); users != 0 || sockets != 0 {
		t.Fatalf("counts = %d, %d after everyone left", users, sockets)
	}
}

// A connect costs O(watchers of that user): 10,000 users of one tenant
// connect and leave, nobody watches them, and not one presence event is
// announced; a watcher of one of them gets exactly that user's events.
func TestPresenceCostsOnlyWatchers(t *testing.T) {
	log := &presenceLog{}
	w := newLocalWatchers()
	p := newPresence(time.Millisecond, w, log.announce)
	watched := userKey{"big", "user-42"}
	w.watch(watched, watcher("w"))
	w.watch(userKey{"other", "user-7"}, watcher("x")) // same id, another tenant
	const n = 10000
	for i := 0; i < n; i++ {
		p.add(userKey{"big", fmt.Sprintf("user-%d", i)})
	}
	if users, sockets := p.counts(); users != n || sockets != n {
		t.Fatalf("counts = %d, %d; want %d, %d", users, sockets, n, n)
	}
	if got := log.get(); len(got) != 1 || got[0] != "online:user-42>w" {
		t.Fatalf("events = %v, want only [online:user-42>w]", got)
	}
	for i := 0; i < n; i++ {
		p.remove(userKey{"big", fmt.Sprintf("user-%d", i)})
	}
	checkFor(t, 5*time.Second, func() error {
		if users, _ := p.counts(); users != 0 {
			return fmt.Errorf("%d users online", users)
		}
		if got := log.get(); len(got) != 2 || got[1] != "offline:user-42>w" {
			return fmt.Errorf("events = %v, want online and offline of user-42 only", got)
		}
		return nil
	})
}

func TestWatchersFirstAndLast(t *testing.T) {
	w := newLocalWatchers()
	k := userKey{"t", "u"}
	a, b := watcher("a"), watcher("b")
	if !w.watch(k, a) || w.watch(k, b) || w.watch(k, a) {
		t.Fatal("only the first watch of a key is first")
	}
	if got := len(w.watchers(nil, k)); got != 2 {
		t.Fatalf("watchers = %d, want 2", got)
	}
	if w.unwatch(k, a) || w.unwatch(k, a) || !w.unwatch(k, b) {
		t.Fatal("only the last unwatch of a key is last")
	}
	if got := len(w.watchers(nil, k)); got != 0 {
		t.Fatalf("watchers = %d after the last unwatch", got)
	}
}

func TestCheckUserIDs(t *testing.T) {
	got, err := CheckUserIDs([]string{"a", "b", "a"})
	if err != nil || len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("CheckUserIDs = %v, %v; want [a b]", got, err)
	}
	for _, bad := range [][]string{nil, {}, {" "}, {"a", ""}, {string(make([]byte, herald.MaxIDBytes+1))}, {"\xff"}} {
		if _, err := CheckUserIDs(bad); herald.ErrorCode(err) != herald.EINVALID {
			t.Errorf("CheckUserIDs(%q) error = %v, want EINVALID", bad, err)
		}
	}
}

func TestExpiryOrderAndRemoval(t *testing.T) {
	var mu sync.Mutex
	var expired []*conn
	now := time.Now()
	e := newExpiry(new(routines.Group), time.Now, func(c *conn) { mu.Lock(); expired = append(expired, c); mu.Unlock() })
	defer e.close()
	a, b, c, last := &conn{expiryIndex: -1}, &conn{expiryIndex: -1}, &conn{expiryIndex: -1}, &conn{expiryIndex: -1}
	e.set(a, now.Add(60*time.Millisecond))
	e.set(b, now.Add(30*time.Millisecond))
	e.set(c, now.Add(40*time.Millisecond))
	e.set(last, now.Add(80*time.Millisecond)) // after all the others
	e.remove(c)                               // disconnected before expiry
	e.set(a, now.Add(time.Hour))              // refreshed
	// Expiries run in time order: once last expired, c's and a's old
	// times have passed too.
	checkFor(t, 5*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(expired) == 0 || expired[len(expired)-1] != last {
			return fmt.Errorf("%d expired, the last one not yet", len(expired))
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if len(expired) != 2 || expired[0] != b {
		t.Fatalf("expired %d conns (want b, then last)", len(expired))
	}
}

// BenchmarkPresenceConnect is the presence work of a connect and a
// disconnect of a user nobody watches, in a tenant of b.N users.
func BenchmarkPresenceConnect(b *testing.B) {
	p := newPresence(time.Hour, newLocalWatchers(), (&presenceLog{}).announce)
	keys := make([]userKey, b.N)
	for i := range keys {
		keys[i] = userKey{"big", fmt.Sprint("user-", i)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		p.add(keys[i])
		p.remove(keys[i])
	}
}
