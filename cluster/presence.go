package cluster

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// presenceBatch caps the users written by one script call.
const presenceBatch = 256

// presenceLua sets one user's state on one node in Redis, atomically with
// the transitions it causes. Keys (one Redis, not Redis Cluster):
//
//	<p>:s:<user>   hash node → sockets of the user on that node
//	<p>:o:<user>   set of nodes where the user is online (sockets, or grace)
//	<p>:nu:<node>  set of users a node has in either of the above
//	<p>:users      users with a socket anywhere; <p>:sockets, sockets
//
// When <p>:o:<user> goes from empty to not, "online" is published on
// <p>:p:<user>, and "offline" the other way: once per transition for the
// whole cluster, since scripts run one at a time. A node that rewrites a
// state it could not write before (retry) announces offline whenever the
// set is empty: after a Redis restart the set no longer knows the node,
// and the watchers must still learn that the user left meanwhile.
const presenceLua = `
local function apply(p, node, user, count, online, retry)
  local skey, okey = p..':s:'..user, p..':o:'..user
  local old = tonumber(redis.call('HGET', skey, node) or '0')
  if count > 0 then redis.call('HSET', skey, node, count) else redis.call('HDEL', skey, node) end
  if count ~= old then
    redis.call('INCRBY', p..':sockets', count - old)
    if old == 0 and redis.call('HLEN', skey) == 1 then redis.call('INCR', p..':users') end
    if count == 0 and redis.call('HLEN', skey) == 0 then redis.call('DECR', p..':users') end
  end
  if online then
    redis.call('SADD', p..':nu:'..node, user)
    if redis.call('SADD', okey, node) == 1 and redis.call('SCARD', okey) == 1 then
      redis.call('PUBLISH', p..':p:'..user, 'online')
    end
  else
    redis.call('SREM', p..':nu:'..node, user)
    if (redis.call('SREM', okey, node) == 1 or retry) and redis.call('SCARD', okey) == 0 then
      redis.call('PUBLISH', p..':p:'..user, 'offline')
    end
  end
end
`

// setScript: ARGV prefix, node, then (user, sockets, online 0|1, retry
// 0|1) per user.
var setScript = redis.NewScript(presenceLua + `
for i = 3, #ARGV, 4 do
  apply(ARGV[1], ARGV[2], ARGV[i], tonumber(ARGV[i+1]), ARGV[i+2] == '1', ARGV[i+3] == '1')
end
return 0`)

// reapScript: ARGV prefix, dead node, batch size. Takes up to a batch of
// the dead node's users out of presence and returns how many it took.
var reapScript = redis.NewScript(presenceLua + `
local users = redis.call('SPOP', ARGV[1]..':nu:'..ARGV[2], tonumber(ARGV[3]))
for _, u in ipairs(users) do apply(ARGV[1], ARGV[2], u, 0, false, false) end
return #users`)

// Presence is the cluster-wide presence of users. A user is online while
// some node holds a socket of theirs, or did less than PresenceGrace ago.
// The node keeps its own users in memory (the truth) and writes changes
// to Redis from one goroutine, coalescing them per user, so Add and Remove
// never wait for Redis; after Redis comes back the node writes its users
// again. User keys are opaque strings (the gateway scopes them by tenant).
type Presence struct {
	n          *Node
	transition atomic.Pointer[func(userKey string, online bool)]

	mu      sync.Mutex
	users   map[string]*localUser
	sockets int                 // local sockets, sum over users
	dirty   map[string]struct{} // users whose state Redis does not have yet
	watched map[string]*watchedUser
	scan    bool // reconcile Redis's user set of this node
	kick    chan struct{}

	writing sync.Mutex // one batch in Redis at a time, in order
}

type localUser struct {
	sockets int
	online  bool
	retry   bool        // a write of this user's state failed
	leaving *time.Timer // grace period after the last socket left
}

func newPresence(n *Node) *Presence {
	return &Presence{n: n, users: make(map[string]*localUser), dirty: make(map[string]struct{}), watched: make(map[string]*watchedUser), kick: make(chan struct{}, 1)}
}

// OnTransition sets the function told of the online and offline
// transitions of watched users (see Watch), cluster-wide and once each:
// for one user, calls alternate between online and offline. It runs on a
// Pub/Sub goroutine and must not block.
func (p *Presence) OnTransition(fn func(userKey string, online bool)) { p.transition.Store(&fn) }

