//go:build linux

package bench

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/golang-jwt/jwt/v5"
)

// fakeServer is a minimal server with herald's contract over websocket only: enough to test the
// load tool without Node or herald. misroute sends every targeted emit to the next user instead.
type fakeServer struct {
	t        testing.TB
	secret   []byte
	apiKey   string
	ping     time.Duration
	misroute bool
	srv      *httptest.Server

	// peers are the nodes of a fake cluster (this one included), nil for a single server: an emit
	// on any node reaches the users of every node, and each other node counts one message received.
	peers []*fakeServer
	calls atomic.Int64 // API calls (emit, notify) this node answered
	recv  atomic.Int64 // messages "received from other nodes", on GET /metrics

	mu    sync.Mutex
	users map[string][]*fakeSocket
	seen  map[string]bool // every user that ever authenticated here
}

type fakeSocket struct {
	mu sync.Mutex
	nc net.Conn
}

func (s *fakeSocket) send(text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wsutil.WriteServerText(s.nc, []byte(text))
}

func newFakeServer(t testing.TB, misroute bool) *fakeServer {
	f := &fakeServer{t: t, secret: []byte("test-secret"), apiKey: "test-key", ping: 30 * time.Millisecond,
		misroute: misroute, users: map[string][]*fakeSocket{}, seen: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/socket.io/", f.socket)
	mux.HandleFunc("POST /v1/emit", f.emit)
	mux.HandleFunc("POST /v1/notifications", f.notify)
	mux.HandleFunc("GET /v1/stats", f.stats)
	mux.HandleFunc("GET /metrics", f.metrics)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeServer) socket(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("EIO") != "4" || r.URL.Query().Get("transport") != "websocket" {
		http.Error(w, "bad query", http.StatusBadRequest)
		return
	}
	nc, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	s := &fakeSocket{nc: nc}
	defer nc.Close()
	s.send(`0{"sid":"x","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	msg, err := wsutil.ReadClientText(nc)
	if err != nil || !strings.HasPrefix(string(msg), "40") {
		return
	}
	var auth struct{ Token string }
	json.Unmarshal(msg[2:], &auth)
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(auth.Token, claims, func(*jwt.Token) (any, error) { return f.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}))
	if err != nil {
		s.send(`44{"message":"invalid token","data":{"code":"token_invalid"}}`)
		return
	}
	sub, _ := claims["sub"].(string)
	f.mu.Lock()
	f.users[sub] = append(f.users[sub], s)
	f.seen[sub] = true
	f.mu.Unlock()
	s.send(`40{"sid":"s-` + sub + `"}`)
	s.send(fmt.Sprintf(`42["authenticated",{"success":true,"userId":%q,"email":"","socketId":"s-%s"}]`, sub, sub))
	// Pings must be answered: a missing pong closes the connection, which the test sees as dropped.
	go func() {
		for {
			time.Sleep(f.ping)
			s.send("2")
		}
	}()
	pongs := make(chan struct{}, 1)
	go func() {
		for {
			nc.SetReadDeadline(time.Now().Add(f.ping + 5*time.Second))
			m, err := wsutil.ReadClientText(nc)
			if err != nil {
				nc.Close()
				close(pongs)
				return
			}
			if string(m) == "3" {
				select {
				case pongs <- struct{}{}:
				default:
				}
			}
		}
	}()
	for range pongs {
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, o := range f.users[sub] {
		if o == s {
			f.users[sub] = append(f.users[sub][:i], f.users[sub][i+1:]...)
			break
		}
	}
}

func (f *fakeServer) authorized(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+f.apiKey {
		http.Error(w, `{"error":{"code":"unauthorized"}}`, http.StatusUnauthorized)
		return false
	}
	return true
}

func (f *fakeServer) target(userID string) []*fakeSocket {
	if f.misroute {
		var n int
		fmt.Sscanf(userID, "u%d", &n)
		userID = fmt.Sprintf("u%d", n+1)
	}
	var to []*fakeSocket
	for _, n := range f.nodes() {
		n.mu.Lock()
		to = append(to, n.users[userID]...)
		n.mu.Unlock()
	}
	return to
}

// nodes is the cluster f is in: its peers, or f alone.
func (f *fakeServer) nodes() []*fakeServer {
	if f.peers == nil {
		return []*fakeServer{f}
	}
	return f.peers
}

// published counts one API call: every other node receives one message.
func (f *fakeServer) published() {
	f.calls.Add(1)
	for _, n := range f.nodes() {
		if n != f {
			n.recv.Add(1)
		}
	}
}

// newFakeCluster starts k fake servers that deliver each other's emits.
func newFakeCluster(t testing.TB, k int) []*fakeServer {
	nodes := make([]*fakeServer, k)
	for i := range nodes {
		nodes[i] = newFakeServer(t, false)
	}
	for _, n := range nodes {
		n.peers = nodes
	}
	return nodes
}

func (f *fakeServer) metrics(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "# TYPE herald_cluster_messages_received_total counter\nherald_cluster_messages_received_total %d\n", f.recv.Load())
}

func (f *fakeServer) emit(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var body struct {
		Event     string          `json:"event"`
		Data      json.RawMessage `json:"data"`
		UserID    string          `json:"userId"`
		UserIDs   []string        `json:"userIds"`
		Broadcast bool            `json:"broadcast"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	data := strings.TrimSuffix(string(body.Data), "}") + `,"timestamp":"2026-01-01T00:00:00.000Z"}`
	packet := fmt.Sprintf(`42[%q,%s]`, body.Event, data)
	var to []*fakeSocket
	switch {
	case body.Broadcast:
		for _, n := range f.nodes() {
			n.mu.Lock()
			for _, ss := range n.users {
				to = append(to, ss...)
			}
			n.mu.Unlock()
		}
	case body.UserID != "":
		to = f.target(body.UserID)
	default:
		for _, u := range body.UserIDs {
			to = append(to, f.target(u)...)
		}
	}
	for _, s := range to {
		s.send(packet)
	}
	f.published()
	w.WriteHeader(http.StatusAccepted)
}

func (f *fakeServer) notify(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	var body struct {
		UserID  string          `json:"userId"`
		UserIDs []string        `json:"userIds"`
		Type    string          `json:"type"`
		Title   string          `json:"title"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	users := body.UserIDs
	if body.UserID != "" {
		users = []string{body.UserID}
	}
	for i, u := range users {
		packet := fmt.Sprintf(`42["notification:new",{"notification":{"id":"%d","userId":%q,"seq":7,"type":%q,"title":%q,"message":%q,"data":%s,"status":"unread"},"timestamp":"2026-01-01T00:00:00.000Z"}]`,
			i, u, body.Type, body.Title, body.Message, body.Data)
		for _, s := range f.target(u) {
			s.send(`42["notification:unread_count",{"unreadCount":1,"timestamp":"2026-01-01T00:00:00.000Z"}]`)
			s.send(packet)
		}
	}
	f.published()
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(`{"notifications":[]}`))
}

func (f *fakeServer) stats(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(w, r) {
		return
	}
	f.mu.Lock()
	users, sockets := 0, 0
	for _, ss := range f.users {
		if len(ss) > 0 {
			users++
			sockets += len(ss)
		}
	}
	f.mu.Unlock()
	json.NewEncoder(w).Encode(ServerStats{ConnectedUsers: int64(users), Sockets: int64(sockets)})
}
