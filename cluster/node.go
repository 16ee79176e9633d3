// Package cluster lets several herald nodes share rooms, broadcasts,
// presence and stats over one Redis (not Redis Cluster).
//
// Routing is by room: a node subscribes to a room's channel while it holds
// a socket in that room and publishes a broadcast once per target room, so
// a node receives only what some socket of its own will get (and, for a few
// seconds after its last socket of a room left, that room's messages).
// Redis holds nothing that the nodes cannot rebuild: when it restarts, each
// node resubscribes, rewrites its presence and its lease, and calls
// Options.OnResync so that the application can replay from its store what
// its sockets missed.
//
// Channels, all starting with Options.Prefix: "<p>:<nsp>:r:<room>" per
// room, "<p>:<nsp>:all" for broadcasts to every socket, "<p>:p:<user>" for
// a user's presence transitions. Keys: see Presence and the leases in
// lease.go. A broadcast published while Redis is down is lost to the other
// nodes (at most once); what the application stored it replays on
// OnResync.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"herald/socketio"
)

// Options configure a Node. Every zero value means the default given.
type Options struct {
	// Prefix starts every Redis key and channel of this cluster. Zero
	// means "herald".
	Prefix string
	// Addr is the address other nodes reach this node at, published in
	// its lease (Nodes); empty is allowed.
	Addr string
	// Shards is the number of Pub/Sub connections channels are spread
	// over. Zero means 4; at most 64.
	Shards int
	// SubscribeTimeout bounds how long Adapter.Add waits for Redis to
	// confirm a new room subscription. Zero means 2s. Add does not wait
	// while Redis is down.
	SubscribeTimeout time.Duration
	// UnsubscribeDelay is how long a channel stays subscribed after its
	// last local socket (or watcher) left, so that a page reload does not
	// cost an UNSUBSCRIBE and a SUBSCRIBE. Zero means 5s.
	UnsubscribeDelay time.Duration
	// PublishTimeout bounds one batch of publishes to Redis. Zero means 2s.
	PublishTimeout time.Duration
	// PublishBuffer is the byte budget of the messages waiting to be
	// published; a message that does not fit is dropped and counted in
	// Stats.PublishErrors. Zero means 16 MiB.
	PublishBuffer int
	// LeaseTTL is how long this node's lease lives without a refresh; it
	// is refreshed every LeaseTTL/3, and a node whose lease lapsed is
	// reaped by the others within about LeaseTTL/3 more. Zero means 10s;
	// at least 300ms.
	LeaseTTL time.Duration
	// PresenceGrace is how long a user whose last local socket left still
	// counts as online on this node, so that a page reload does not flap.
	// Zero means 5s.
	PresenceGrace time.Duration
	// OnResync runs (on its own goroutine) when Redis is reachable again
	// after this node lost it, once every subscription is back: broadcasts
	// published meanwhile were lost to this node's sockets. Nil means none.
	OnResync func()
	// Sequenced, when set, takes over the local delivery of each packet
	// that has a seq (socketio.Encoded.Seq > 0) and one target room,
	// whether this node broadcast it or another did: it is called instead
	// of delivering e to the room's local sockets, with deliver to do so
	// (for any packets, in order, before it returns). So the application
	// can drop what its sockets already got and fill gaps from its store.
	// It runs on the broadcaster's goroutine or a Pub/Sub one: it may
	// wait briefly (a store read) but must not broadcast. Nil means none.
	Sequenced func(room string, e *socketio.Encoded, deliver func(*socketio.Encoded))
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	pingEvery time.Duration // zero means the constant pingEvery; tests shorten it
}

