package gateway

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"herald/cluster"
	"herald/socketio"
)

// Cluster mode (Config.Cluster): the rooms go through the node's adapter
// (set up by the caller on the Socket.IO server), and presence goes
// cluster-wide through the node's Presence. This node's presence still
// counts its own sockets (limits, metrics); who is online, and the
// user:online / user:offline transitions, come from the cluster:
//
//   - a socket's connect and disconnect are told to cluster.Presence
//     (Add/Remove), which decides the transitions once for the cluster;
//   - watching a user subscribes this node to that user's presence channel
//     (clusterWatchers: the first local watch is a Watch, the last unwatch
//     an Unwatch), and each transition reaches the local watchers
//     (deliverTransition), in presence order with the subscribe acks.

// clusterQueryTimeout bounds a presence read of Redis made for a request.
const clusterQueryTimeout = 2 * time.Second

// transitionQueue bounds the transitions waiting for their announcement;
// the Pub/Sub goroutine that tells them waits while it is full.
const transitionQueue = 4096

// clusterKey is the opaque key of a user in the cluster's presence, scoped
// by tenant like the rooms.
func clusterKey(k userKey) string { return scopedRoom(k.tenant, k.user) }

// parseClusterKey inverts clusterKey; ok is false for a key it did not make.
func parseClusterKey(s string) (k userKey, ok bool) {
	n, rest, found := strings.Cut(s, ":")
	size, err := strconv.Atoi(n)
	if !found || err != nil || size < 0 || size >= len(rest) || rest[size] != ':' {
		return userKey{}, false
	}
	return userKey{rest[:size], rest[size+1:]}, true
}

// clusterWatchers is the watcherRegistry of a cluster node: the local
// registry, plus the node's subscription to the presence channel of each
// user watched here.
type clusterWatchers struct {
	*localWatchers
	presence *cluster.Presence
}

func (c clusterWatchers) watch(k userKey, w *conn) bool {
	first := c.localWatchers.watch(k, w)
	if first {
		c.presence.Watch(clusterKey(k))
	}
	return first
}

func (c clusterWatchers) unwatch(k userKey, w *conn) bool {
	last := c.localWatchers.unwatch(k, w)
	if last {
		c.presence.Unwatch(clusterKey(k))
	}
	return last
}

type transition struct {
	k      userKey
	online bool
}

// startCluster hooks the gateway to cfg.Cluster; New calls it before the
// namespace serves.
func (g *Gateway) startCluster() {
	node := g.cfg.Cluster
	p := node.Presence()
	g.watchers = clusterWatchers{newLocalWatchers(), p}
	// The local presence decides nothing: the cluster does.
	g.presence = newPresence(g.cfg.PresenceGrace, g.watchers, nil)
	g.transitions = make(chan transition, transitionQueue)
	g.clusterDone = make(chan struct{})
	p.OnTransition(func(key string, online bool) {
		if k, ok := parseClusterKey(key); ok {
			select {
			case g.transitions <- transition{k, online}:
			case <-g.clusterDone:
			}
		}
	})
	g.routines.Go(func() {
		for {
			select {
			case t := <-g.transitions:
				g.deliverTransition(t.k, t.online)
			case <-g.clusterDone:
				return
			}
		}
	})
}

// deliverTransition announces a cluster transition of k to its local
// watchers, in presence order (see presence.tell).
func (g *Gateway) deliverTransition(k userKey, online bool) {
	unlock := g.presence.order.lock(k)
	to := g.watchers.watchers(nil, k)
	if len(to) == 0 {
		unlock()
		return
	}
	t := g.presence.seq.ticket()
	unlock()
	g.presence.seq.wait(t)
	g.announcePresence(k, online, to)
	g.presence.seq.done()
}

// stopCluster ends the announcements; the node is closed by its owner.
func (g *Gateway) stopCluster() {
	close(g.clusterDone)
}

// clusterAdd and clusterRemove tell the cluster of a local socket.
func (g *Gateway) clusterAdd(k userKey) {
	if g.cfg.Cluster != nil {
		g.cfg.Cluster.Presence().Add(clusterKey(k))
	}
}

func (g *Gateway) clusterRemove(k userKey) {
	if g.cfg.Cluster != nil {
		g.cfg.Cluster.Presence().Remove(clusterKey(k))
	}
}

// clusterSnapshot prepares a subscribe's ack in cluster mode: it watches
// keys (so that no transition after the read is missed; Watch returns once
// subscribed) and reads which are online in the cluster. release drops
// those watches, after the registry took its own. Outside cluster mode, or
// when the read fails, online is nil: the local presence answers.
func (g *Gateway) clusterSnapshot(keys []userKey) (online []bool, release func()) {
	if g.cfg.Cluster == nil {
		return nil, func() {}
	}
	p := g.cfg.Cluster.Presence()
	ck := clusterKeys(keys)
	for _, k := range ck {
		p.Watch(k)
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterQueryTimeout)
	defer cancel()
	online, err := p.Query(ctx, ck)
	if err != nil {
		g.log.Warn("cluster presence read", "err", err)
		online = nil
	}
	return online, func() {
		for _, k := range ck {
			p.Unwatch(k)
		}
	}
}

