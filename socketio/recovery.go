package socketio

import (
	"bytes"
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"herald/engineio"
)

// RecoveryOptions turn on Socket.IO connection state recovery: a client
// whose transport dropped (transport close or error, ping timeout) and that
// comes back within Window with the pid and last offset the reference
// client sends gets its socket id, its rooms and every broadcast it missed,
// and sees socket.recovered === true. Every zero value means the default
// given; a zero Window turns recovery off.
//
// Offsets are node-local: the pid and offsets name the node (a random tag
// of the process), so that another node refuses them at once.
type RecoveryOptions struct {
	// Window is how long a dropped socket's session is kept. Zero: off.
	Window time.Duration
	// MaxBytes bounds the frames kept for recovery, all rooms together
	// (each frame counted once). Zero means 64 MiB.
	MaxBytes int
	// MaxRoomBytes bounds the frames kept for one room. Zero means 1 MiB.
	MaxRoomBytes int
	// MaxSessions bounds the parked sessions; a socket dropped while the
	// table is full is not parked. Zero means 100000.
	MaxSessions int
}

// RecoveryHooks let the application check and carry over what it keeps of
// a socket (its Data) across a recovery. Set them with
// Server.SetRecoveryHooks before serving.
type RecoveryHooks struct {
	// Accept decides whether s, which passed the middleware, may take
	// over the parked session whose socket data was prev (e.g. the same
	// user). It must not change anything. Nil accepts.
	Accept func(s *Socket, prev any) bool
	// OnRecover runs when s took over the session of prev, before the
	// connection handlers; OnExpire when a parked session ends unused.
	// Exactly one of them runs for each parked session.
	OnRecover func(s *Socket, prev any)
	OnExpire  func(prev any)
}

// Results of a recovery attempt, as counted by RecoveryStats.Failed.
const (
	RecoveryNoSession = "no_session" // unknown or expired session, bad pid
	RecoveryOtherNode = "other_node" // pid or offset of another node or process
	RecoveryBadOffset = "bad_offset" // missing or malformed offset
	RecoveryGap       = "gap"        // the kept frames no longer cover what was missed
	RecoveryRefused   = "refused"    // middleware failed or Accept said no
)

// RecoveryStats are the recovery counters of a server.
type RecoveryStats struct {
	Attempts, Recovered uint64
	Failed              map[string]uint64 // by Recovery* reason
	RingBytes           int               // frames kept now
	Sessions            int               // parked now
}

var recoveryReasons = []string{RecoveryNoSession, RecoveryOtherNode, RecoveryBadOffset, RecoveryGap, RecoveryRefused}

// recoverable reports whether a socket closed for reason is parked.
func recoverable(reason string) bool {
	return reason == engineio.ReasonTransportClose || reason == engineio.ReasonTransportError || reason == engineio.ReasonPingTimeout
}

// recovery is the recovery state of one server: the node tag, the pid key,
// the offset counter, the rings of recent broadcast frames per room and
// the parked sessions. Its lock is never held while taking an adapter's.
type recovery struct {
	opts  RecoveryOptions
	hooks atomic.Pointer[RecoveryHooks] // never nil
	tag   string                        // node-local prefix of pids and offsets
	key   [32]byte
	next  atomic.Uint64 // last offset handed out
	now   func() time.Time

	attempts, recovered atomic.Uint64
	failed              [5]atomic.Uint64 // by recoveryReasons index

	mu       sync.Mutex
	log      fifo[*frame] // every kept frame, in the order kept
	bytes    int
	rings    map[string]*ring // by namespace + "\x00" + room; room "" is every socket
	sessions map[string]*parked
	expiries fifo[*parked]  // in park order, so in expiry order
	held     map[string]int // rings named by parked sessions, and how many
	// floor is the highest offset lost from a ring dropped early to keep
	// the ring count under maxRings: a client behind it is not recovered.
	floor    uint64
	maxRings int

	stop chan struct{}
	done chan struct{}
}

// frame is one broadcast kept for recovery.
type frame struct {
	off    uint64
	at     time.Time
	e      *Encoded
	except []string
	rings  []string
	size   int
}

// ringOverhead is what a kept frame is counted for beyond its bytes: the
// frame and its place in the rings.
const ringOverhead = 128

// ring is the recent frames of one room.
type ring struct {
	frames   fifo[*frame]
	bytes    int
	lost     uint64    // highest offset dropped from it
	lastDrop time.Time // when lost last rose
}

