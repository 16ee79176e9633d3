package forward_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"herald/engineio"
	"herald/forward"
)

const unknownBody = `{"code":1,"message":"Session ID unknown"}`

func TestParseSID(t *testing.T) {
	tag := "0123456789abcdef"
	for _, tc := range []struct {
		sid string
		ok  bool
	}{
		{tag + "AbCdEfGhIjKlMnOpQr-_", true},
		{tag + "AbCdEfGhIjKlMnOpQr-", false},   // short
		{tag + "AbCdEfGhIjKlMnOpQr-__", false}, // long
		{tag + "AbCdEfGhIjKlMnOpQr+/", false},  // not base64url
		{"0123456789ABCDEF" + "AbCdEfGhIjKlMnOpQr-_", false},
		{"0123456789abcdeg" + "AbCdEfGhIjKlMnOpQr-_", false},
		{"AbCdEfGhIjKlMnOpQr-_", false}, // a plain engineio sid
		{"", false},
	} {
		got, ok := forward.ParseSID(tc.sid)
		if ok != tc.ok || ok && got != tag {
			t.Errorf("ParseSID(%q) = %q, %v; want ok=%v", tc.sid, got, ok, tc.ok)
		}
	}
	fw := newForwarder(t, tag, func(context.Context) (map[string]string, error) { return nil, nil })
	seen := map[string]bool{}
	for range 100 {
		sid := fw.NewSID()
		if got, ok := forward.ParseSID(sid); !ok || got != tag || seen[sid] {
			t.Fatalf("NewSID %q: ParseSID %q %v, or repeated", sid, got, ok)
		}
		seen[sid] = true
	}
	if _, err := forward.New(forward.Options{Tag: "node-a", Peers: func(context.Context) (map[string]string, error) { return nil, nil }}); err == nil {
		t.Error("New accepted an invalid tag")
	}
}

func FuzzParseSID(f *testing.F) {
	f.Add("0123456789abcdefAbCdEfGhIjKlMnOpQr-_")
	f.Add("0123456789abcdef")
	f.Add("AbCdEfGhIjKlMnOpQr-_")
	f.Add("0123456789abcdef\x00bCdEfGhIjKlMnOpQr-_")
	f.Fuzz(func(t *testing.T, sid string) {
		tag, ok := forward.ParseSID(sid)
		if !ok {
			if tag != "" {
				t.Fatalf("tag %q without ok", tag)
			}
			return
		}
		if !forward.ValidTag(tag) || !strings.HasPrefix(sid, tag) || len(sid) != forward.TagLen+20 {
			t.Fatalf("ParseSID(%q) = %q", sid, tag)
		}
	})
}

