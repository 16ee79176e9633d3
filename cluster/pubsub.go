package cluster

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// pingEvery is how long a Pub/Sub connection may stay silent before the
// node pings it; a connection silent for as long again after a ping is
// taken for dead (a peer gone without closing) and replaced. A pong also
// marks the moment a reconnected connection has every subscription
// confirmed (Redis answers in order).
const pingEvery = 3 * time.Second

// subscribeBatch caps the channels of one SUBSCRIBE or UNSUBSCRIBE.
const subscribeBatch = 512

// shard is one Pub/Sub connection and the channels hashed to it.
// Subscriptions are reference counted: the first acquire subscribes, the
// last release unsubscribes after Options.UnsubscribeDelay unless the
// channel is acquired again meanwhile. Pending changes are coalesced into
// one SUBSCRIBE and one UNSUBSCRIBE per round by the shard's writer.
type shard struct {
	n *Node

	writing sync.Mutex // held by a writer round and by reset

	mu          sync.Mutex
	ps          *redis.PubSub // replaced by reset
	subs        map[string]*subscription
	toSubscribe map[string]struct{} // disjoint from toUnsubscribe
	toUnsub     map[string]struct{}
	up          bool // connected, every subscription confirmed; set by receive
	kick        chan struct{}
}

type subscription struct {
	refs    int
	handler func(payload string)
	ready   chan struct{} // closed when Redis confirmed the subscription
	leaving *time.Timer   // pending delayed unsubscribe
}

func newShard(n *Node) *shard {
	return &shard{
		n:           n,
		ps:          n.rdb.Subscribe(n.ctx),
		subs:        make(map[string]*subscription),
		toSubscribe: make(map[string]struct{}),
		toUnsub:     make(map[string]struct{}),
		kick:        make(chan struct{}, 1),
	}
}

// shard returns the shard of a channel.
func (n *Node) shard(channel string) *shard {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(channel); i++ {
		h = (h ^ uint32(channel[i])) * 16777619
	}
	return n.shards[h%uint32(len(n.shards))]
}

