// Package gateway is the seed's NotificationsGateway and WebSocketService
// on herald's Socket.IO server: JWT authentication of sockets, per-user and
// per-tenant rooms, presence, the notification events and their
// acknowledged client operations, gap-free replay, and token expiry.
package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"herald"
	"herald/auth"
	"herald/cluster"
	"herald/internal/routines"
	"herald/socketio"
)

// Config configures a Gateway. Every zero value means the default given.
type Config struct {
	// Store holds the notifications. Required.
	Store herald.Store
	// Verifier checks socket and user tokens. Required.
	Verifier *auth.Verifier
	// PresenceGrace is how long a user whose last socket left stays online,
	// so that a page reload does not flap. Zero means 3s.
	PresenceGrace time.Duration
	// DisablePresence refuses presence:subscribe, so that no socket gets
	// user:online / user:offline. Presence costs nothing for users nobody
	// watches; this only turns the feature off.
	DisablePresence bool
	// PresenceWatchLimit bounds how many users one socket may watch with
	// presence:subscribe. Zero means 1000.
	PresenceWatchLimit int
	// ReplayLimit bounds how many missed notifications one connection
	// replays. Zero means 1000.
	ReplayLimit int
	// StoreTimeout bounds each store call made for a socket. Zero means 5s.
	StoreTimeout time.Duration
	// ReplayConcurrency bounds the replay reads of the store that run at
	// once; the others wait their turn (a restart reconnects every client
	// at once). Zero means 4.
	ReplayConcurrency int
	// Observer receives metrics; nil means none. If it is also a
	// LimitObserver, it is told about refusals.
	Observer Observer
	// Limits bound sockets per user and events per socket; see Limits
	// for their defaults.
	Limits Limits
	// Cluster, when set, makes presence and stats cluster-wide (see
	// cluster.go); the caller gives the Socket.IO server the node's
	// adapter and closes the node after the server. Nil means one node.
	Cluster *cluster.Node
	// Addr is the address this node advertises, listed by Nodes.
	Addr string
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Observer is told about traffic, for metrics. Its methods must be cheap
// and safe for concurrent use.
type Observer interface {
	// EventIn counts an event received from a client.
	EventIn(name string)
	// EventOut counts an event emitted (once per emit, not per receiver).
	EventOut(name string)
	// Emitted records how long an API emit took to reach every local socket.
	Emitted(d time.Duration)
}

type nopObserver struct{}

func (nopObserver) EventIn(string)        {}
func (nopObserver) EventOut(string)       {}
func (nopObserver) Emitted(time.Duration) {}

// Gateway serves the default namespace of a Socket.IO server.
type Gateway struct {
	cfg       Config
	io        *socketio.Server
	nsp       *socketio.Namespace
	presence  *presence
	watchers  watcherRegistry
	expiry    *expiry
	order     userOrder     // orders each user's feed changes with their events
	replays   chan struct{} // replay turns at the store, ReplayConcurrency of them
	announced announcedIDs
	lim       *limiter
	obs       Observer
	log       *slog.Logger
	routines  routines.Group // every long-lived goroutine of the gateway
	closeOne  sync.Once

	started     time.Time
	transitions chan transition // cluster transitions to announce; nil outside cluster mode
	clusterDone chan struct{}   // closed by Close: no more announcements
	seqs        seqGuard        // cluster mode: last seq delivered per local user
}

// conn is the gateway's state of one socket, kept as its socket data.
type conn struct {
	socket   *socketio.Socket
	identity herald.Identity
	since    int64 // auth.since, or -1 when absent
	events   eventBudget

	// Guarded by the expiry's lock.
	expiresAt   time.Time
	expiryIndex int

	watchMu  sync.Mutex
	watching map[userKey]struct{} // users this socket watches (presence:subscribe)
	gone     bool                 // disconnected: watches no more
}

// New attaches a gateway to the default namespace of io.
func New(io *socketio.Server, cfg Config) *Gateway {
	if cfg.PresenceGrace <= 0 {
		cfg.PresenceGrace = 3 * time.Second
	}
	if cfg.PresenceWatchLimit <= 0 {
		cfg.PresenceWatchLimit = 1000
	}
	if cfg.ReplayLimit <= 0 {
		cfg.ReplayLimit = 1000
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.ReplayConcurrency <= 0 {
		cfg.ReplayConcurrency = 4
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	g := &Gateway{cfg: cfg, io: io, nsp: io.Of("/"), obs: cfg.Observer, log: cfg.Logger}
	g.replays = make(chan struct{}, cfg.ReplayConcurrency)
	if g.obs == nil {
		g.obs = nopObserver{}
	}
	g.watchers = newLocalWatchers()
	g.presence = newPresence(cfg.PresenceGrace, g.watchers, g.announcePresence)
	g.started = time.Now()
	if cfg.Cluster != nil {
		g.startCluster()
	}
	g.expiry = newExpiry(&g.routines, cfg.Now, g.expire)
	g.lim = newLimiter(cfg.Limits, g.obs, g.log)
	g.nsp.Use(g.admit)
	g.nsp.FilterEvents(g.limitEvents)
	g.nsp.OnConnection(g.onConnection)
	g.nsp.OnDisconnect(g.onDisconnect)
	io.SetRecoveryHooks(g.recoveryHooks())
	g.nsp.On(RequestMarkRead, g.onMarkReadEvent)
	g.nsp.On(RequestMarkAllRead, g.onMarkAllRead)
	g.nsp.On(RequestDelete, g.onDelete)
	g.nsp.On(RequestList, g.onList)
	g.nsp.On(RequestUnreadCount, g.onUnreadCount)
	g.nsp.On(RequestAuthRefresh, g.onAuthRefresh)
	g.nsp.On(RequestPresenceSubscribe, g.onPresenceSubscribe)
	g.nsp.On(RequestPresenceUnsubscribe, g.onPresenceUnsubscribe)
	g.onFeedEvents()
	return g
}

// Close stops the gateway's goroutines and waits for them. The Socket.IO
// server is closed by its owner. It is idempotent.
func (g *Gateway) Close() {
	g.closeOne.Do(func() {
		g.expiry.close()
		if g.cfg.Cluster != nil {
			g.stopCluster()
		}
		g.routines.Wait()
	})
}

// userRoom is the internal name of the seed's room user:{userId}, scoped
// by tenant; tenantRoom holds every socket of a tenant (for API broadcasts). Rooms that API
// callers name are scoped the same way, so no room crosses tenants.
func userRoom(tenant, user string) string { return scopedRoom(tenant, "user:"+user) }
func tenantRoom(tenant string) string     { return scopedRoom(tenant, "") }
func scopedRoom(tenant, room string) string {
	return strconv.Itoa(len(tenant)) + ":" + tenant + ":" + room
}

func connOf(s *socketio.Socket) *conn {
	c, _ := s.Data().(*conn)
	return c
}

// authenticate is the seed's WsJwtGuard: the token comes from the CONNECT
// auth payload, else from the handshake query.
func (g *Gateway) authenticate(s *socketio.Socket) error {
	var hs struct {
		Token any `json:"token"`
		Since any `json:"since"`
	}
	json.Unmarshal(s.Auth(), &hs)
	token, _ := hs.Token.(string)
	if token == "" {
		token = s.Query().Get("token")
	}
	if token == "" {
		return &socketio.ConnectError{Message: "Authentication token required", Data: map[string]string{"code": auth.CodeMissing}}
	}
	id, exp, err := g.cfg.Verifier.Verify(token)
	if err != nil {
		return withCause(&socketio.ConnectError{Message: authMessage(err), Data: map[string]string{"code": auth.Code(err)}}, err)
	}
	c := &conn{socket: s, identity: id, since: parseSince(hs.Since), expiryIndex: -1}
	c.expiresAt = exp
	s.SetData(c)
	return nil
}

// parseSince accepts a non-negative number or numeric string; anything
// else means no replay.
func parseSince(v any) int64 {
	switch x := v.(type) {
	case float64:
		if x >= 0 && x < 1<<53 {
			return int64(x)
		}
	case string:
		if n, err := strconv.ParseInt(x, 10, 64); err == nil && n >= 0 {
			return n
		}
	}
	return -1
}

func (g *Gateway) onConnection(s *socketio.Socket) {
	c := connOf(s)
	id := c.identity
	// Hold live traffic until the socket has its greeting, its replay and
	// its count, so that those come first and in order.
	s.Pause()
	k := userKey{id.TenantID, id.UserID}
	s.Join(userRoom(k.tenant, k.user), tenantRoom(k.tenant))
	// Counted before it is told it is authenticated, as the seed does, and
	// before its expiry is armed: an expiry's disconnect must find it counted.
	g.presence.add(k)
	g.clusterAdd(k)
	g.sendNow(s, EventAuthenticated, authenticated{true, id.UserID, id.Email, s.ID(), g.now()})
	if !c.expiresAt.IsZero() {
		g.expiry.set(c, c.expiresAt)
	}
	if c.since < 0 || s.Recovered() { // a recovered socket got what it missed
		g.resume(s, k, -1)
		return
	}
	// The replay runs on a goroutine of its own: it may wait for its turn
	// at the store and for the client to read each page, while the
	// client's connection goes on being read (pongs, events).
	go func() { g.resume(s, k, g.replay(s, c)) }()
}

// resume ends the catch-up of a new socket: it sends the unread count and
// the live traffic held since Pause, minus what the replay (up to lastSeq,
// -1 if none) already sent.
func (g *Gateway) resume(s *socketio.Socket, k userKey, lastSeq int64) {
	// The count goes last, after the live events held meanwhile, and
	// replaces the counts among them: those were read before it, some
	// even before notifications that the replay already delivered, and
	// would take the client's count backwards. Under the user's order
	// lock no count is emitted between this read and the Resume.
	unlock := g.order.lock(k)
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.StoreTimeout)
	n, err := g.cfg.Store.Counts(ctx, k.tenant, k.user)
	cancel()
	if err != nil {
		g.log.Error("unread count on connect", "err", err)
	}
	// In cluster mode, live copies delivered after the Resume are dropped
	// by the seq guard from here on (see seqGuard).
	defer g.seqConnected(s, k, lastSeq)()
	s.Resume(func(e *socketio.Encoded) bool {
		name, seq := heldEvent(e)
		switch {
		case seq > 0: // notification:new (from another node it has no name): a live copy of what the replay sent?
			return lastSeq >= 0 && seq <= lastSeq
		case name == EventUnreadCount:
			return err == nil
		}
		return false
	})
	if err == nil {
		g.sendNow(s, EventUnreadCount, unreadCount{n, g.now()})
	}
	unlock()
}

// encodeNotificationNew encodes notification:new {notification,
// timestamp} (notificationNew) without reflection; the packet carries the
// notification's seq. ts is a Timestamp, which needs no escaping.
func encodeNotificationNew(n *herald.Notification, ts string) (*socketio.Encoded, error) {
	b := make([]byte, 0, 320+len(n.Title)+len(n.Message)+len(n.Data))
	b, err := n.AppendJSON(append(b, `{"notification":`...))
	if err != nil {
		return nil, err
	}
	b = append(append(append(b, `,"timestamp":"`...), ts...), `"}`...)
	e, err := encodeEvent(EventNotificationNew, json.RawMessage(b))
	if err != nil {
		return nil, err
	}
	return e.WithSeq(n.Seq), nil
}

// heldEvent returns the event name of a packet held during a connection's
// replay ("" if it is not an event), and its seq if it is notification:new;
// the packet carries both, so nothing is decoded.
func heldEvent(e *socketio.Encoded) (name string, seq int64) {
	return e.Event(), e.Seq()
}

func (g *Gateway) onDisconnect(s *socketio.Socket, reason string) {
	c := connOf(s)
	if c == nil {
		return
	}
	g.expiry.remove(c)
	if !s.Parked() { // else the watches wait for a recovery (recovery.go)
		g.unwatchAll(c)
	}
	g.presence.remove(userKey{c.identity.TenantID, c.identity.UserID})
	g.clusterRemove(userKey{c.identity.TenantID, c.identity.UserID})
	g.seqDisconnected(userKey{c.identity.TenantID, c.identity.UserID})
}

// expire disconnects a socket whose token expired without a refresh.
func (g *Gateway) expire(c *conn) {
	g.sendNow(c.socket, EventAuthExpired, errorEvent{Message: "Token expired", Code: auth.CodeExpired})
	g.sendNow(c.socket, EventError, errorEvent{Message: "Token expired", Code: auth.CodeExpired})
	c.socket.Disconnect(false)
}

func (g *Gateway) now() string { return Timestamp(g.cfg.Now()) }

// sendNow emits to one socket ahead of anything held by Pause.
func (g *Gateway) sendNow(s *socketio.Socket, event string, v any) {
	e, err := encodeEvent(event, v)
	if err != nil {
		g.log.Error("encode", "event", event, "err", err)
		return
	}
	g.obs.EventOut(event)
	s.SendNow(e)
}

// emit sends an event to a room of this namespace (internal room name).
func (g *Gateway) emit(room, event string, v any) {
	e, err := encodeEvent(event, v)
	if err != nil {
		g.log.Error("encode", "event", event, "err", err)
		return
	}
	g.obs.EventOut(event)
	g.nsp.To(room).Send(e)
}

// encodeEvent encodes an event with one payload; a json.RawMessage payload
// (already checked by the caller) is used as it is.
func encodeEvent(event string, v any) (*socketio.Encoded, error) {
	raw, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, err
		}
	}
	return socketio.EncodeEvent("/", event, []any{raw})
}
