package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/golang-jwt/jwt/v5"

	"herald"
	"herald/auth"
	"herald/gateway"
	"herald/socketio"
	"herald/sqlite"
)

const replaySecret = "replay-test-secret"

// replayServer is a gateway on a real SQLite store, served over loopback.
type replayServer struct {
	url   string
	store *sqlite.DB
	io    *socketio.Server
}

// slowReads is the SQLite store with reads of missed notifications
// slowed down, each taking one of readers connections for delay: the
// store of a loaded server, whose readers are busy. Waits for a reader
// end with the caller's context, as database/sql's do.
type slowReads struct {
	*sqlite.DB
	readers chan struct{}
	delay   time.Duration
}

func (s *slowReads) Since(ctx context.Context, tenant, user string, after int64, limit int) ([]herald.Notification, error) {
	select {
	case s.readers <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.readers }()
	time.Sleep(s.delay)
	return s.DB.Since(ctx, tenant, user, after, limit)
}

// downReads is the SQLite store with every read of missed notifications failing.
type downReads struct{ *sqlite.DB }

func (downReads) Since(context.Context, string, string, int64, int) ([]herald.Notification, error) {
	return nil, errors.New("disk on fire")
}

// newReplayServer serves a gateway on a new SQLite store; slow, if given,
// slows its replay reads down (see slowReads), a negative one makes them fail.
func newReplayServer(t *testing.T, slow ...time.Duration) *replayServer {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "herald.db"))
	if err != nil {
		t.Fatal(err)
	}
	var store herald.Store = db
	switch {
	case len(slow) > 0 && slow[0] < 0:
		store = downReads{db}
	case len(slow) > 0:
		store = &slowReads{DB: db, readers: make(chan struct{}, 4), delay: slow[0]}
	}
	v, err := auth.NewVerifier([]byte(replaySecret))
	if err != nil {
		t.Fatal(err)
	}
	// A storm comes from one address here: no bound on its pending sessions.
	io := socketio.NewServer(socketio.Options{MaxPendingPerAddr: -1})
	g := gateway.New(io, gateway.Config{Store: store, Verifier: v})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", io)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() { hs.Close(); io.Close(); g.Close(); db.Close() })
	return &replayServer{url: hs.URL, store: db, io: io}
}

// create stores n notifications for the user, with a message and data of
// about size bytes in all, in batches.
func (rs *replayServer) create(t *testing.T, tenant, user string, n, size int) {
	t.Helper()
	msg := strings.Repeat("m", min(size/5, herald.MaxMessageBytes))
	data, _ := json.Marshal(map[string]string{"pad": strings.Repeat("d", min(size-len(msg), herald.MaxDataBytes-64))})
	for done := 0; done < n; {
		var batch []herald.NewNotification
		for ; done < n && len(batch) < 100; done++ {
			batch = append(batch, herald.NewNotification{TenantID: tenant, UserID: user, Type: "info", Title: fmt.Sprint("n", done), Message: msg, Data: data})
		}
		if _, err := rs.store.Create(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
	}
}

// sioClient is a minimal Socket.IO client over a websocket: enough to
// connect with auth and read events.
type sioClient struct {
	c net.Conn
}

func (rs *replayServer) dial(t testing.TB, tenant, user string, since int64, readBuffer int) (*sioClient, error) {
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user, "tenant_id": tenant, "exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte(replaySecret))
	if err != nil {
		t.Fatal(err)
	}
	d := ws.Dialer{Timeout: 10 * time.Second}
	if readBuffer > 0 {
		d.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				c.(*net.TCPConn).SetReadBuffer(readBuffer)
			}
			return c, err
		}
	}
	c, br, _, err := d.Dial(context.Background(), "ws"+strings.TrimPrefix(rs.url, "http")+"/socket.io/?EIO=4&transport=websocket")
	if err != nil {
		return nil, err
	}
	if br != nil {
		ws.PutReader(br)
	}
	auth, _ := json.Marshal(map[string]any{"token": tok, "since": since})
	if err := wsutil.WriteClientText(c, append([]byte("40"), auth...)); err != nil {
		c.Close()
		return nil, err
	}
	return &sioClient{c: c}, nil
}