// parked is the session of a dropped socket.
type parked struct {
	nsp     *Namespace
	sid     string
	key     string   // the MAC of its pid, its key in the table
	rooms   []string // not counting its own
	data    any
	expires time.Time
	gone    bool // recovered or expired
}

func newRecovery(opts RecoveryOptions) *recovery {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	if opts.MaxRoomBytes <= 0 {
		opts.MaxRoomBytes = 1 << 20
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = 100000
	}
	r := &recovery{opts: opts, now: time.Now, rings: make(map[string]*ring), sessions: make(map[string]*parked),
		held: make(map[string]int), stop: make(chan struct{}), done: make(chan struct{})}
	// A ring holds at least one frame of at least ringOverhead bytes, or
	// none and only its loss: bound the latter as the former.
	r.maxRings = max(opts.MaxBytes/ringOverhead, 1024)
	var b [6]byte
	rand.Read(b[:])
	rand.Read(r.key[:])
	r.tag = base64.RawURLEncoding.EncodeToString(b[:])
	r.hooks.Store(&RecoveryHooks{})
	go r.sweep()
	return r
}

func (r *recovery) close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// sweep drops expired frames, rings and sessions until close.
func (r *recovery) sweep() {
	defer close(r.done)
	tick := min(max(r.opts.Window/8, 100*time.Millisecond), 5*time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.expire()
		}
	}
}

// expire drops what passed the window and calls OnExpire for the
// sessions that ended.
func (r *recovery) expire() {
	now := r.now()
	var ended []*parked
	r.mu.Lock()
	r.trim(now)
	for r.expiries.len() > 0 {
		p := r.expiries.peek()
		if !p.gone && now.Before(p.expires) {
			break
		}
		r.expiries.pop()
		if !p.gone {
			r.unpark(p)
			ended = append(ended, p)
		}
	}
	// An empty ring is kept while its loss may matter to a socket that
	// drops later (a frame in flight), then forgotten; past maxRings the
	// loss moves to the floor.
	crowded := len(r.rings) > r.maxRings
	for name, g := range r.rings {
		if g.frames.len() > 0 || r.held[name] > 0 {
			continue
		}
		if crowded || now.Sub(g.lastDrop) > 2*r.opts.Window {
			if crowded {
				r.floor = max(r.floor, g.lost)
			}
			delete(r.rings, name)
			crowded = len(r.rings) > r.maxRings
		}
	}
	r.mu.Unlock()
	r.ended(ended)
}

func (r *recovery) ended(ps []*parked) {
	h := r.hooks.Load()
	if h.OnExpire == nil {
		return
	}
	for _, p := range ps {
		h.OnExpire(p.data)
	}
}

// trim drops the oldest frames while they are past the window or over the
// byte budget. The caller holds r.mu.
func (r *recovery) trim(now time.Time) {
	for r.log.len() > 0 {
		f := r.log.peek()
		if r.bytes <= r.opts.MaxBytes && now.Sub(f.at) < r.opts.Window {
			return
		}
		r.log.pop()
		r.bytes -= f.size
		for _, name := range f.rings {
			if g := r.rings[name]; g != nil && g.frames.len() > 0 && g.frames.peek() == f {
				g.frames.pop()
				g.bytes -= f.size
				g.dropped(f.off, now)
			}
		}
	}
}

func (g *ring) dropped(off uint64, now time.Time) {
	g.lost = max(g.lost, off)
	g.lastDrop = now
}

func ringName(nsp *Namespace, room string) string { return nsp.name + "\x00" + room }

// record gives e an offset if it is an event without an ack id, keeps it
// for the rooms that keep(room) says have a receiver or a parked session,
// and returns the packet to deliver.
func (r *recovery) record(nsp *Namespace, e *Encoded, opts BroadcastOptions, live func(room string) bool) *Encoded {
	off := r.next.Add(1)
	oe := withOffset(e, r.offset(off))
	if oe == nil {
		return e
	}
	oe.off = off
	rooms := opts.Rooms
	if len(rooms) == 0 {
		rooms = []string{""}
	}
	f := &frame{off: off, e: oe, size: oe.size + ringOverhead, except: opts.Except}
	now := r.now()
	f.at = now
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, room := range rooms {
		name := ringName(nsp, room)
		if slices.Contains(f.rings, name) || (r.held[name] == 0 && !live(room)) {
			continue
		}
		f.rings = append(f.rings, name)
	}
	if len(f.rings) == 0 {
		return oe
	}
	for _, name := range f.rings {
		g := r.rings[name]
		if g == nil {
			g = &ring{}
			r.rings[name] = g
		}
		g.frames.push(f)
		g.bytes += f.size
		for g.bytes > r.opts.MaxRoomBytes && g.frames.len() > 0 {
			old := g.frames.pop()
			g.bytes -= old.size
			g.dropped(old.off, now)
		}
	}
	r.log.push(f)
	r.bytes += f.size
	r.trim(now)
	return oe
}

