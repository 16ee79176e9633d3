package main

import (
	"context"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"herald/cluster"
	"herald/emitter"
	"herald/forward"
	"herald/gateway"
	"herald/socketio"
)

// clusterNode is cluster mode (REDIS_URL): this process's Redis client and
// its cluster.Node. The gateway is set once it exists; the node calls it
// back after a Redis outage.
type clusterNode struct {
	rdb     *redis.Client
	node    *cluster.Node
	gateway atomic.Pointer[gateway.Gateway]
	emitter *emitter.Subscriber // nil without --redis-emitter-key
}

// newClusterNode joins the cluster of cfg.RedisURL (checked by parseServe).
// It does not wait for Redis: the node serves its own sockets meanwhile.
func newClusterNode(cfg serveConfig, reg prometheus.Registerer, log *slog.Logger) *clusterNode {
	opts, _ := redis.ParseURL(cfg.RedisURL)
	c := &clusterNode{rdb: redis.NewClient(opts)}
	c.node = cluster.New(c.rdb, cluster.Options{
		Addr:          cfg.AdvertiseAddr,
		PresenceGrace: cfg.PresenceGrace,
		LeaseTTL:      cfg.ClusterLease,
		Logger:        log,
		Sequenced: func(room string, e *socketio.Encoded, deliver func(*socketio.Encoded)) {
			if g := c.gateway.Load(); g != nil {
				g.Sequenced(room, e, deliver)
				return
			}
			deliver(e)
		},
		OnResync: func() {
			if g := c.gateway.Load(); g != nil {
				g.Resync()
			}
		},
	})
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_cluster_messages_published_total",
			Help: "Messages this node published to other nodes over Redis (one per target room)."},
			func() float64 { return float64(c.node.Stats().Published) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_cluster_messages_received_total",
			Help: "Messages from other nodes that reached this node over Redis (broadcasts and presence transitions)."},
			func() float64 { return float64(c.node.Stats().Received) }),
	)
	c.startEmitter(cfg, reg, log)
	return c
}

// newForwarder returns the forwarder of this node's sessions (see package
// forward): sids name this node, requests for other nodes' sessions go to
// the address in their lease. Its counters are
// herald_forwarded_requests_total{outcome}. Only with --advertise-addr.
func (c *clusterNode) newForwarder(cfg serveConfig, reg prometheus.Registerer) *forward.Forwarder {
	fw, err := forward.New(forward.Options{
		Tag: c.node.ID(),
		Peers: func(ctx context.Context) (map[string]string, error) {
			nodes, err := c.node.Nodes(ctx)
			if err != nil {
				return nil, err
			}
			m := make(map[string]string, len(nodes))
			for _, n := range nodes {
				m[n.ID] = n.Addr
			}
			return m, nil
		},
		// A long-poll waits up to the ping interval for its first byte.
		ResponseHeaderTimeout: cfg.PingInterval + cfg.PingTimeout,
	})
	if err != nil {
		panic(err) // a node id is always a valid tag
	}
	help := "Requests for a session of another node, by outcome: forwarded to the owner, owner_gone (no live lease), unreachable (dial or proxy error), loop (already forwarded; answered as unknown)."
	for outcome, read := range map[string]func(forward.Stats) uint64{
		forward.OutcomeForwarded:   func(s forward.Stats) uint64 { return s.Forwarded },
		forward.OutcomeOwnerGone:   func(s forward.Stats) uint64 { return s.OwnerGone },
		forward.OutcomeUnreachable: func(s forward.Stats) uint64 { return s.Unreachable },
		forward.OutcomeLoop:        func(s forward.Stats) uint64 { return s.Loop },
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_forwarded_requests_total", Help: help,
			ConstLabels: prometheus.Labels{"outcome": outcome}}, func() float64 { return float64(read(fw.Stats())) }))
	}
	return fw
}

// close leaves the cluster (after the sockets are closed): this node's
// users leave presence, its lease goes; then the Redis client closes.
func (c *clusterNode) close(ctx context.Context, log *slog.Logger) {
	if c.emitter != nil {
		c.emitter.Close()
	}
	if err := c.node.Close(ctx); err != nil {
		log.Warn("leaving the cluster", "err", err)
	}
	c.rdb.Close()
}
