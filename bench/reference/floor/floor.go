//go:build linux

package main

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sys/unix"
)

// Limits of the floor: small, since it serves only the load tool.
const (
	pingInterval   = 25 * time.Second
	connectTimeout = 10 * time.Second
	maxBody        = 1 << 20
)

// floor holds every authenticated socket as a raw non-blocking descriptor. mu guards the sets and
// the descriptors' lives: a broadcast writes under the read lock, a close takes the write lock, so
// no write can reach a descriptor number that was closed and reused.
type floor struct {
	secret []byte
	apiKey string
	epfd   int
	nextID atomic.Uint64

	mu    sync.RWMutex
	all   []*sock         // broadcast order
	byFD  map[int32]*sock // for the reader
	users map[string][]*sock
	// failed counts sockets closed because a write did not take the whole frame at once.
	failed atomic.Int64
}

// sock is one authenticated socket. Only the reader goroutine touches skip and hdr.
type sock struct {
	fd   int
	user string
	idx  int // position in floor.all
	skip int // payload bytes of the current client frame still to come
	hdr  []byte
}

func newFloor(secret, apiKey string) (*floor, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	f := &floor{secret: []byte(secret), apiKey: apiKey, epfd: epfd,
		byFD: map[int32]*sock{}, users: map[string][]*sock{}}
	go f.readLoop()
	go f.pingLoop()
	return f, nil
}

// handler serves the Socket.IO endpoint and the backend API.
func (f *floor) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /socket.io/", f.socket)
	mux.HandleFunc("POST /v1/emit", f.emit)
	mux.HandleFunc("GET /v1/stats", f.stats)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, `{"ok":true}`)
	})
	return mux
}

// socket runs the handshake on the connection's goroutine: upgrade, open packet, CONNECT with a
// verified JWT, `authenticated`. Then it hands the descriptor over to the floor and returns.
func (f *floor) socket(w http.ResponseWriter, r *http.Request) {
	if q := r.URL.Query(); q.Get("EIO") != "4" || q.Get("transport") != "websocket" {
		reply(w, http.StatusBadRequest, `{"error":{"code":"invalid","message":"only EIO=4 with transport=websocket"}}`)
		return
	}
	nc, _, _, err := ws.UpgradeHTTP(r, w)
	if err != nil {
		return
	}
	id := strconv.FormatUint(f.nextID.Add(1), 36)
	user, err := f.handshake(nc, id)
	if err != nil {
		nc.Close()
		return
	}
	if err := f.adopt(nc, user); err != nil {
		nc.Close()
	}
}

func (f *floor) handshake(nc net.Conn, id string) (string, error) {
	nc.SetDeadline(time.Now().Add(connectTimeout))
	open := fmt.Sprintf(`0{"sid":"e%s","upgrades":[],"pingInterval":%d,"pingTimeout":20000,"maxPayload":%d}`,
		id, pingInterval.Milliseconds(), maxBody)
	if err := wsutil.WriteServerText(nc, []byte(open)); err != nil {
		return "", err
	}
	msg, err := wsutil.ReadClientText(nc)
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(string(msg), "40") {
		return "", errors.New("want CONNECT")
	}
	var auth struct {
		Token string `json:"token"`
	}
	json.Unmarshal(msg[2:], &auth)
	claims := jwt.MapClaims{}
	_, err = jwt.ParseWithClaims(auth.Token, claims, func(*jwt.Token) (any, error) { return f.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}))
	sub, _ := claims["sub"].(string)
	if err != nil || sub == "" {
		wsutil.WriteServerText(nc, []byte(`44{"message":"invalid token","data":{"code":"token_invalid"}}`))
		return "", errors.New("invalid token")
	}
	email, _ := claims["email"].(string)
	ack := `40{"sid":"s` + id + `"}`
	authed, _ := json.Marshal([]any{"authenticated", map[string]any{"success": true, "userId": sub, "email": email, "socketId": "s" + id}})
	if err := wsutil.WriteServerText(nc, []byte(ack)); err != nil {
		return "", err
	}
	if err := wsutil.WriteServerText(nc, append([]byte("42"), authed...)); err != nil {
		return "", err
	}
	nc.SetDeadline(time.Time{})
	return sub, nil
}

