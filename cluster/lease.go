package cluster

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Leases: each node keeps the hash <p>:node:<id> (addr, sockets, users,
// started) with a TTL and its entry in the sorted set <p>:nodes, scored by
// the lease's expiry in Redis's clock (so the nodes' clocks do not
// matter). A node whose score has passed is dead: any live node may reap
// it, under a short lock, taking its users out of presence.

// refreshLua: ARGV prefix, id, addr, sockets, users, started (unix ms), ttl
// (ms). Returns {1 if the node was not listed (first refresh, or it was
// reaped or Redis lost it), the number of live nodes}.
var refreshScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local key = ARGV[1] .. ':node:' .. ARGV[2]
redis.call('HSET', key, 'addr', ARGV[3], 'sockets', ARGV[4], 'users', ARGV[5], 'started', ARGV[6])
redis.call('PEXPIRE', key, ARGV[7])
local added = redis.call('ZADD', ARGV[1] .. ':nodes', now + tonumber(ARGV[7]), ARGV[2])
return {added, redis.call('ZCOUNT', ARGV[1] .. ':nodes', '(' .. now, '+inf')}`)

// nodesScript: ARGV prefix, then "live" or "dead". Lists the ids of the
// live nodes, or of up to 16 dead ones.
var nodesScript = redis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
if ARGV[2] == 'live' then
  return redis.call('ZRANGEBYSCORE', ARGV[1] .. ':nodes', '(' .. now, '+inf')
end
return redis.call('ZRANGEBYSCORE', ARGV[1] .. ':nodes', '-inf', now, 'LIMIT', 0, 16)`)

// leaseLoop refreshes the lease and reaps dead nodes every LeaseTTL/3,
// and at once when Redis is back after an outage.
func (n *Node) leaseLoop() {
	t := time.NewTicker(n.opts.LeaseTTL / 3)
	defer t.Stop()
	first := true
	for {
		if err := n.refreshLease(first); err != nil {
			msg := err.Error()
			n.leaseErr.Store(&msg)
		} else {
			first = false
			n.leaseErr.Store(nil)
			if err := n.reap(); err != nil && n.ctx.Err() == nil {
				n.log.Warn("cluster: reaping dead nodes", "err", err)
			}
		}
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.leaseNow:
		}
	}
}

func (n *Node) refreshLease(first bool) error {
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.LeaseTTL/3)
	defer cancel()
	users, sockets := n.presence.counts()
	res, err := refreshScript.Run(ctx, n.rdb, nil, n.opts.Prefix, n.id, n.opts.Addr, sockets, users,
		n.started.UnixMilli(), n.opts.LeaseTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return err
	}
	if len(res) != 2 {
		return fmt.Errorf("cluster: lease refresh answered %v", res)
	}
	n.liveNodes.Store(res[1])
	if res[0] == 1 && !first {
		n.log.Warn("cluster: this node was not listed (its lease lapsed or Redis restarted); writing its presence again")
		n.presence.restore()
	}
	return nil
}

// reap takes dead nodes out of the cluster. The lock <p>:reap:<id> (SET
// NX PX) keeps two nodes from reaping the same one at once; each batch is
// one script, so a reaper that dies midway leaves a consistent state that
// the next one finishes.
func (n *Node) reap() error {
	ctx, cancel := context.WithTimeout(n.ctx, n.opts.LeaseTTL/3)
	defer cancel()
	dead, err := nodesScript.Run(ctx, n.rdb, nil, n.opts.Prefix, "dead").StringSlice()
	if err != nil {
		return err
	}
	for _, id := range dead {
		if id == n.id {
			continue
		}
		ok, err := n.rdb.SetNX(ctx, n.opts.Prefix+":reap:"+id, n.id, n.opts.LeaseTTL).Result()
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		for {
			took, err := reapScript.Run(ctx, n.rdb, nil, n.opts.Prefix, id, presenceBatch).Int()
			if err != nil {
				return err
			}
			if took == 0 {
				break
			}
		}
		if err := n.rdb.ZRem(ctx, n.opts.Prefix+":nodes", id).Err(); err != nil {
			return err
		}
		n.rdb.Del(ctx, n.opts.Prefix+":node:"+id)
		n.log.Info("cluster: reaped a dead node", "node", id)
	}
	return nil
}

// removeLease takes this node's lease out (graceful shutdown).
func (n *Node) removeLease(ctx context.Context) error {
	pipe := n.rdb.Pipeline()
	pipe.ZRem(ctx, n.opts.Prefix+":nodes", n.id)
	pipe.Del(ctx, n.opts.Prefix+":node:"+n.id, n.opts.Prefix+":nu:"+n.id)
	_, err := pipe.Exec(ctx)
	return err
}

// NodeInfo is a live node's lease.
type NodeInfo struct {
	ID      string
	Addr    string
	Sockets int
	Users   int
	Started time.Time
}

// Nodes lists the live nodes with the counts of their last refresh (at
// most LeaseTTL/3 old).
func (n *Node) Nodes(ctx context.Context) ([]NodeInfo, error) {
	ids, err := nodesScript.Run(ctx, n.rdb, nil, n.opts.Prefix, "live").StringSlice()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	pipe := n.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = pipe.HGetAll(ctx, n.opts.Prefix+":node:"+id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([]NodeInfo, 0, len(ids))
	for i, id := range ids {
		h := cmds[i].Val()
		if len(h) == 0 {
			continue // expired between the two reads
		}
		sockets, _ := strconv.Atoi(h["sockets"])
		users, _ := strconv.Atoi(h["users"])
		started, _ := strconv.ParseInt(h["started"], 10, 64)
		out = append(out, NodeInfo{ID: id, Addr: h["addr"], Sockets: sockets, Users: users, Started: time.UnixMilli(started)})
	}
	return out, nil
}

// Totals are cluster-wide counts.
type Totals struct {
	Nodes   int // live nodes
	Users   int // users with a socket on some node, each counted once
	Sockets int // sockets on every node
}

// Totals returns the cluster-wide counts, e.g. for /v1/stats. Users and
// Sockets are kept by the presence scripts, so they are exact at once; a
// dead node's count until it is reaped.
func (n *Node) Totals(ctx context.Context) (Totals, error) {
	ids, err := nodesScript.Run(ctx, n.rdb, nil, n.opts.Prefix, "live").StringSlice()
	if err != nil {
		return Totals{}, err
	}
	vals, err := n.rdb.MGet(ctx, n.opts.Prefix+":users", n.opts.Prefix+":sockets").Result()
	if err != nil {
		return Totals{}, err
	}
	t := Totals{Nodes: len(ids)}
	if s, ok := vals[0].(string); ok {
		t.Users, _ = strconv.Atoi(s)
	}
	if s, ok := vals[1].(string); ok {
		t.Sockets, _ = strconv.Atoi(s)
	}
	return t, nil
}