func newForwarder(t *testing.T, tag string, peers func(context.Context) (map[string]string, error)) *forward.Forwarder {
	t.Helper()
	fw, err := forward.New(forward.Options{Tag: tag, Peers: peers, RefreshInterval: 50 * time.Millisecond, DialTimeout: time.Second, ResponseHeaderTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return fw
}

// node is an engineio server with a forwarder, on its own HTTP server.
type node struct {
	fw   *forward.Forwarder
	eio  *engineio.Server
	hs   *httptest.Server
	mu   sync.Mutex
	sess map[string]*engineio.Session
	msgs chan string
}

func (n *node) OnMessage(s *engineio.Session, data []byte, binary bool) { n.msgs <- string(data) }
func (n *node) OnClose(s *engineio.Session, reason string)              {}

func (n *node) session(sid string) *engineio.Session {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sess[sid]
}

// cluster starts nodes tagged tags, each listing the others through a
// shared, editable peer map, and counts the listings.
type cluster struct {
	mu       sync.Mutex
	peers    map[string]string
	listings atomic.Int32
	nodes    []*node
}

func (c *cluster) list(context.Context) (map[string]string, error) {
	c.listings.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	m := make(map[string]string, len(c.peers))
	for k, v := range c.peers {
		m[k] = v
	}
	return m, nil
}

func newCluster(t *testing.T, tags ...string) *cluster {
	c := &cluster{peers: map[string]string{}}
	for _, tag := range tags {
		n := &node{fw: newForwarder(t, tag, c.list), sess: map[string]*engineio.Session{}, msgs: make(chan string, 16)}
		n.eio = engineio.NewServer(engineio.Options{
			PingInterval: 2 * time.Second, PingTimeout: 2 * time.Second,
			CORS:    engineio.CORS{Origins: []string{"http://app.example"}, Credentials: true},
			NewID:   n.fw.NewSID,
			Forward: n.fw.ServeForward,
			OnSession: func(s *engineio.Session, r *http.Request) engineio.Handler {
				n.mu.Lock()
				n.sess[s.ID()] = s
				n.mu.Unlock()
				return n
			},
		})
		n.hs = httptest.NewServer(n.eio)
		t.Cleanup(func() { n.hs.Close(); n.eio.Close() })
		c.peers[tag] = n.hs.Listener.Addr().String()
		c.nodes = append(c.nodes, n)
	}
	return c
}

func do(t *testing.T, method, url, body string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Origin", "http://app.example")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, _ := io.ReadAll(res.Body)
	return res, string(got)
}

// A session opened on A is served through B and C: polling POST and GET,
// with A's CORS headers passed through once, and the websocket upgrade.
// Already forwarded requests are not forwarded again; when A is gone the
// client gets "Session ID unknown".
func TestForwardPollingAndUpgrade(t *testing.T) {
	c := newCluster(t, "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb", "cccccccccccccccc")
	A, B, C := c.nodes[0], c.nodes[1], c.nodes[2]
	q := "/?EIO=4&transport=polling"
	_, open := do(t, http.MethodGet, A.hs.URL+q, "")
	var hs struct{ Sid string }
	if err := json.Unmarshal([]byte(open[1:]), &hs); err != nil || !strings.HasPrefix(hs.Sid, "aaaaaaaaaaaaaaaa") {
		t.Fatalf("open %q (%v): want a sid of node A", open, err)
	}
	sq := q + "&sid=" + hs.Sid

	res, body := do(t, http.MethodPost, B.hs.URL+sq, "4hello")
	if res.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("POST via B: %d %q", res.StatusCode, body)
	}
	if got := <-A.msgs; got != "hello" {
		t.Fatalf("A got %q", got)
	}
	if err := A.session(hs.Sid).Send(engineio.NewTextMessageString("world")); err != nil {
		t.Fatal(err)
	}
	res, body = do(t, http.MethodGet, C.hs.URL+sq, "")
	if res.StatusCode != http.StatusOK || body != "4world" {
		t.Fatalf("GET via C: %d %q", res.StatusCode, body)
	}
	if v := res.Header.Values("Access-Control-Allow-Origin"); len(v) != 1 || v[0] != "http://app.example" {
		t.Fatalf("CORS headers via C: %v", res.Header)
	}

	// Already forwarded: answered as unknown, never forwarded again.
	res, body = do(t, http.MethodGet, C.hs.URL+sq, "", forward.Header, "1")
	if res.StatusCode != http.StatusBadRequest || body != unknownBody {
		t.Fatalf("forwarded twice: %d %q", res.StatusCode, body)
	}
	if s := C.fw.Stats(); s.Loop != 1 || s.Forwarded != 1 {
		t.Fatalf("C's stats %+v", s)
	}

	// The upgrade, through B.
	conn, br, _, err := ws.Dial(context.Background(), "ws"+strings.TrimPrefix(B.hs.URL, "http")+"/?EIO=4&transport=websocket&sid="+hs.Sid)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var rw io.ReadWriter = conn
	if br != nil {
		rw = struct {
			io.Reader
			io.Writer
		}{br, conn}
	}
	wsutil.WriteClientText(rw, []byte("2probe"))
	if got, err := wsutil.ReadServerText(rw); err != nil || string(got) != "3probe" {
		t.Fatalf("probe answer %q, %v", got, err)
	}
	wsutil.WriteClientText(rw, []byte("5"))
	waitUntil(t, "the upgrade", func() bool { return A.session(hs.Sid).Transport() == "websocket" })
	A.session(hs.Sid).Send(engineio.NewTextMessageString("over ws"))
	for {
		got, err := wsutil.ReadServerText(rw)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) == "4over ws" {
			break
		}
		if string(got) != "6" && string(got) != "2" { // noop, ping
			t.Fatalf("over the websocket: %q", got)
		}
	}
	wsutil.WriteClientText(rw, []byte("4up"))
	if got := <-A.msgs; got != "up" {
		t.Fatalf("A got %q", got)
	}

	// A is gone: its address no longer answers, then its lease is gone.
	A.hs.Close()
	A.eio.Close()
	res, body = do(t, http.MethodGet, B.hs.URL+sq, "")
	if res.StatusCode != http.StatusBadRequest || body != unknownBody || res.Header.Get("Access-Control-Allow-Origin") != "http://app.example" {
		t.Fatalf("owner unreachable: %d %q %v", res.StatusCode, body, res.Header)
	}
	c.mu.Lock()
	delete(c.peers, "aaaaaaaaaaaaaaaa")
	c.mu.Unlock()
	other := "dddddddddddddddd" + hs.Sid[forward.TagLen:]
	res, body = do(t, http.MethodGet, B.hs.URL+q+"&sid="+other, "")
	if res.StatusCode != http.StatusBadRequest || body != unknownBody {
		t.Fatalf("owner gone: %d %q", res.StatusCode, body)
	}
	if s := B.fw.Stats(); s.Unreachable != 1 || s.OwnerGone != 1 || s.Forwarded != 2 {
		t.Fatalf("B's stats %+v", s)
	}
}