func clusterKeys(keys []userKey) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = clusterKey(k)
	}
	return out
}

// UserPresence reports whether the user is online and their sockets: on
// every node in cluster mode, else on this one.
func (g *Gateway) UserPresence(ctx context.Context, tenant, userID string) (online bool, sockets int, err error) {
	if g.cfg.Cluster == nil {
		n := g.UserSocketCount(tenant, userID)
		return n > 0, n, nil
	}
	ctx, cancel := context.WithTimeout(ctx, clusterQueryTimeout)
	defer cancel()
	return g.cfg.Cluster.Presence().Online(ctx, clusterKey(userKey{tenant, userID}))
}

// QueryOnline returns those of the tenant's users that are online (on any
// node in cluster mode), in the order given.
func (g *Gateway) QueryOnline(ctx context.Context, tenant string, userIDs []string) ([]string, error) {
	if g.cfg.Cluster == nil {
		return g.OnlineUsers(tenant, userIDs), nil
	}
	keys := make([]string, len(userIDs))
	for i, u := range userIDs {
		keys[i] = clusterKey(userKey{tenant, u})
	}
	ctx, cancel := context.WithTimeout(ctx, clusterQueryTimeout)
	defer cancel()
	online, err := g.cfg.Cluster.Presence().Query(ctx, keys)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(userIDs))
	for i, u := range userIDs {
		if online[i] {
			out = append(out, u)
		}
	}
	return out, nil
}

// ClusterStats are the counts of GET /v1/stats.
type ClusterStats struct {
	Nodes   int
	Users   int
	Sockets int
}

// Stats returns the connected users and sockets of every node in cluster
// mode, else of this one.
func (g *Gateway) Stats(ctx context.Context) (ClusterStats, error) {
	if g.cfg.Cluster == nil {
		users, sockets := g.Counts()
		return ClusterStats{1, users, sockets}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, clusterQueryTimeout)
	defer cancel()
	t, err := g.cfg.Cluster.Totals(ctx)
	return ClusterStats{t.Nodes, t.Users, t.Sockets}, err
}

// NodeInfo is a live node, as GET /v1/nodes lists it.
type NodeInfo struct {
	ID      string    `json:"id"`
	Addr    string    `json:"addr"`
	Users   int       `json:"users"`
	Sockets int       `json:"sockets"`
	Started time.Time `json:"started"`
}

// Nodes lists the live nodes with their counts (at most a lease refresh
// old); outside cluster mode, this node alone (its id is "local").
func (g *Gateway) Nodes(ctx context.Context) ([]NodeInfo, error) {
	if g.cfg.Cluster == nil {
		users, sockets := g.Counts()
		return []NodeInfo{{ID: "local", Addr: g.cfg.Addr, Users: users, Sockets: sockets, Started: g.started}}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, clusterQueryTimeout)
	defer cancel()
	nodes, err := g.cfg.Cluster.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]NodeInfo, len(nodes))
	for i, n := range nodes {
		out[i] = NodeInfo{n.ID, n.Addr, n.Users, n.Sockets, n.Started}
	}
	return out, nil
}

// Gap-free delivery across nodes. Each node keeps, per user with local
// sockets, the last notification seq delivered to them (seqGuard). Every
// notification:new bound for a user's room passes through Sequenced (the
// node's cluster.Options.Sequenced), whichever node created it: a seq at
// or below the last is a duplicate and is dropped; a seq that jumps
// (seq > last+1: a message lost while Redis was away, or one created on
// another node that has not arrived yet) first gets the missing ones from
// the store. After a Redis outage, Resync runs the same check against
// the store for every tracked user. A user whose position is not known
// yet (no replay, nothing delivered) starts at the first seq delivered.
type seqGuard struct {
	order userOrder // one user's deliveries at a time
	mu    sync.Mutex
	last  map[userKey]int64
}

func (q *seqGuard) get(k userKey) (int64, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	v, ok := q.last[k]
	return v, ok
}

// raise records that k's sockets have everything up to seq.
func (q *seqGuard) raise(k userKey, seq int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.last == nil {
		q.last = make(map[userKey]int64)
	}
	if v, ok := q.last[k]; !ok || seq > v {
		q.last[k] = seq
	}
}

func (q *seqGuard) forget(k userKey) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.last, k)
}

func (q *seqGuard) users() []userKey {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]userKey, 0, len(q.last))
	for k := range q.last {
		out = append(out, k)
	}
	return out
}

