package socketio

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// testRecovery returns a recovery with a clock the test moves and the
// namespace "/" of no server.
func testRecovery(t *testing.T, opts RecoveryOptions) (*recovery, *Namespace, *time.Time) {
	t.Helper()
	if opts.Window == 0 {
		opts.Window = time.Minute
	}
	r := newRecovery(opts)
	t.Cleanup(r.close)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	return r, &Namespace{name: "/", sockets: map[string]*Socket{}}, &now
}

func event(t *testing.T, name string, args ...any) *Encoded {
	t.Helper()
	e, err := EncodeEvent("/", name, args)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func always(string) bool { return true }

func TestWithOffset(t *testing.T) {
	e := event(t, "hello", map[string]int{"a": 1})
	got := withOffset(e, "tag.1")
	if string(got.Text()) != `2["hello",{"a":1},"tag.1"]` {
		t.Fatalf("text %s", got.Text())
	}
	if string(e.Text()) != `2["hello",{"a":1}]` {
		t.Fatalf("the original changed: %s", e.Text())
	}
	if got.Event() != "hello" || got.Size() <= e.Size() {
		t.Fatalf("event %q size %d (was %d)", got.Event(), got.Size(), e.Size())
	}
	bin := withOffset(event(t, "b", []byte{1, 2}), "x.2")
	if string(bin.Text()) != `51-["b",{"_placeholder":true,"num":0},"x.2"]` || len(bin.Attachments()) != 1 {
		t.Fatalf("binary %s %d", bin.Text(), len(bin.Attachments()))
	}
	both := withOffset(Concat(event(t, "a"), event(t, "b")), "x.3")
	if len(both.messages) != 2 || !strings.HasSuffix(string(both.messages[1].Packet()), `"b","x.3"]`) {
		t.Fatalf("second packet of a unit: %s", both.messages[1].Packet())
	}
	ack, _ := encode(Packet{Type: PacketEvent, Namespace: "/", HasID: true, ID: 3}, "q", nil)
	if withOffset(ack, "x.4") != nil {
		t.Fatal("an event with an ack id got an offset")
	}
	nsAck, _ := encode(Packet{Type: PacketEvent, Namespace: "/admin", HasID: true, ID: 12}, "q", nil)
	if withOffset(nsAck, "x.6") != nil {
		t.Fatal("an event of a namespace with an ack id got an offset")
	}
	ns, _ := encode(Packet{Type: PacketEvent, Namespace: "/admin"}, "n", []any{7})
	if got := withOffset(ns, "x.7"); got == nil || string(got.Text()) != `2/admin,["n",7,"x.7"]` {
		t.Fatalf("an event of a namespace: %v", got)
	}
	if withOffset(NewEncoded([]byte(`0{"sid":"x"}`), nil), "x.5") != nil {
		t.Fatal("a CONNECT got an offset")
	}
}

// record keeps frames for rooms with receivers or parked sessions only,
// in the order given, and every budget holds.
func TestRecoveryBudgets(t *testing.T) {
	r, n, now := testRecovery(t, RecoveryOptions{MaxBytes: 4000, MaxRoomBytes: 1500})
	room := func(name string) func(string) bool { return func(x string) bool { return x == name } }
	if e := r.record(n, event(t, "x"), BroadcastOptions{Rooms: []string{"nobody"}}, func(string) bool { return false }); e.off == 0 {
		t.Fatal("no offset on a frame nobody keeps")
	}
	if len(r.rings) != 0 || r.bytes != 0 {
		t.Fatalf("kept a frame for a room without receivers: %d rings, %d bytes", len(r.rings), r.bytes)
	}
	payload := strings.Repeat("p", 100)
	for i := 0; i < 50; i++ {
		r.record(n, event(t, "x", payload), BroadcastOptions{Rooms: []string{"a"}}, room("a"))
		r.record(n, event(t, "x", payload), BroadcastOptions{Rooms: []string{"b", "c"}}, always)
		if r.bytes > 4000 {
			t.Fatalf("global budget passed: %d", r.bytes)
		}
		for name, g := range r.rings {
			if g.bytes > 1500 {
				t.Fatalf("room %q passed its cap: %d", name, g.bytes)
			}
		}
	}
	a := r.rings[ringName(n, "a")]
	if a == nil || a.frames.len() == 0 || a.lost == 0 {
		t.Fatalf("room a: %+v", a)
	}
	for i := 1; i < a.frames.len(); i++ {
		if a.frames.at(i).off <= a.frames.at(i-1).off {
			t.Fatal("frames out of order")
		}
	}
	if a.frames.peek().off <= a.lost {
		t.Fatalf("kept offset %d is not past lost %d", a.frames.peek().off, a.lost)
	}
	// Past the window everything goes, and idle rings later too.
	*now = now.Add(time.Minute)
	r.expire()
	if r.bytes != 0 || r.log.len() != 0 {
		t.Fatalf("past the window: %d bytes, %d frames", r.bytes, r.log.len())
	}
	*now = now.Add(3 * time.Minute)
	r.expire()
	if len(r.rings) != 0 {
		t.Fatalf("%d idle rings kept", len(r.rings))
	}
}

// Past maxRings, empty rings are forgotten early and their loss raises the
// floor, under which nobody recovers.
func TestRecoveryRingCount(t *testing.T) {
	r, n, now := testRecovery(t, RecoveryOptions{MaxRoomBytes: 1})
	r.maxRings = 3
	var last uint64
	for i := 0; i < 10; i++ {
		last = r.record(n, event(t, "x"), BroadcastOptions{Rooms: []string{strings.Repeat("r", i+1)}}, always).off
	}
	*now = now.Add(time.Second)
	r.expire()
	if len(r.rings) > 3 || r.floor == 0 || r.floor > last {
		t.Fatalf("%d rings, floor %d (last %d)", len(r.rings), r.floor, last)
	}
	r.park(parkedSocket(n, "s"), nil)
	c := r.lookup(n, auth(r.pid(n, "s"), r.offset(r.floor-1)))
	if _, ok, ended := r.restore(c, 1<<20, func(string, []string) bool { return true }); ok || ended == nil || c.reason != RecoveryGap {
		t.Fatalf("behind the floor: ok %v reason %q", ok, c.reason)
	}
}

// parkedSocket makes a closed socket of n with the given id, as park sees it.
func parkedSocket(n *Namespace, id string) *Socket {
	return &Socket{id: id, nsp: n, data: "data-" + id}
}

func auth(pid, offset string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"pid": pid, "offset": offset})
	return b
}