// Misses share listings: a flood of sids of unknown nodes costs at most
// one listing per RefreshInterval, each answered once a listing started
// after it arrived; a node that joined is found on its first miss.
func TestLookupIsRateBounded(t *testing.T) {
	c := newCluster(t, "aaaaaaaaaaaaaaaa")
	A := c.nodes[0]
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sid := fmt.Sprintf("%016x", 0xe000000000000000+uint64(i)) + "AbCdEfGhIjKlMnOpQr-_"
			res, body := do(t, http.MethodGet, A.hs.URL+"/?EIO=4&transport=polling&sid="+sid, "")
			if res.StatusCode != http.StatusBadRequest || body != unknownBody {
				t.Errorf("unknown node: %d %q", res.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n, most := c.listings.Load(), int32(elapsed/(50*time.Millisecond))+2; n < 1 || n > most {
		t.Fatalf("%d listings in %v, want 1..%d", n, elapsed, most)
	}
	if s := A.fw.Stats(); s.OwnerGone != 200 {
		t.Fatalf("stats %+v", s)
	}

	// A node joins: its sessions are found on the first miss.
	joined := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(forward.Header) == "" {
			t.Error("a forwarded request without the header")
		}
		w.Write([]byte("from the owner"))
	}))
	defer joined.Close()
	c.mu.Lock()
	c.peers["ffffffffffffffff"] = joined.Listener.Addr().String()
	c.mu.Unlock()
	res, body := do(t, http.MethodGet, A.hs.URL+"/?EIO=4&transport=polling&sid=ffffffffffffffffAbCdEfGhIjKlMnOpQr-_", "")
	if res.StatusCode != http.StatusOK || body != "from the owner" {
		t.Fatalf("new node: %d %q", res.StatusCode, body)
	}
}

// A POST body streams to the owner: the owner's MaxPayload applies, the
// forwarder holds no copy.
func TestForwardKeepsBodyLimit(t *testing.T) {
	c := newCluster(t, "aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb")
	A, B := c.nodes[0], c.nodes[1]
	_, open := do(t, http.MethodGet, A.hs.URL+"/?EIO=4&transport=polling", "")
	var hs struct{ Sid string }
	json.Unmarshal([]byte(open[1:]), &hs)
	big := "4" + strings.Repeat("x", 1_000_001)
	res, _ := do(t, http.MethodPost, B.hs.URL+"/?EIO=4&transport=polling&sid="+hs.Sid, big)
	if res.StatusCode < 400 {
		t.Fatalf("a body over A's MaxPayload through B: %d", res.StatusCode)
	}
	if s := B.fw.Stats(); s.Forwarded != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