// adopt takes the socket out of Go's runtime: it duplicates the descriptor (still non-blocking, the
// flag belongs to the open file), closes the net.Conn, which deregisters it from the runtime
// poller, and registers the duplicate with the floor's own epoll set.
func (f *floor) adopt(nc net.Conn, user string) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	var derr error
	if err := raw.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return err
	}
	if derr != nil {
		return derr
	}
	nc.Close()
	s := &sock{fd: fd, user: user}
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(fd)}
	if err := unix.EpollCtl(f.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		unix.Close(fd)
		return err
	}
	s.idx = len(f.all)
	f.all = append(f.all, s)
	f.byFD[int32(fd)] = s
	f.users[user] = append(f.users[user], s)
	return nil
}

// closeLocked forgets s and closes its descriptor (which also leaves the epoll set, as no other
// descriptor refers to the socket). mu must be held for writing.
func (f *floor) closeLocked(s *sock) {
	if f.byFD[int32(s.fd)] != s {
		return
	}
	delete(f.byFD, int32(s.fd))
	last := f.all[len(f.all)-1]
	f.all[s.idx], last.idx = last, s.idx
	f.all[len(f.all)-1] = nil
	f.all = f.all[:len(f.all)-1]
	us := f.users[s.user]
	for i, o := range us {
		if o == s {
			us = append(us[:i], us[i+1:]...)
			break
		}
	}
	if len(us) == 0 {
		delete(f.users, s.user)
	} else {
		f.users[s.user] = us
	}
	unix.Close(s.fd)
}

// write is the whole per-receiver cost of a broadcast: one write(2) of the prebuilt frame. A
// socket whose send buffer does not take the whole frame is returned for closing (a real server
// would queue; the load tool reads fast enough that this never happens).
func write(targets []*sock, frame []byte, failed []*sock) []*sock {
	for _, s := range targets {
		if n, err := unix.Write(s.fd, frame); err != nil || n != len(frame) {
			failed = append(failed, s)
		}
	}
	return failed
}

// send writes frame to targets under the read lock, then closes those that failed.
func (f *floor) send(frame []byte, targets func() []*sock) {
	f.mu.RLock()
	failed := write(targets(), frame, nil)
	f.mu.RUnlock()
	if len(failed) > 0 {
		f.failed.Add(int64(len(failed)))
		f.mu.Lock()
		for _, s := range failed {
			f.closeLocked(s)
		}
		f.mu.Unlock()
	}
}

func (f *floor) pingLoop() {
	ping := ws.MustCompileFrame(ws.NewTextFrame([]byte("2")))
	for range time.Tick(pingInterval) {
		f.send(ping, func() []*sock { return f.all })
	}
}

// readLoop reads every ready socket with one read(2): it answers nothing (pongs need no answer)
// and closes a socket on a close frame, end of stream or error.
func (f *floor) readLoop() {
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 16<<10)
	for {
		n, err := unix.EpollWait(f.epfd, events, -1)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			panic(err) // the epoll descriptor is the floor's own: this cannot happen
		}
		for _, ev := range events[:n] {
			// The read lock keeps s.fd from being closed (by a failed write) and reused meanwhile.
			f.mu.RLock()
			s := f.byFD[ev.Fd]
			m, err := 0, error(unix.EAGAIN)
			if s != nil {
				m, err = unix.Read(s.fd, buf)
			}
			f.mu.RUnlock()
			if s == nil || err == unix.EAGAIN {
				continue
			}
			if err != nil || m == 0 || s.scan(buf[:m]) {
				f.mu.Lock()
				f.closeLocked(s)
				f.mu.Unlock()
			}
		}
	}
}

// scan walks the client's frames in b, across reads, and reports whether one of them is a close
// frame. Payloads are skipped unread: the only messages a client sends after CONNECT are pongs.
func (s *sock) scan(b []byte) (closed bool) {
	for len(b) > 0 {
		if s.skip > 0 {
			n := min(s.skip, len(b))
			s.skip -= n
			b = b[n:]
			continue
		}
		need := min(14, len(s.hdr)+len(b))
		take := need - len(s.hdr)
		h := append(s.hdr, b[:take]...)
		hlen, plen, ok := frameLen(h)
		if !ok {
			s.hdr = h
			return false
		}
		if ws.OpCode(h[0]&0x0f) == ws.OpClose {
			return true
		}
		b = b[hlen-len(s.hdr):]
		s.hdr = s.hdr[:0]
		s.skip = plen
	}
	return false
}