// acquire takes a reference on channel, subscribing on the first one, and
// returns a channel that is closed once Redis confirmed the subscription,
// or nil if the node need not wait (confirmed already, or Redis is down:
// the subscription is made when it is back). Messages go to handler, on
// the shard's goroutine: it must not block. Every acquire needs a release.
func (n *Node) acquire(channel string, handler func(payload string)) <-chan struct{} {
	sh := n.shard(channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.subs[channel]
	if s == nil {
		s = &subscription{handler: handler, ready: make(chan struct{})}
		sh.subs[channel] = s
		delete(sh.toUnsub, channel)
		sh.toSubscribe[channel] = struct{}{}
		sh.signal()
	}
	s.refs++
	if s.leaving != nil {
		s.leaving.Stop()
		s.leaving = nil
	}
	if !sh.up || n.shardsDown.Load() > 0 {
		return nil // Redis is down, or going: do not wait for it
	}
	select {
	case <-s.ready:
		return nil
	default:
		return s.ready
	}
}

// release drops a reference taken by acquire.
func (n *Node) release(channel string) {
	sh := n.shard(channel)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	s := sh.subs[channel]
	if s == nil || s.refs == 0 {
		return
	}
	if s.refs--; s.refs > 0 {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(n.opts.UnsubscribeDelay, func() {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		if s.leaving != t || sh.subs[channel] != s {
			return // acquired again meanwhile
		}
		delete(sh.subs, channel)
		delete(sh.toSubscribe, channel)
		sh.toUnsub[channel] = struct{}{}
		sh.signal()
	})
	s.leaving = t
}

// wait waits until ready is closed (nil is), at most SubscribeTimeout.
func (n *Node) wait(ready ...<-chan struct{}) {
	var timeout <-chan time.Time
	for _, c := range ready {
		if c == nil {
			continue
		}
		if timeout == nil {
			t := time.NewTimer(n.opts.SubscribeTimeout)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-c:
		case <-timeout:
			return
		case <-n.ctx.Done():
			return
		}
	}
}

// signal wakes the writer; the caller holds sh.mu.
func (sh *shard) signal() {
	select {
	case sh.kick <- struct{}{}:
	default:
	}
}

// write sends the pending subscription changes. A failed write needs no
// retry: go-redis keeps the set of subscribed channels and subscribes them
// all again on reconnect.
func (sh *shard) write() {
	for {
		select {
		case <-sh.n.ctx.Done():
			return
		case <-sh.kick:
		}
		sh.writing.Lock()
		sh.mu.Lock()
		ps := sh.ps
		sub, unsub := keys(sh.toSubscribe), keys(sh.toUnsub)
		clear(sh.toSubscribe)
		clear(sh.toUnsub)
		sh.mu.Unlock()
		for len(unsub) > 0 {
			k := min(len(unsub), subscribeBatch)
			ps.Unsubscribe(sh.n.ctx, unsub[:k]...)
			unsub = unsub[k:]
		}
		for len(sub) > 0 {
			k := min(len(sub), subscribeBatch)
			ps.Subscribe(sh.n.ctx, sub[:k]...)
			sub = sub[k:]
		}
		sh.writing.Unlock()
	}
}

// pubsub returns the shard's current connection.
func (sh *shard) pubsub() *redis.PubSub {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.ps
}

// reset replaces a connection that went silent with a new one subscribed
// to every channel of the shard; pending changes made meanwhile stay
// queued for the writer, which waits for the swap.
func (sh *shard) reset() {
	sh.n.log.Warn("cluster: replacing a silent redis pub/sub connection")
	sh.writing.Lock()
	defer sh.writing.Unlock()
	sh.mu.Lock()
	channels := make([]string, 0, len(sh.subs))
	for c := range sh.subs {
		channels = append(channels, c)
	}
	clear(sh.toSubscribe) // all in subs
	clear(sh.toUnsub)     // never subscribed on the new connection
	sh.mu.Unlock()
	ps := sh.n.rdb.Subscribe(sh.n.ctx, channels...)
	sh.mu.Lock()
	old := sh.ps
	sh.ps = ps
	sh.mu.Unlock()
	old.Close()
	if sh.n.ctx.Err() != nil {
		ps.Close() // stop may have closed the old one only
	}
}

// close closes the shard's connection.
func (sh *shard) close() { sh.pubsub().Close() }

func keys(m map[string]struct{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// receive reads the shard's connection until the node closes. After an
// error it reconnects with a growing pause (go-redis subscribes every
// channel again on the new connection) and pings: the pong, which Redis
// sends after the confirmations of those subscriptions, marks the shard up.
func (sh *shard) receive() {
	n := sh.n
	pause := 50 * time.Millisecond
	pinged := false // a ping is out and nothing came since
	sh.pubsub().Ping(n.ctx)
	for {
		ps := sh.pubsub()
		m, err := ps.ReceiveTimeout(n.ctx, n.opts.pingEvery)
		if n.ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if pinged {
					sh.lost(errors.New("no answer to a ping"))
					sh.reset()
				}
				sh.pubsub().Ping(n.ctx)
				pinged = true
				continue
			}
			sh.lost(err)
			select {
			case <-n.ctx.Done():
				return
			case <-time.After(pause):
			}
			pause = min(2*pause, time.Second)
			ps.Ping(n.ctx)
			continue
		}
		pause, pinged = 50*time.Millisecond, false
		switch m := m.(type) {
		case *redis.Message:
			sh.deliver(m)
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				sh.confirmed(m.Channel)
			}
		case *redis.Pong:
			sh.mu.Lock()
			wasUp := sh.up
			sh.up = true
			sh.mu.Unlock()
			if !wasUp {
				n.shardUp()
			}
		}
	}
}

// lost records a broken connection.
func (sh *shard) lost(err error) {
	sh.n.resync.Store(true)
	sh.mu.Lock()
	wasUp := sh.up
	sh.up = false
	sh.mu.Unlock()
	if wasUp {
		sh.n.log.Warn("cluster: redis pub/sub connection lost", "err", err)
		sh.n.shardDown()
	}
}

func (sh *shard) confirmed(channel string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if s := sh.subs[channel]; s != nil {
		select {
		case <-s.ready:
		default:
			close(s.ready)
		}
	}
}

func (sh *shard) deliver(m *redis.Message) {
	sh.mu.Lock()
	s := sh.subs[m.Channel]
	sh.mu.Unlock()
	if s != nil {
		s.handler(m.Payload)
	}
}

// publisher sends broadcasts to Redis from one goroutine, in the order
// they were queued, pipelining whatever queued up meanwhile. Publishing
// only queues: the caller never waits for Redis.
type publisher struct {
	n *Node

	mu     sync.Mutex
	queue  []outgoing
	bytes  int
	kick   chan struct{}
	idle   *sync.Cond // signalled when a batch is done
	active bool       // a batch is being sent
}

type outgoing struct {
	channel string
	payload []byte
}

func newPublisher(n *Node) *publisher {
	p := &publisher{n: n, kick: make(chan struct{}, 1)}
	p.idle = sync.NewCond(&p.mu)
	return p
}

// publish queues payload for channel, or drops it (counted) if the queue
// is over its byte budget or the node is closed.
func (p *publisher) publish(channel string, payload []byte) {
	p.mu.Lock()
	if p.bytes+len(payload) > p.n.opts.PublishBuffer || p.n.ctx.Err() != nil {
		p.mu.Unlock()
		p.n.stats.publishErrors.Add(1)
		return
	}
	p.queue = append(p.queue, outgoing{channel, payload})
	p.bytes += len(payload)
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *publisher) run() {
	for {
		select {
		case <-p.n.ctx.Done():
			return
		case <-p.kick:
		}
		p.sendQueued(p.n.ctx)
	}
}

// sendQueued sends every queued message, batch by batch.
func (p *publisher) sendQueued(ctx context.Context) {
	for {
		p.mu.Lock()
		batch := p.queue
		p.queue, p.bytes = nil, 0
		p.active = len(batch) > 0
		p.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		p.send(ctx, batch)
		p.mu.Lock()
		p.active = false
		p.mu.Unlock()
		p.idle.Broadcast()
	}
}

func (p *publisher) send(ctx context.Context, batch []outgoing) {
	ctx, cancel := context.WithTimeout(ctx, p.n.opts.PublishTimeout)
	defer cancel()
	pipe := p.n.rdb.Pipeline()
	for _, o := range batch {
		pipe.Publish(ctx, o.channel, o.payload)
	}
	cmds, _ := pipe.Exec(ctx)
	for _, c := range cmds {
		if c.Err() != nil {
			p.n.stats.publishErrors.Add(1)
		} else {
			p.n.stats.published.Add(1)
		}
	}
}

// flush sends what is queued, after the batch in flight if any. It is
// bounded by PublishTimeout per batch and by ctx.
func (p *publisher) flush(ctx context.Context) {
	p.mu.Lock()
	for p.active {
		p.idle.Wait()
	}
	p.mu.Unlock()
	p.sendQueued(ctx)
}