// Add counts a new local socket of the user; the first one makes the user
// online on this node.
func (p *Presence) Add(userKey string) {
	p.mu.Lock()
	u := p.users[userKey]
	if u == nil {
		u = &localUser{}
		p.users[userKey] = u
	}
	u.sockets++
	u.online = true
	if u.leaving != nil {
		u.leaving.Stop()
		u.leaving = nil
	}
	p.sockets++
	p.markLocked(userKey)
	p.mu.Unlock()
}

// Remove uncounts a local socket of the user. When it was the last one,
// the user stays online on this node for PresenceGrace unless a socket of
// theirs comes back meanwhile.
func (p *Presence) Remove(userKey string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u := p.users[userKey]
	if u == nil || u.sockets == 0 {
		return
	}
	u.sockets--
	p.sockets--
	p.markLocked(userKey)
	if u.sockets > 0 {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(p.n.opts.PresenceGrace, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if u.leaving == t && u.sockets == 0 {
			u.leaving = nil
			u.online = false
			p.markLocked(userKey)
		}
	})
	u.leaving = t
}

// markLocked queues the user's state for Redis; the caller holds p.mu.
func (p *Presence) markLocked(userKey string) {
	p.dirty[userKey] = struct{}{}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// counts returns this node's users with a socket, and its sockets.
func (p *Presence) counts() (users, sockets int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, u := range p.users {
		if u.sockets > 0 {
			users++
		}
	}
	return users, p.sockets
}

// Online reports whether the user is online anywhere in the cluster and
// their sockets on every node.
func (p *Presence) Online(ctx context.Context, userKey string) (online bool, sockets int, err error) {
	pipe := p.n.rdb.Pipeline()
	exists := pipe.Exists(ctx, p.key("o", userKey))
	counts := pipe.HVals(ctx, p.key("s", userKey))
	if _, err := pipe.Exec(ctx); err != nil {
		return false, 0, err
	}
	for _, c := range counts.Val() {
		v, _ := strconv.Atoi(c)
		sockets += v
	}
	return exists.Val() > 0, sockets, nil
}

// Query reports for each user whether they are online in the cluster.
func (p *Presence) Query(ctx context.Context, userKeys []string) ([]bool, error) {
	pipe := p.n.rdb.Pipeline()
	cmds := make([]*redis.IntCmd, len(userKeys))
	for i, k := range userKeys {
		cmds[i] = pipe.Exists(ctx, p.key("o", k))
	}
	if len(userKeys) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, err
		}
	}
	out := make([]bool, len(userKeys))
	for i, c := range cmds {
		out[i] = c.Val() > 0
	}
	return out, nil
}

// Watch subscribes this node to the user's transitions (see
// OnTransition) and returns once Redis confirmed it (at most
// SubscribeTimeout; at once while Redis is down). Watches are counted:
// each needs an Unwatch, and the last Unwatch unsubscribes after
// UnsubscribeDelay.
func (p *Presence) Watch(userKey string) {
	p.mu.Lock()
	w := p.watched[userKey]
	if w == nil {
		w = &watchedUser{}
		p.watched[userKey] = w
	}
	w.refs++
	p.mu.Unlock()
	p.n.wait(p.n.acquire(p.key("p", userKey), func(payload string) { p.received(userKey, payload) }))
}

// Unwatch drops a watch taken by Watch; one without a Watch does nothing.
func (p *Presence) Unwatch(userKey string) {
	p.mu.Lock()
	w := p.watched[userKey]
	if w != nil {
		if w.refs--; w.refs == 0 {
			delete(p.watched, userKey)
		}
	}
	p.mu.Unlock()
	if w != nil {
		p.n.release(p.key("p", userKey))
	}
}

// watchedUser is the last state this node told of a watched user.
type watchedUser struct {
	refs   int
	known  bool
	online bool
}

func (p *Presence) received(userKey, payload string) {
	if payload != "online" && payload != "offline" {
		p.n.stats.invalid.Add(1)
		return
	}
	p.n.stats.received.Add(1)
	p.observe(userKey, payload == "online", true)
}

// observe records a watched user's state and tells OnTransition when it
// changed. A state first seen is told only if it came as a transition
// (tell): the first look after a resync just learns it. So watchers never
// get the same state twice in a row, even when Redis failures repeat or
// lose a transition.
func (p *Presence) observe(userKey string, online, tell bool) {
	p.mu.Lock()
	w := p.watched[userKey]
	changed := w != nil && (w.known && w.online != online || !w.known && tell)
	if w != nil {
		w.known, w.online = true, online
	}
	p.mu.Unlock()
	if changed {
		if fn := p.transition.Load(); fn != nil {
			(*fn)(userKey, online)
		}
	}
}