// next returns the next event, answering pings on the way.
func (sc *sioClient) next() (string, json.RawMessage, error) {
	for {
		sc.c.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, err := wsutil.ReadServerText(sc.c)
		if err != nil {
			return "", nil, err
		}
		switch {
		case string(b) == "2":
			wsutil.WriteClientText(sc.c, []byte("3"))
		case bytes.HasPrefix(b, []byte(`42["`)):
			// Parsed by hand: the test reads megabytes of notifications.
			rest := b[4:]
			end := bytes.IndexByte(rest, '"')
			if end < 0 {
				return "", nil, fmt.Errorf("bad event %.80q", b)
			}
			name, payload := string(rest[:end]), rest[end+1:]
			payload = bytes.TrimSuffix(bytes.TrimPrefix(payload, []byte(",")), []byte("]"))
			return name, payload, nil
		case bytes.HasPrefix(b, []byte("44")):
			return "", nil, fmt.Errorf("connect error %s", b)
		}
	}
}

// catchUp reads until the unread count that ends a connection's catch-up
// and returns the seqs of the notifications replayed, failing on an error
// event. pause is slept after every tenth notification.
func (sc *sioClient) catchUp(pause time.Duration) ([]int64, error) {
	var seqs []int64
	for {
		name, payload, err := sc.next()
		if err != nil {
			return seqs, err
		}
		switch name {
		case gateway.EventNotificationNew:
			seqs = append(seqs, seqOf(payload))
			if len(seqs)%10 == 0 {
				time.Sleep(pause)
			}
		case gateway.EventError:
			return seqs, fmt.Errorf("error event %s", payload)
		case gateway.EventUnreadCount:
			return seqs, nil
		}
	}
}

// seqOf returns the notification's seq from a notification:new payload:
// the first "seq" member, which the notification's fields put before its
// data.
func seqOf(payload []byte) int64 {
	i := bytes.Index(payload, []byte(`"seq":`))
	if i < 0 {
		return -1
	}
	n, _ := strconv.ParseInt(string(bytes.TrimRight(payload[i+6:i+6+bytes.IndexAny(payload[i+6:], ",}")], " ")), 10, 64)
	return n
}

func checkSeqs(seqs []int64, n int) error {
	if len(seqs) != n {
		return fmt.Errorf("replayed %d notifications, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != int64(i+1) {
			return fmt.Errorf("notification %d has seq %d, want %d", i, s, i+1)
		}
	}
	return nil
}

// A backlog five times the write budget (1,000 notifications of ~20 KiB,
// 4 MiB budget) replays completely and in order to a client that reads
// slowly, page by page as it drains; it is never dropped as a slow consumer.
func TestReplayLargerThanWriteBudget(t *testing.T) {
	rs := newReplayServer(t)
	const n = 1000
	rs.create(t, "t1", "u1", n, 20<<10)
	c, err := rs.dial(t, "t1", "u1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.c.Close()
	seqs, err := c.catchUp(time.Millisecond)
	if err != nil {
		t.Fatalf("after %d notifications: %v", len(seqs), err)
	}
	if err := checkSeqs(seqs, n); err != nil {
		t.Fatal(err)
	}
	if st := rs.io.Engine().Stats(); st.SlowConsumers != 0 {
		t.Fatalf("%d slow consumers", st.SlowConsumers)
	}
}

// A replay storm (what a restart looks like): 600 clients reconnect with
// since=0 at once to a store whose 4 readers take 50 ms per read, 7.5 s
// for them all, more than a store call's 5 s deadline. Every client gets
// its whole backlog, none the error event: replays queue for their turn
// at the store instead of failing for load.
func TestReplayStorm(t *testing.T) {
	rs := newReplayServer(t, 50*time.Millisecond)
	const clients, backlog = 600, 5
	for i := 0; i < clients; i++ {
		rs.create(t, fmt.Sprint("t", i), "u", backlog, 500)
	}
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	start := make(chan struct{})
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := rs.dial(t, fmt.Sprint("t", i), "u", 0, 0)
			if err != nil {
				errs <- err
				return
			}
			defer c.c.Close()
			seqs, err := c.catchUp(time.Millisecond)
			if err == nil {
				err = checkSeqs(seqs, backlog)
			}
			if err != nil {
				errs <- fmt.Errorf("client %d: %w", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed < 5 {
			t.Error(err)
		}
		failed++
	}
	if failed > 0 {
		t.Fatalf("%d of %d clients did not get their backlog", failed, clients)
	}
}

// A store that keeps failing (and only then) gets the client the error
// event, then its connection is closed, so that it reconnects and replays.
func TestReplayStoreDown(t *testing.T) {
	rs := newReplayServer(t, -1)
	c, err := rs.dial(t, "t1", "u1", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.c.Close()
	if _, err := c.catchUp(0); err == nil || !strings.Contains(err.Error(), "error event") {
		t.Fatalf("catch-up with the store down: %v, want the error event", err)
	}
	for {
		if _, _, err := c.next(); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the connection stayed open after the error event")
			}
			return // closed: the client reconnects
		}
	}
}