// frameLen reads a client frame header (masked, RFC 6455 §5.2): its length and its payload's, or
// ok false while h holds only part of it.
func frameLen(h []byte) (hlen, plen int, ok bool) {
	if len(h) < 2 {
		return 0, 0, false
	}
	hlen, plen = 2, int(h[1]&0x7f)
	switch plen {
	case 126:
		hlen = 4
	case 127:
		hlen = 10
	}
	if h[1]&0x80 != 0 {
		hlen += 4
	}
	if len(h) < hlen {
		return 0, 0, false
	}
	switch plen {
	case 126:
		plen = int(h[2])<<8 | int(h[3])
	case 127:
		plen = 0
		for _, x := range h[2:10] {
			plen = plen<<8 | int(x)
		}
		plen &= 1<<62 - 1
	}
	return hlen, plen, true
}

// emit is POST /v1/emit: the packet and its frame are built once, then written to each target.
func (f *floor) emit(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(r) {
		reply(w, http.StatusUnauthorized, `{"error":{"code":"unauthorized","message":"bad API key"}}`)
		return
	}
	var req struct {
		Event     string          `json:"event"`
		Data      json.RawMessage `json:"data"`
		UserID    string          `json:"userId"`
		UserIDs   []string        `json:"userIds"`
		Room      string          `json:"room"`
		Broadcast bool            `json:"broadcast"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, maxBody)).Decode(&req); err != nil || req.Event == "" {
		reply(w, http.StatusBadRequest, `{"error":{"code":"invalid","message":"want {event, data, target}"}}`)
		return
	}
	frame := ws.MustCompileFrame(ws.NewTextFrame(packet(req.Event, req.Data, time.Now())))
	var users []string
	switch {
	case req.Broadcast:
		f.send(frame, func() []*sock { return f.all })
		reply(w, http.StatusAccepted, `{"accepted":true}`)
		return
	case req.UserID != "":
		users = []string{req.UserID}
	case len(req.UserIDs) > 0:
		users = req.UserIDs
	case strings.HasPrefix(req.Room, "user:"):
		users = []string{strings.TrimPrefix(req.Room, "user:")}
	default:
		reply(w, http.StatusBadRequest, `{"error":{"code":"invalid","message":"one of userId, userIds, room user:<id>, broadcast"}}`)
		return
	}
	var targets []*sock
	f.send(frame, func() []*sock {
		for _, u := range users {
			targets = append(targets, f.users[u]...)
		}
		return targets
	})
	reply(w, http.StatusAccepted, `{"accepted":true}`)
}

// packet is the Socket.IO EVENT `42["event",{...data,"timestamp":"..."}]`, data's fields as sent.
func packet(event string, data json.RawMessage, now time.Time) []byte {
	ev, _ := json.Marshal(event)
	p := append([]byte("42["), ev...)
	p = append(p, ',')
	d := strings.TrimSpace(string(data))
	if strings.HasPrefix(d, "{") && strings.HasSuffix(d, "}") {
		if inner := strings.TrimSpace(d[1 : len(d)-1]); inner != "" {
			p = append(p, d[:len(d)-1]...)
			p = append(p, ',')
		} else {
			p = append(p, '{')
		}
	} else {
		p = append(p, '{')
	}
	p = append(p, `"timestamp":"`...)
	p = now.UTC().AppendFormat(p, "2006-01-02T15:04:05.000Z")
	return append(p, `"}]`...)
}

func (f *floor) stats(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(r) {
		reply(w, http.StatusUnauthorized, `{"error":{"code":"unauthorized","message":"bad API key"}}`)
		return
	}
	f.mu.RLock()
	users, sockets := len(f.users), len(f.all)
	f.mu.RUnlock()
	reply(w, http.StatusOK, fmt.Sprintf(`{"connectedUsers":%d,"sockets":%d,"failedWrites":%d}`, users, sockets, f.failed.Load()))
}

func (f *floor) authorized(r *http.Request) bool {
	return f.apiKey == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+f.apiKey)) == 1
}

func reply(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}