// userOfRoom returns the user whose room is room, if it is one.
func userOfRoom(room string) (userKey, bool) {
	k, ok := parseClusterKey(room)
	if !ok || !strings.HasPrefix(k.user, "user:") {
		return userKey{}, false
	}
	return userKey{k.tenant, strings.TrimPrefix(k.user, "user:")}, true
}

// Sequenced is the gateway's cluster.Options.Sequenced: it delivers a
// packet with a seq bound for room to the local sockets, without
// duplicates and without gaps (see seqGuard).
func (g *Gateway) Sequenced(room string, e *socketio.Encoded, deliver func(*socketio.Encoded)) {
	k, ok := userOfRoom(room)
	if !ok {
		deliver(e)
		return
	}
	unlock := g.seqs.order.lock(k)
	defer unlock()
	seq := e.Seq()
	last, known := g.seqs.get(k)
	switch {
	case known && seq <= last:
		return // delivered already (replay, gap fill or the other path)
	case known && seq > last+1:
		last = g.fill(k, last, seq-1, deliver)
	}
	if g.presence.socketsOf(k) > 0 {
		g.seqs.raise(k, max(last, seq))
	}
	deliver(e)
}

// fill delivers k's notifications with after < seq <= upTo from the store,
// oldest first, at most Config.ReplayLimit, and returns the last seq
// delivered (after if none). The caller holds k's seqGuard lock.
func (g *Gateway) fill(k userKey, after, upTo int64, deliver func(*socketio.Encoded)) int64 {
	for sent := 0; after < upTo && sent < g.cfg.ReplayLimit; {
		want := int(min(int64(replayBatch), upTo-after, int64(g.cfg.ReplayLimit-sent)))
		ctx, cancel := context.WithTimeout(context.Background(), g.cfg.StoreTimeout)
		batch, err := g.cfg.Store.Since(ctx, k.tenant, k.user, after, want)
		cancel()
		if err != nil {
			g.log.Error("cluster gap fill", "err", err)
			return after
		}
		ts := g.now()
		for _, n := range batch {
			if n.Seq > upTo {
				return after
			}
			if e, err := encodeNotificationNew(&n, ts); err == nil {
				g.obs.EventOut(EventNotificationNew)
				deliver(e)
			}
			after = n.Seq
		}
		sent += len(batch)
		if len(batch) < want {
			break
		}
	}
	return after
}

// Resync is the gateway's cluster.Options.OnResync: after Redis came back,
// each tracked local user gets from the store what was created while the
// node could not hear the others (the position check), then their counts.
func (g *Gateway) Resync() {
	for _, k := range g.seqs.users() {
		room := userRoom(k.tenant, k.user)
		deliver := func(e *socketio.Encoded) {
			g.nsp.Adapter().Broadcast(e, socketio.BroadcastOptions{Rooms: []string{room}, Local: true})
		}
		unlock := g.seqs.order.lock(k)
		if last, ok := g.seqs.get(k); ok {
			if got := g.fill(k, last, 1<<62, deliver); got > last {
				g.seqs.raise(k, got)
				ctx, cancel := context.WithTimeout(context.Background(), g.cfg.StoreTimeout)
				if n, err := g.cfg.Store.Counts(ctx, k.tenant, k.user); err == nil {
					if c, err := encodeEvent(EventUnreadCount, unreadCount{n, g.now()}); err == nil {
						deliver(c)
					}
				}
				cancel()
			}
		}
		unlock()
	}
}

// seqConnected records a new socket's replay position (lastSeq, -1 if it
// did not replay) under k's seqGuard lock, which it returns the release of:
// the caller resumes the socket's live traffic meanwhile, so that every
// live copy of what the replay sent is either held and filtered out, or
// arrives after the guard knows it.
//
// When the new socket is ahead of the others (they have up to the guard's
// last), the others first get from the store what lies between: the
// guard then drops the live copies of those, which they may not have
// received yet.
func (g *Gateway) seqConnected(s *socketio.Socket, k userKey, lastSeq int64) (unlock func()) {
	if g.cfg.Cluster == nil || lastSeq < 0 {
		return func() {}
	}
	unlock = g.seqs.order.lock(k)
	if last, known := g.seqs.get(k); known && lastSeq > last {
		opts := socketio.BroadcastOptions{Rooms: []string{userRoom(k.tenant, k.user)}, Except: []string{s.ID()}, Local: true}
		g.fill(k, last, lastSeq, func(e *socketio.Encoded) { g.nsp.Adapter().Broadcast(e, opts) })
	}
	g.seqs.raise(k, lastSeq)
	return unlock
}

func (g *Gateway) seqDisconnected(k userKey) {
	if g.cfg.Cluster != nil && g.presence.socketsOf(k) == 0 {
		unlock := g.seqs.order.lock(k)
		if g.presence.socketsOf(k) == 0 {
			g.seqs.forget(k)
		}
		unlock()
	}
}