func TestRecoveryRestore(t *testing.T) {
	var expired []any
	r, n, now := testRecovery(t, RecoveryOptions{MaxSessions: 2})
	r.hooks.Store(&RecoveryHooks{OnExpire: func(prev any) { expired = append(expired, prev) }})
	seen := r.record(n, event(t, "seen"), BroadcastOptions{Rooms: []string{"room"}}, always)
	s := parkedSocket(n, "sid1")
	if !r.park(s, []string{"room"}) {
		t.Fatal("not parked")
	}
	m1 := r.record(n, event(t, "m1"), BroadcastOptions{Rooms: []string{"room"}}, func(string) bool { return false })
	r.record(n, event(t, "other"), BroadcastOptions{Rooms: []string{"elsewhere"}}, always)
	r.record(n, event(t, "excluded"), BroadcastOptions{Rooms: []string{"room"}, Except: []string{"sid1"}}, always)
	m2 := r.record(n, event(t, "m2"), BroadcastOptions{Rooms: []string{"sid1"}}, always)
	m3 := r.record(n, event(t, "m3"), BroadcastOptions{}, always)

	pid := r.pid(n, "sid1")
	for _, bad := range []json.RawMessage{
		[]byte(`{"pid":7}`), auth("nope", r.offset(seen.off)), auth("other."+strings.Split(pid, ".")[1], r.offset(seen.off)),
		auth(pid, "x"), auth(pid, r.offset(1<<40)), auth(pid, "zz.1"), auth(r.pid(n, "sid2"), r.offset(seen.off)),
	} {
		if c := r.lookup(n, bad); c == nil || c.reason == "" {
			t.Fatalf("%s: claim %+v", bad, c)
		}
	}
	if c := r.lookup(n, []byte(`{"token":"x"}`)); c != nil {
		t.Fatal("a claim without a pid")
	}
	c := r.lookup(n, auth(pid, r.offset(seen.off)))
	if c == nil || c.reason != "" || c.p.data != "data-sid1" {
		t.Fatalf("claim %+v", c)
	}
	var joined []string
	missed, ok, ended := r.restore(c, 1<<20, func(sid string, rooms []string) bool { joined = append([]string{sid}, rooms...); return true })
	if !ok || ended != nil {
		t.Fatalf("restore: %v %v %q", ok, ended, c.reason)
	}
	if strings.Join(joined, ",") != "sid1,room" {
		t.Fatalf("joined %v", joined)
	}
	var names []string
	for _, e := range missed {
		names = append(names, e.Event())
	}
	if strings.Join(names, ",") != "m1,m2,m3" || missed[0].off != m1.off || missed[1].off != m2.off || missed[2].off != m3.off {
		t.Fatalf("missed %v", names)
	}
	if c := r.lookup(n, auth(pid, r.offset(seen.off))); c.reason != RecoveryNoSession {
		t.Fatalf("a session recovered twice: %+v", c)
	}

	// A gap: the room lost frames past the client's offset.
	r2, n2, _ := testRecovery(t, RecoveryOptions{MaxRoomBytes: 1})
	r2.hooks.Store(&RecoveryHooks{OnExpire: func(prev any) { expired = append(expired, prev) }})
	first := r2.record(n2, event(t, "a"), BroadcastOptions{Rooms: []string{"room"}}, always)
	r2.park(parkedSocket(n2, "s"), []string{"room"})
	r2.record(n2, event(t, "b"), BroadcastOptions{Rooms: []string{"room"}}, always)
	r2.record(n2, event(t, "c"), BroadcastOptions{Rooms: []string{"room"}}, always)
	c = r2.lookup(n2, auth(r2.pid(n2, "s"), r2.offset(first.off)))
	if _, ok, ended := r2.restore(c, 1<<20, func(string, []string) bool { t.Fatal("joined across a gap"); return true }); ok || ended == nil || c.reason != RecoveryGap {
		t.Fatalf("gap: ok %v ended %v reason %q", ok, ended, c.reason)
	}

	// More missed than the client's write budget allows: a gap too.
	r3, n3, _ := testRecovery(t, RecoveryOptions{})
	first = r3.record(n3, event(t, "a"), BroadcastOptions{Rooms: []string{"room"}}, always)
	r3.park(parkedSocket(n3, "s"), []string{"room"})
	for i := 0; i < 10; i++ {
		r3.record(n3, event(t, "b", strings.Repeat("x", 100)), BroadcastOptions{Rooms: []string{"room"}}, always)
	}
	c = r3.lookup(n3, auth(r3.pid(n3, "s"), r3.offset(first.off)))
	if _, ok, _ := r3.restore(c, 500, func(string, []string) bool { return true }); ok || c.reason != RecoveryGap {
		t.Fatalf("over the byte bound: ok %v reason %q", ok, c.reason)
	}

	// The table bound, and expiry with OnExpire.
	expired = nil
	for _, id := range []string{"a", "b", "c"} {
		r.park(parkedSocket(n, id), nil)
	}
	if len(r.sessions) != 2 {
		t.Fatalf("%d sessions, bound 2", len(r.sessions))
	}
	*now = now.Add(time.Minute)
	r.expire()
	if len(r.sessions) != 0 || len(expired) != 2 || len(r.held) != 0 {
		t.Fatalf("after the window: %d sessions, %d expired, %d held", len(r.sessions), len(expired), len(r.held))
	}
}

// FuzzRecoveryLookup: any CONNECT payload is a clear claim or none, never
// a panic, and never a session without the right pid.
func FuzzRecoveryLookup(f *testing.F) {
	f.Add([]byte(`{"pid":"a.b","offset":"a.1"}`))
	f.Add([]byte(`{"pid":null}`))
	f.Add([]byte(`{"pid":"..","offset":".."}`))
	f.Add([]byte(`[1]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, n, _ := testRecovery(t, RecoveryOptions{})
		r.record(n, event(t, "x"), BroadcastOptions{}, always)
		r.park(parkedSocket(n, "sid"), nil)
		c := r.lookup(n, b)
		if c != nil && c.reason == "" {
			var a struct{ Pid string }
			json.Unmarshal(b, &a)
			if a.Pid != r.pid(n, "sid") {
				t.Fatalf("claim for pid %q", a.Pid)
			}
		}
	})
}
