package engineio_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"herald/engineio"
)

// NewID names the sessions; Forward is offered only requests for a sid
// the server does not hold, before CORS, and when it declines the client
// gets socket.io's "Session ID unknown".
func TestNewIDAndForwardHooks(t *testing.T) {
	var offered atomic.Int32
	var answer atomic.Bool
	_, _, base := newServer(t, engineio.Options{
		CORS:  engineio.CORS{Origins: []string{"http://app.example"}},
		NewID: func() string { return "node1-" + strings.Repeat("x", 10) },
		Forward: func(w http.ResponseWriter, r *http.Request, sid string) bool {
			offered.Add(1)
			if sid != "elsewhere" {
				t.Errorf("Forward offered sid %q", sid)
			}
			if !answer.Load() {
				return false
			}
			w.Header().Set("X-Owner", "yes")
			w.WriteHeader(http.StatusTeapot)
			return true
		},
	})
	do := func(method, query, body string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+"/?EIO=4&transport=polling"+query, strings.NewReader(body))
		req.Header.Set("Origin", "http://app.example")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		got, _ := io.ReadAll(res.Body)
		return res, string(got)
	}
	get := func(query string) (*http.Response, string) { t.Helper(); return do(http.MethodGet, query, "") }
	_, open := get("")
	if !strings.Contains(open, `"sid":"node1-xxxxxxxxxx"`) {
		t.Fatalf("open packet %q: want the sid of NewID", open)
	}
	// A held session is served here, never offered.
	if res, _ := do(http.MethodPost, "&sid=node1-xxxxxxxxxx", "4hi"); res.StatusCode != http.StatusOK || offered.Load() != 0 {
		t.Fatalf("poll of a held session: status %d, offered %d times", res.StatusCode, offered.Load())
	}
	// Declined: the usual answer, with this server's CORS headers.
	res, body := get("&sid=elsewhere")
	if res.StatusCode != http.StatusBadRequest || body != `{"code":1,"message":"Session ID unknown"}` || res.Header.Get("Access-Control-Allow-Origin") != "http://app.example" {
		t.Fatalf("declined: %d %q %v", res.StatusCode, body, res.Header)
	}
	// Taken: the hook's answer alone, without this server's CORS headers.
	answer.Store(true)
	res, _ = get("&sid=elsewhere")
	if res.StatusCode != http.StatusTeapot || res.Header.Get("X-Owner") != "yes" || res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("taken: %d %v", res.StatusCode, res.Header)
	}
	if n := offered.Load(); n != 2 {
		t.Fatalf("offered %d times, want 2", n)
	}
}

// A Writer made while its session is on long-polling (as a socket born on
// polling keeps it) becomes Ready once the session upgraded, and its holds
// carry over; before that it sends on the polling queue.
func TestWriterOfPollingSessionAfterUpgrade(t *testing.T) {
	_, ev, base := newServer(t, engineio.Options{})
	res, err := http.Get(base + "/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	open, _ := io.ReadAll(res.Body)
	res.Body.Close()
	sid := string(open[bytes.Index(open, []byte(`"sid":"`))+7:])
	sid = sid[:strings.IndexByte(sid, '"')]
	ev.mu.Lock()
	s := ev.sessions[0]
	ev.mu.Unlock()

	w, ok := s.Writer()
	if ok || !w.Valid() || w.Ready() {
		t.Fatalf("on polling: ok %v, valid %v, ready %v; want a valid writer, not ready", ok, w.Valid(), w.Ready())
	}
	if err := w.SendAll([]*engineio.Message{engineio.NewTextMessageString("polled")}); err != nil {
		t.Fatal(err)
	}
	res, err = http.Get(base + "/?EIO=4&transport=polling&sid=" + sid)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(got) != "4polled" {
		t.Fatalf("poll got %q", got)
	}
	w.Hold()

	c, br, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(base, "http")+"/?EIO=4&transport=websocket&sid="+sid)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var conn net.Conn = c
	if br != nil {
		conn = bufferedConn{c, br}
	}
	wsutil.WriteClientText(conn, []byte("2probe"))
	if p, err := wsutil.ReadServerText(conn); err != nil || string(p) != "3probe" {
		t.Fatalf("probe: %q %v", p, err)
	}
	wsutil.WriteClientText(conn, []byte("5"))
	waitFor(t, "the upgrade", func() bool { return s.Transport() == "websocket" })
	if w.Ready() {
		t.Fatal("ready while held")
	}
	w.Release()
	if !w.Ready() {
		t.Fatal("not ready after the upgrade")
	}
	if err := w.SendAll([]*engineio.Message{engineio.NewTextMessageString("a"), engineio.NewTextMessageString("b")}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"4a", "4b"} {
		p, err := wsutil.ReadServerText(conn)
		for err == nil && string(p) == "6" { // a noop may come first
			p, err = wsutil.ReadServerText(conn)
		}
		if err != nil || string(p) != want {
			t.Fatalf("over the websocket %q %v, want %q", p, err, want)
		}
	}
}