// offset is the wire form of an offset: the node tag, then base 36.
func (r *recovery) offset(off uint64) string { return r.tag + "." + strconv.FormatUint(off, 36) }

// parseOffset reads an offset of this node.
func (r *recovery) parseOffset(s string) (uint64, string) {
	tag, num, ok := strings.Cut(s, ".")
	if !ok {
		return 0, RecoveryBadOffset
	}
	if tag != r.tag {
		return 0, RecoveryOtherNode
	}
	n, err := strconv.ParseUint(num, 36, 64)
	if err != nil || len(num) > 13 || n > r.next.Load() {
		return 0, RecoveryBadOffset
	}
	return n, ""
}

// pid returns the private id of socket sid of nsp: the node tag and a
// MAC of the id, so that nothing per socket is stored and nobody without
// the key can make one.
func (r *recovery) pid(nsp *Namespace, sid string) string { return r.tag + "." + r.mac(nsp, sid) }

func (r *recovery) mac(nsp *Namespace, sid string) string {
	m := hmac.New(sha256.New, r.key[:])
	m.Write([]byte(nsp.name + "\x00" + sid))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

// park keeps the session of s, closed for a recoverable reason, under the
// MAC of its pid; it reports whether it did.
func (r *recovery) park(s *Socket, rooms []string) bool {
	key := r.mac(s.nsp, s.id)
	p := &parked{nsp: s.nsp, sid: s.id, key: key, rooms: rooms, data: s.Data(), expires: r.now().Add(r.opts.Window)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sessions) >= r.opts.MaxSessions || r.sessions[key] != nil {
		return false
	}
	r.sessions[key] = p
	r.expiries.push(p)
	for _, room := range p.ringNames() {
		r.held[room]++
	}
	return true
}

func (p *parked) ringNames() []string {
	out := make([]string, 0, len(p.rooms)+2)
	out = append(out, ringName(p.nsp, p.sid), ringName(p.nsp, ""))
	for _, room := range p.rooms {
		out = append(out, ringName(p.nsp, room))
	}
	return out
}

// unpark removes p from the table. The caller holds r.mu.
func (r *recovery) unpark(p *parked) {
	p.gone = true
	delete(r.sessions, p.key)
	for _, room := range p.ringNames() {
		if r.held[room]--; r.held[room] <= 0 {
			delete(r.held, room)
		}
	}
}

// claim is a recovery in progress: the session and the client's offset.
type claim struct {
	p      *parked
	off    uint64
	reason string // why it fails, "" while it may succeed
}

// lookup reads pid and offset from a CONNECT's auth payload and finds the
// session they name; it changes nothing. A nil claim means the client asked
// for no recovery.
func (r *recovery) lookup(nsp *Namespace, auth json.RawMessage) *claim {
	var a struct {
		Pid    any `json:"pid"`
		Offset any `json:"offset"`
	}
	if json.Unmarshal(auth, &a) != nil || a.Pid == nil {
		return nil
	}
	r.attempts.Add(1)
	c := &claim{}
	pid, _ := a.Pid.(string)
	tag, mac, ok := strings.Cut(pid, ".")
	switch {
	case !ok:
		c.reason = RecoveryNoSession
		return c
	case tag != r.tag:
		c.reason = RecoveryOtherNode
		return c
	}
	off, _ := a.Offset.(string)
	if c.off, c.reason = r.parseOffset(off); c.reason != "" {
		return c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.p = r.sessions[mac]; c.p == nil || c.p.nsp != nsp {
		c.p, c.reason = nil, RecoveryNoSession
	}
	return c
}

// fail counts a failed attempt.
func (r *recovery) fail(reason string) {
	r.failed[slices.Index(recoveryReasons, reason)].Add(1)
}

// restore takes c's session for s if the kept frames still cover what the
// client missed. Under r.mu, so that no broadcast is kept meanwhile, join
// gives s the session's id and registers it in its rooms (s is paused); it
// fails if the client is gone, and the session stays. The missed frames
// are returned in offset order. On a gap the session is dropped and
// returned as ended, for OnExpire.
func (r *recovery) restore(c *claim, maxBytes int, join func(sid string, rooms []string) bool) (missed []*Encoded, ok bool, ended *parked) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := c.p
	if p.gone {
		c.reason = RecoveryNoSession
		return nil, false, nil
	}
	r.trim(r.now())
	inRoom := map[string]bool{p.sid: true}
	for _, room := range p.rooms {
		inRoom[room] = true
	}
	seen := map[uint64]bool{}
	var fs []*frame
	size := 0
	gap := func() ([]*Encoded, bool, *parked) {
		c.reason = RecoveryGap
		r.unpark(p)
		return nil, false, p
	}
	if r.floor > c.off {
		return gap()
	}
	for _, name := range p.ringNames() {
		g := r.rings[name]
		if g == nil {
			continue
		}
		if g.lost > c.off {
			return gap()
		}
		for i := range g.frames.len() {
			f := g.frames.at(i)
			if f.off <= c.off || seen[f.off] || slices.ContainsFunc(f.except, func(x string) bool { return inRoom[x] }) {
				continue
			}
			seen[f.off] = true
			fs = append(fs, f)
			if size += f.e.size; size > maxBytes {
				return gap()
			}
		}
	}
	if !join(p.sid, p.rooms) {
		c.reason = RecoveryRefused
		return nil, false, nil
	}
	r.unpark(p)
	slices.SortFunc(fs, func(a, b *frame) int { return cmp.Compare(a.off, b.off) })
	missed = make([]*Encoded, len(fs))
	for i, f := range fs {
		missed[i] = f.e
	}
	return missed, true, nil
}

// stats returns the counters.
func (r *recovery) stats() RecoveryStats {
	st := RecoveryStats{Attempts: r.attempts.Load(), Recovered: r.recovered.Load(), Failed: make(map[string]uint64, len(recoveryReasons))}
	for i, reason := range recoveryReasons {
		st.Failed[reason] = r.failed[i].Load()
	}
	r.mu.Lock()
	st.RingBytes, st.Sessions = r.bytes, len(r.sessions)
	r.mu.Unlock()
	return st
}

// withOffset returns a copy of e whose event packets without an ack id
// carry off as their last argument, or nil if e holds no such packet.
// Binary attachments are shared with e.
func withOffset(e *Encoded, off string) *Encoded {
	var ms []*engineio.Message
	for i, m := range e.messages {
		if m.Binary() {
			continue
		}
		text := m.Packet()[1:]
		if len(text) == 0 || !eventWithoutID(text) {
			continue
		}
		if ms == nil {
			ms = slices.Clone(e.messages)
		}
		var b bytes.Buffer
		b.Grow(len(text) + len(off) + 3)
		b.Write(text[:len(text)-1])
		b.WriteString(`,"`)
		b.WriteString(off) // base64url and base 36: nothing to escape
		b.WriteString(`"]`)
		ms[i] = engineio.NewTextMessage(b.Bytes())
	}
	if ms == nil {
		return nil
	}
	c := *e
	c.messages = ms
	c.size = 0
	for _, m := range ms {
		c.size += len(m.Frame())
	}
	return &c
}

// eventWithoutID reports whether text, a packet this server encoded, is
// an event without an ack id whose arguments form a JSON array. Only the
// header is parsed: the payload is the encoder's own valid JSON, and
// decoding it again cost a fifth of a cluster node's CPU under emits.
func eventWithoutID(text []byte) bool {
	p, i, err := decodeHeader(text)
	return err == nil && !p.HasID && (p.Type == PacketEvent || p.Type == PacketBinaryEvent) &&
		i < len(text)-1 && text[i] == '[' && text[len(text)-1] == ']'
}

// fifo is a queue on a slice.
type fifo[T any] struct {
	items []T
	head  int
}

func (q *fifo[T]) len() int   { return len(q.items) - q.head }
func (q *fifo[T]) peek() T    { return q.items[q.head] }
func (q *fifo[T]) at(i int) T { return q.items[q.head+i] }
func (q *fifo[T]) push(x T)   { q.items = append(q.items, x) }

func (q *fifo[T]) pop() T {
	x := q.items[q.head]
	var zero T
	q.items[q.head] = zero
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	} else if q.head > 32 && q.head*2 > len(q.items) {
		q.items = append(q.items[:0:0], q.items[q.head:]...)
		q.head = 0
	}
	return x
}

// RecoveryReasons lists the reasons of RecoveryStats.Failed.
func RecoveryReasons() []string { return slices.Clone(recoveryReasons) }

// accept asks the Accept hook whether s may take over prev's session.
func (r *recovery) accept(s *Socket, prev any) bool {
	h := r.hooks.Load()
	return h.Accept == nil || h.Accept(s, prev)
}
