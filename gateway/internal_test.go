package gateway

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"herald"
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

func TestNotificationSeq(t *testing.T) {
	e, err := encodeEvent(EventNotificationNew, notificationNew{herald.Notification{ID: "n", Seq: 42}, "ts"})
	if err != nil {
		t.Fatal(err)
	}
	if got := notificationSeq(e); got != 42 {
		t.Fatalf("notificationSeq = %d, want 42", got)
	}
	other, _ := encodeEvent(EventUnreadCount, unreadCount{herald.Counts{Unread: 3}, "ts"})
	if got := notificationSeq(other); got != 0 {
		t.Fatalf("notificationSeq(unread_count) = %d, want 0", got)
	}
	if got := notificationSeq(socketio.NewEncoded([]byte("garbage"), nil)); got != 0 {
		t.Fatalf("notificationSeq(garbage) = %d, want 0", got)
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

func TestPresenceGrace(t *testing.T) {
	var mu sync.Mutex
	var events []string
	record := func(kind string) func(userKey) {
		return func(k userKey) { mu.Lock(); events = append(events, kind+":"+k.user); mu.Unlock() }
	}
	p := newPresence(200*time.Millisecond, record("online"), record("offline"))
	k := userKey{"t", "u"}
	p.add(k)
	p.add(k) // second tab
	p.remove(k)
	p.remove(k) // last tab closed...
	p.add(k)    // ...and reopened within the grace period
	time.Sleep(400 * time.Millisecond)
	mu.Lock()
	if len(events) != 1 || events[0] != "online:u" {
		t.Fatalf("events = %v, want [online:u] (no flap)", events)
	}
	mu.Unlock()
	if n := p.sockets(k); n != 1 {
		t.Fatalf("sockets = %d, want 1", n)
	}
	p.remove(k)
	time.Sleep(400 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[1] != "offline:u" {
		t.Fatalf("events = %v, want offline after the grace period", events)
	}
	if users, sockets := p.counts(); users != 0 || sockets != 0 {
		t.Fatalf("counts = %d, %d after everyone left", users, sockets)
	}
}

func TestExpiryOrderAndRemoval(t *testing.T) {
	var mu sync.Mutex
	var expired []*conn
	now := time.Now()
	e := newExpiry(time.Now, func(c *conn) { mu.Lock(); expired = append(expired, c); mu.Unlock() })
	defer e.close()
	a, b, c := &conn{expiryIndex: -1}, &conn{expiryIndex: -1}, &conn{expiryIndex: -1}
	e.set(a, now.Add(60*time.Millisecond))
	e.set(b, now.Add(30*time.Millisecond))
	e.set(c, now.Add(40*time.Millisecond))
	e.remove(c)                  // disconnected before expiry
	e.set(a, now.Add(time.Hour)) // refreshed
	time.Sleep(150 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(expired) != 1 || expired[0] != b {
		t.Fatalf("expired %d conns (want only b)", len(expired))
	}
}
