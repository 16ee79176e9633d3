package gateway

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"

	"herald"
	"herald/auth"
	"herald/socketio"
	"herald/sqlite"
)

func TestClusterKeyRoundTrip(t *testing.T) {
	for _, k := range []userKey{{"", "u"}, {"acme", "42"}, {"a:b", "user:x:y"}, {"", ""}} {
		got, ok := parseClusterKey(clusterKey(k))
		if !ok || got != k {
			t.Errorf("parseClusterKey(clusterKey(%+v)) = %+v, %v", k, got, ok)
		}
	}
	for _, bad := range []string{"", "x", "3:ab", "-1::u", "9:acme:u", "2:acme:u"} {
		if k, ok := parseClusterKey(bad); ok {
			t.Errorf("parseClusterKey(%q) = %+v, want not ok", bad, k)
		}
	}
	if k, ok := userOfRoom(userRoom("acme", "42")); !ok || k != (userKey{"acme", "42"}) {
		t.Errorf("userOfRoom = %+v, %v", k, ok)
	}
	if _, ok := userOfRoom(tenantRoom("acme")); ok {
		t.Error("a tenant room is no user's room")
	}
}

// The seq guard drops what was delivered and fills a jump from the store
// before the packet that jumped, in order.
func TestSequencedDropsDuplicatesAndFillsGaps(t *testing.T) {
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := auth.NewVerifier([]byte("secret"))
	io := socketio.NewServer(socketio.Options{})
	g := New(io, Config{Store: db, Verifier: v})
	t.Cleanup(func() { io.Close(); g.Close(); db.Close() })
	k := userKey{"acme", "u1"}
	var created []herald.Notification
	for i := 0; i < 6; i++ {
		ns, err := db.Create(context.Background(), []herald.NewNotification{{TenantID: k.tenant, UserID: k.user, Type: "t", Title: "x", Message: "m"}})
		if err != nil {
			t.Fatal(err)
		}
		created = append(created, ns...)
	}
	g.presence.add(k) // a local socket: the guard keeps the user's position
	g.seqs.raise(k, 1)
	var got []int64
	deliver := func(e *socketio.Encoded) { got = append(got, e.Seq()) }
	send := func(seq int64) {
		e, err := encodeNotificationNew(&created[seq-1], "ts")
		if err != nil {
			t.Fatal(err)
		}
		g.Sequenced(userRoom(k.tenant, k.user), e, deliver)
	}
	send(4) // jumps over 2 and 3
	send(3) // delivered already
	send(1)
	send(5)
	if want := []int64{2, 3, 4, 5}; !reflect.DeepEqual(got, want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
	other, _ := encodeNotificationNew(&created[0], "ts")
	got = nil
	g.Sequenced(tenantRoom(k.tenant), other, deliver)
	if !reflect.DeepEqual(got, []int64{1}) {
		t.Fatalf("a room that is no user's: delivered %v, want it as it is", got)
	}
	g.presence.remove(k)
	g.seqDisconnected(k)
}