// recheck looks up every watched user after a resync, after the other
// nodes had time to write their presence again, and tells the transitions
// that Redis lost while it was down.
func (p *Presence) recheck() {
	select {
	case <-p.n.ctx.Done():
		return
	case <-time.After(p.n.opts.LeaseTTL / 3):
	}
	p.mu.Lock()
	users := make([]string, 0, len(p.watched))
	for k := range p.watched {
		users = append(users, k)
	}
	p.mu.Unlock()
	for len(users) > 0 {
		batch := users[:min(len(users), presenceBatch)]
		users = users[len(batch):]
		ctx, cancel := context.WithTimeout(p.n.ctx, p.n.opts.LeaseTTL/3)
		online, err := p.Query(ctx, batch)
		cancel()
		if err != nil {
			p.n.log.Warn("cluster: presence recheck", "err", err)
			return
		}
		for i, k := range batch {
			p.observe(k, online[i], false)
		}
	}
}

func (p *Presence) key(kind, userKey string) string {
	return p.n.opts.Prefix + ":" + kind + ":" + userKey
}

// restore queues every local user for Redis again and a reconciliation of
// the users Redis has for this node, after Redis lost them (restart) or
// missed changes (outage).
func (p *Presence) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.scan = true
	for k := range p.users {
		p.dirty[k] = struct{}{}
	}
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// run writes the queued states until the node closes, retrying with a
// growing pause while Redis fails.
func (p *Presence) run() {
	ctx := p.n.ctx
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.kick:
		}
		for pause := 100 * time.Millisecond; p.write(ctx) != nil; pause = min(2*pause, time.Second) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(pause):
			}
		}
	}
}

// write sends every queued state to Redis, batch by batch. On an error
// the unsent users stay queued.
func (p *Presence) write(ctx context.Context) error {
	p.writing.Lock()
	defer p.writing.Unlock()
	if err := p.reconcile(ctx); err != nil {
		return err
	}
	for {
		p.mu.Lock()
		args := []any{p.n.opts.Prefix, p.n.id}
		var batch []string
		for k := range p.dirty {
			delete(p.dirty, k)
			batch = append(batch, k)
			sockets, online, retry := 0, false, false
			if u := p.users[k]; u != nil {
				sockets, online, retry = u.sockets, u.online, u.retry
			}
			args = append(args, k, sockets, boolArg(online), boolArg(retry))
			if len(batch) == presenceBatch {
				break
			}
		}
		p.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		if err := setScript.Run(ctx, p.n.rdb, nil, args...).Err(); err != nil && err != redis.Nil {
			p.mu.Lock()
			for _, k := range batch {
				p.dirty[k] = struct{}{}
				if u := p.users[k]; u != nil {
					u.retry = true
				}
			}
			p.mu.Unlock()
			return err
		}
		p.mu.Lock()
		for _, k := range batch {
			u := p.users[k]
			if u == nil {
				continue
			}
			u.retry = false
			if _, again := p.dirty[k]; !again && u.sockets == 0 && !u.online {
				delete(p.users, k)
			}
		}
		p.mu.Unlock()
	}
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// reconcile queues the users Redis lists for this node that the node no
// longer has (they left while Redis was unreachable).
func (p *Presence) reconcile(ctx context.Context) error {
	p.mu.Lock()
	scan := p.scan
	p.mu.Unlock()
	if !scan {
		return nil
	}
	var cursor uint64
	for {
		members, next, err := p.n.rdb.SScan(ctx, p.key("nu", p.n.id), cursor, "", 512).Result()
		if err != nil {
			return err
		}
		p.mu.Lock()
		for _, k := range members {
			if p.users[k] == nil {
				p.dirty[k] = struct{}{}
			}
		}
		p.mu.Unlock()
		if cursor = next; cursor == 0 {
			break
		}
	}
	p.mu.Lock()
	p.scan = false
	p.mu.Unlock()
	return nil
}

// leaveAll takes every local user out of presence at once (node shutdown).
func (p *Presence) leaveAll(ctx context.Context) error {
	p.mu.Lock()
	for k, u := range p.users {
		if u.leaving != nil {
			u.leaving.Stop()
			u.leaving = nil
		}
		u.sockets, u.online = 0, false
		p.dirty[k] = struct{}{}
	}
	p.sockets = 0
	p.mu.Unlock()
	return p.write(ctx)
}
