package gateway

import (
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"herald"
	"herald/auth"
	"herald/internal/sockettest"
	"herald/socketio"
	"herald/sqlite"
)

// A socket's watches live in the registry while it is connected and are
// gone with it: a disconnect leaves no watcher behind.
func TestDisconnectDropsWatches(t *testing.T) {
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	secret := []byte("s")
	verifier, _ := auth.NewVerifier(secret)
	io := socketio.NewServer(socketio.Options{})
	t.Cleanup(io.Close)
	g := New(io, Config{Store: store, Verifier: verifier})
	t.Cleanup(g.Close)
	srv := httptest.NewServer(io)
	t.Cleanup(srv.Close)

	tok, _ := auth.Mint(secret, herald.Identity{UserID: "w", TenantID: "t"}, time.Hour)
	c := sockettest.Dial(t, srv.URL, map[string]string{"token": tok})
	if _, err := c.WaitEvent(EventUnreadCount, 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Emit(RequestPresenceSubscribe, map[string]any{"userIds": []string{"a", "b"}}); err != nil {
		t.Fatal(err)
	}
	a, b := userKey{"t", "a"}, userKey{"t", "b"}
	if len(g.watchers.watchers(nil, a)) != 1 || len(g.watchers.watchers(nil, b)) != 1 {
		t.Fatal("the subscribe is not in the registry")
	}
	c.Close()
	checkFor(t, 5*time.Second, func() error {
		if n := len(g.watchers.watchers(nil, a)) + len(g.watchers.watchers(nil, b)); n != 0 {
			return errors.New("watchers left behind by a disconnected socket")
		}
		return nil
	})
}
