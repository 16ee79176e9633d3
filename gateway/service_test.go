package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"herald"
	"herald/auth"
	"herald/gateway"
	"herald/internal/sockettest"
	"herald/socketio"
	"herald/sqlite"
)

var secret = []byte("gateway-test-secret")

// testGateway is a gateway on a real SQLite store, served on a loopback port.
type testGateway struct {
	gw    *gateway.Gateway
	store *sqlite.DB
	url   string
}

func newTestGateway(t *testing.T, cfg gateway.Config) *testGateway {
	t.Helper()
	store, err := sqlite.Open(filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	verifier, err := auth.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	io := socketio.NewServer(socketio.Options{})
	t.Cleanup(io.Close)
	cfg.Store, cfg.Verifier = store, verifier
	gw := gateway.New(io, cfg)
	t.Cleanup(gw.Close)
	srv := httptest.NewServer(io)
	t.Cleanup(srv.Close)
	return &testGateway{gw: gw, store: store, url: srv.URL}
}

// connect opens a socket of id and waits for its greeting and first count.
func (g *testGateway) connect(t *testing.T, id herald.Identity) *sockettest.Client {
	t.Helper()
	tok, err := auth.Mint(secret, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c := sockettest.Dial(t, g.url, map[string]string{"token": tok})
	if _, err := c.WaitEvent(gateway.EventUnreadCount, 1, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// notificationOf decodes the notification of a notification:new event.
func notificationOf(t *testing.T, e sockettest.Event) herald.Notification {
	t.Helper()
	var v struct{ Notification herald.Notification }
	if err := json.Unmarshal(e.Data, &v); err != nil {
		t.Fatal(err)
	}
	return v.Notification
}

// A caller that gives up (its context is done) while its create waits for
// the commit: what commits is still announced.
func TestCreateAnnouncedWhateverTheCallersContext(t *testing.T) {
	g := newTestGateway(t, gateway.Config{})
	id := herald.Identity{UserID: "u1", TenantID: "acme"}
	c := g.connect(t, id)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	created, err := g.gw.CreateNotifications(ctx, []herald.NewNotification{{TenantID: "acme", UserID: "u1", Type: "info", Title: "t"}})
	if err != nil {
		t.Fatalf("create with a done context: %v (the caller's context must not decide the commit)", err)
	}
	e, err := c.WaitEvent(gateway.EventNotificationNew, 1, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := notificationOf(t, e); got.ID != created[0].ID {
		t.Fatalf("announced %s, want %s", got.ID, created[0].ID)
	}
}

// A notification stored but never announced (its create failed after the
// commit) is announced on the retry with the same idempotency key, once.
func TestRetryAnnouncesWhatWasNeverAnnounced(t *testing.T) {
	g := newTestGateway(t, gateway.Config{})
	id := herald.Identity{UserID: "u1", TenantID: "acme"}
	c := g.connect(t, id)
	n := herald.NewNotification{TenantID: "acme", UserID: "u1", Type: "info", Title: "t", IdempotencyKey: "k1"}
	// Stored behind the gateway's back: as if the create's caller got an
	// error after the commit, so that nothing was announced.
	stored, err := g.store.Create(context.Background(), []herald.NewNotification{n})
	if err != nil {
		t.Fatal(err)
	}
	retry, err := g.gw.CreateNotifications(context.Background(), []herald.NewNotification{n})
	if err != nil || !retry[0].Existing || retry[0].ID != stored[0].ID {
		t.Fatalf("retry = %+v, %v; want the existing %s", retry, err, stored[0].ID)
	}
	e, err := c.WaitEvent(gateway.EventNotificationNew, 1, 5*time.Second)
	if err != nil {
		t.Fatalf("the retry did not announce the stored notification: %v", err)
	}
	if got := notificationOf(t, e); got.ID != stored[0].ID {
		t.Fatalf("announced %s, want %s", got.ID, stored[0].ID)
	}
	if _, err := c.WaitEvent(gateway.EventUnreadCount, 2, 5*time.Second); err != nil {
		t.Fatalf("no count after the announce: %v", err)
	}
	// Announced now: another retry announces nothing, and a new
	// notification is the next event.
	if _, err := g.gw.CreateNotifications(context.Background(), []herald.NewNotification{n}); err != nil {
		t.Fatal(err)
	}
	fresh, err := g.gw.CreateNotifications(context.Background(), []herald.NewNotification{{TenantID: "acme", UserID: "u1", Type: "info", Title: "next"}})
	if err != nil {
		t.Fatal(err)
	}
	e, err = c.WaitEvent(gateway.EventNotificationNew, 2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := notificationOf(t, e); got.ID != fresh[0].ID {
		t.Fatalf("second announce is %s, want the new %s (the retry was announced twice)", got.ID, fresh[0].ID)
	}
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A socket operation that fails inside herald answers a generic internal
// error and logs the cause, as the HTTP API does; a client's mistake is
// answered and not logged.
func TestSocketHandlersLogInternalErrors(t *testing.T) {
	logs := &lockedBuffer{}
	g := newTestGateway(t, gateway.Config{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	c := g.connect(t, herald.Identity{UserID: "u1"})
	ack, err := c.Emit(gateway.RequestMarkRead, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ack), `"code":"invalid"`) || strings.Contains(logs.String(), "socket event") {
		t.Fatalf("bad input: ack %s, logs %q", ack, logs.String())
	}
	g.store.Close()
	for _, event := range []string{gateway.RequestList, gateway.RequestUnreadCount, gateway.RequestMarkAllRead} {
		ack, err := c.Emit(event, map[string]string{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(ack), `"code":"internal"`) {
			t.Fatalf("%s with the store closed: ack %s, want internal", event, ack)
		}
		if !strings.Contains(logs.String(), "event="+event) {
			t.Fatalf("%s: the internal error was not logged: %q", event, logs.String())
		}
	}
}

// countingObserver counts the events emitted, by name.
type countingObserver struct {
	mu  sync.Mutex
	out map[string]int
}

func (o *countingObserver) EventIn(string)        {}
func (o *countingObserver) Emitted(time.Duration) {}
func (o *countingObserver) EventOut(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.out == nil {
		o.out = make(map[string]int)
	}
	o.out[name]++
}

func (o *countingObserver) count(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.out[name]
}

// Connects cost presence work only for watched users: many users of one
// tenant connect over real sockets, one of them is watched, and exactly one
// user:online is emitted, to the watcher only.
func TestConnectsOfUnwatchedUsersEmitNoPresence(t *testing.T) {
	obs := &countingObserver{}
	g := newTestGateway(t, gateway.Config{Observer: obs})
	watcher := g.connect(t, herald.Identity{UserID: "watcher", TenantID: "big"})
	bystander := g.connect(t, herald.Identity{UserID: "bystander", TenantID: "big"})
	ack, err := watcher.Emit(gateway.RequestPresenceSubscribe, map[string]any{"userIds": []string{"user-7"}})
	if err != nil || string(ack) != `{"online":[],"success":true}` {
		t.Fatalf("subscribe ack %s, %v", ack, err)
	}
	const n = 200
	for i := range n {
		g.connect(t, herald.Identity{UserID: fmt.Sprint("user-", i), TenantID: "big"})
	}
	e, err := watcher.WaitEvent(gateway.EventUserOnline, 1, 5*time.Second)
	if err != nil || !strings.Contains(string(e.Data), `"userId":"user-7"`) {
		t.Fatalf("watcher: %s, %v; want user:online of user-7", e.Data, err)
	}
	if got := obs.count(gateway.EventUserOnline); got != 1 {
		t.Fatalf("%d user:online emitted for %d connects, want 1 (the watched user's)", got, n)
	}
	if got := bystander.Events(gateway.EventUserOnline); len(got) != 0 {
		t.Fatalf("a socket that watches nobody got %d user:online", len(got))
	}
}