func (o *Options) setDefaults() {
	if o.Prefix == "" {
		o.Prefix = "herald"
	}
	if o.Shards <= 0 {
		o.Shards = 4
	}
	o.Shards = min(o.Shards, 64)
	if o.SubscribeTimeout <= 0 {
		o.SubscribeTimeout = 2 * time.Second
	}
	if o.UnsubscribeDelay <= 0 {
		o.UnsubscribeDelay = 5 * time.Second
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 2 * time.Second
	}
	if o.PublishBuffer <= 0 {
		o.PublishBuffer = 16 << 20
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 10 * time.Second
	}
	o.LeaseTTL = max(o.LeaseTTL, 300*time.Millisecond)
	if o.PresenceGrace <= 0 {
		o.PresenceGrace = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.pingEvery <= 0 {
		o.pingEvery = pingEvery
	}
}

// Node is this process's member of the cluster: its Pub/Sub connections,
// its lease, its presence and its counters. Make one per process with New
// and one Adapter per namespace with NewAdapter. Safe for concurrent use.
type Node struct {
	opts    Options
	rdb     *redis.Client
	id      string
	started time.Time
	log     *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	shards   []*shard
	pub      *publisher
	presence *Presence

	stats counters

	// Health: shardsDown counts shards without a live connection;
	// resync is set when any was lost, until all are back.
	shardsDown atomic.Int32
	resync     atomic.Bool
	leaseErr   atomic.Pointer[string]
	// liveNodes is the number of live nodes at the last lease refresh
	// (0 before the first): Adapter.Broadcast picks the cheaper routing
	// of a broadcast to several rooms with it.
	liveNodes atomic.Int64
	leaseNow  chan struct{} // refresh the lease at once
	closed    atomic.Bool
}

// New starts a node on rdb, which the caller keeps and closes after
// Node.Close. rdb's retries (redis.Options.MaxRetries) can publish a
// broadcast twice when a connection breaks after Redis took it; -1 makes
// broadcasts at most once instead. It does not wait for Redis: a node started while Redis is
// down serves its local sockets, reports itself unhealthy and joins the
// cluster (then calls OnResync) when Redis answers.
func New(rdb *redis.Client, opts Options) *Node {
	opts.setDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{opts: opts, rdb: rdb, id: newNodeID(), started: time.Now(), log: opts.Logger, ctx: ctx, cancel: cancel, leaseNow: make(chan struct{}, 1)}
	n.pub = newPublisher(n)
	n.presence = newPresence(n)
	n.shardsDown.Store(int32(opts.Shards))
	for i := 0; i < opts.Shards; i++ {
		n.shards = append(n.shards, newShard(n))
	}
	for _, sh := range n.shards {
		n.goFunc(sh.receive)
		n.goFunc(sh.write)
	}
	n.goFunc(n.pub.run)
	n.goFunc(n.presence.run)
	n.goFunc(n.leaseLoop)
	return n
}

func newNodeID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// goFunc runs fn on a goroutine that Close waits for.
func (n *Node) goFunc(fn func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		fn()
	}()
}

// ID returns the node's random id, as listed by Nodes.
func (n *Node) ID() string { return n.id }

// Presence returns the node's cluster-wide presence.
func (n *Node) Presence() *Presence { return n.presence }

// Health reports whether the node is connected to the cluster; when it is
// not, reason says why (for /readyz: the node still serves its own sockets).
func (n *Node) Health() (ok bool, reason string) {
	if d := n.shardsDown.Load(); d > 0 {
		return false, "redis: pub/sub connection lost"
	}
	if e := n.leaseErr.Load(); e != nil {
		return false, "redis: lease refresh failed: " + *e
	}
	return true, ""
}

// Stats are the node's counters since it started. No field grows with the
// number of users or rooms.
type Stats struct {
	// Published counts broadcast messages this node published (one per
	// target room channel).
	Published uint64
	// PublishErrors counts messages that were not published: Redis failed
	// or the PublishBuffer was full.
	PublishErrors uint64
	// Received counts messages from other nodes that reached this node:
	// broadcasts and presence transitions.
	Received uint64
	// Echoes counts this node's own broadcasts that Redis sent back
	// (ignored: the node delivered them locally when it published).
	Echoes uint64
	// Invalid counts messages dropped because they did not decode.
	Invalid uint64
}

type counters struct {
	published, publishErrors, received, echoes, invalid atomic.Uint64
}

// Stats returns a snapshot of the counters, e.g. for
// herald_cluster_messages_published_total (Published) and
// herald_cluster_messages_received_total (Received).
func (n *Node) Stats() Stats {
	return Stats{
		Published:     n.stats.published.Load(),
		PublishErrors: n.stats.publishErrors.Load(),
		Received:      n.stats.received.Load(),
		Echoes:        n.stats.echoes.Load(),
		Invalid:       n.stats.invalid.Load(),
	}
}

// shardDown records that a shard lost its connection.
func (n *Node) shardDown() { n.shardsDown.Add(1) }

// shardUp records that a shard is connected with every subscription
// confirmed; the last one back after a loss starts the resync.
func (n *Node) shardUp() {
	if n.shardsDown.Add(-1) == 0 && n.resync.CompareAndSwap(true, false) {
		n.log.Info("cluster: redis is back, resyncing")
		select {
		case n.leaseNow <- struct{}{}:
		default:
		}
		n.presence.restore()
		n.goFunc(n.presence.recheck)
		if n.opts.OnResync != nil {
			go n.opts.OnResync()
		}
	}
}

// Close leaves the cluster: this node's users leave the presence sets at
// once (watchers elsewhere get offline for those no longer online
// anywhere), its lease is removed, and its connections close. Pending
// publishes get up to ctx to go out. Close the socketio.Server first.
func (n *Node) Close(ctx context.Context) error {
	if !n.closed.CompareAndSwap(false, true) {
		return errors.New("cluster: node already closed")
	}
	n.pub.flush(ctx)
	err := n.presence.leaveAll(ctx)
	if e := n.removeLease(ctx); err == nil {
		err = e
	}
	n.stop()
	return err
}

// stop ends the node's goroutines and connections without telling Redis:
// to other nodes it looks like a crash (its lease lapses and is reaped).
func (n *Node) stop() {
	n.closed.Store(true)
	n.cancel()
	for _, sh := range n.shards {
		sh.close()
	}
	n.wg.Wait()
}
