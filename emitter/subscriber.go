// Package emitter receives what the standard socket.io Redis emitter
// (@socket.io/redis-emitter, and every emitter writing its format)
// publishes, and hands it to the gateway of this node.
//
// Wire format (socket.io's redis adapter): a broadcast is msgpack
// [uid, packet, opts] published on "<key>#<nsp>#" (no room or several) or
// "<key>#<nsp>#<room>#" (exactly one); socketsJoin, socketsLeave and
// disconnectSockets are JSON on "<key>-request#<nsp>#". Every node
// subscribes to the channels itself and delivers to its own sockets only,
// so nothing is published again and each socket gets each emit once.
//
// Each key belongs to one tenant: rooms of the emitter are the tenant's
// rooms ("user:42" is user 42 of that tenant), an emit to no room reaches
// every socket of the tenant and nothing reaches another tenant. Only
// namespace "/" exists in herald; messages for others are counted and
// dropped, as is every message that is too large, malformed, an ack
// request, a reserved event, a request herald cannot answer or a join
// or leave of a room herald owns. A bad message never affects the next.
package emitter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"

	"herald/socketio"
)

// Results are the values of the result label of
// herald_emitter_messages_total, in Counts order.
var Results = []string{"delivered", errTooLarge.Error(), errMalformed.Error(), errReserved.Error(),
	errNamespace.Error(), errUnsupported.Error(), errRefused.Error(), errNotReady.Error()}

var errNotReady = errors.New("not_ready")

// Target is what delivers on this node; the gateway implements it. Rooms
// are the emitter's names (not scoped); no rooms means every socket of the
// tenant. Calls come from one goroutine, in the order published.
type Target interface {
	EmitterBroadcast(tenant string, rooms, except []string, e *socketio.Encoded)
	EmitterJoin(tenant string, rooms, except, join []string)
	EmitterLeave(tenant string, rooms, except, leave []string)
	EmitterDisconnect(tenant string, rooms, except []string, close bool)
}

// Key is one emitter key and the tenant its messages are for.
type Key struct {
	Key    string
	Tenant string // "" is the default tenant
}

// ParseKeys parses the values of --redis-emitter-key, each a comma list
// of "key" (the default tenant: tokens without a tenant claim) or
// "key=tenant". Keys must be distinct and free of the characters that
// Redis patterns or channel names give a meaning to (* ? [ ] \ #), and no
// key may be another's "<key>-request".
func ParseKeys(values []string) ([]Key, error) {
	var keys []Key
	seen := map[string]bool{}
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			k, tenant, _ := strings.Cut(item, "=")
			if k == "" || strings.ContainsAny(k, "*?[]\\# \t") {
				return nil, fmt.Errorf("redis emitter key %q: want key or key=tenant, the key without * ? [ ] \\ # or spaces", item)
			}
			if seen[k] {
				return nil, fmt.Errorf("redis emitter key %q given twice", k)
			}
			seen[k] = true
			keys = append(keys, Key{k, tenant})
		}
	}
	for _, k := range keys {
		if seen[k.Key+"-request"] {
			return nil, fmt.Errorf("redis emitter keys %q and %q-request share channels", k.Key, k.Key)
		}
	}
	return keys, nil
}

// Options configure a Subscriber.
type Options struct {
	Keys []Key
	// MaxBytes is the largest message accepted; larger ones are dropped
	// before decoding. Zero means 1,000,000.
	MaxBytes int
	// Target returns the gateway, or nil while there is none yet (the
	// message is dropped as not_ready).
	Target func() Target
	Logger *slog.Logger
}

// Subscriber holds one Pub/Sub connection subscribed to the channel
// patterns of every key. go-redis reconnects it and subscribes again after
// a Redis restart; what is published meanwhile is lost, as with socket.io.
type Subscriber struct {
	opts   Options
	byPat  map[string]Key // pattern → key; request patterns end in "-request#*"
	ps     *redis.PubSub
	done   chan struct{}
	once   sync.Once
	counts []atomic.Uint64 // by Results index
}

// NewSubscriber returns a Subscriber that is not connected: Handle works,
// for tests and for Start.
func NewSubscriber(opts Options) *Subscriber {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 1_000_000
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Subscriber{opts: opts, byPat: map[string]Key{}, done: make(chan struct{}), counts: make([]atomic.Uint64, len(Results))}
	for _, k := range opts.Keys {
		s.byPat[k.Key+"#*"] = k
		s.byPat[k.Key+"-request#*"] = k
	}
	return s
}

// Start subscribes on a connection of its own of rdb and handles every
// message on one goroutine until Close.
func Start(rdb *redis.Client, opts Options) *Subscriber {
	s := NewSubscriber(opts)
	pats := make([]string, 0, len(s.byPat))
	for p := range s.byPat {
		pats = append(pats, p)
	}
	s.ps = rdb.PSubscribe(context.Background(), pats...)
	ch := s.ps.Channel()
	go func() {
		defer close(s.done)
		for m := range ch {
			s.Handle(m.Pattern, m.Channel, m.Payload)
		}
	}()
	return s
}

// Close unsubscribes and waits for the message being handled. It is
// idempotent.
func (s *Subscriber) Close() {
	s.once.Do(func() {
		if s.ps != nil {
			s.ps.Close()
			<-s.done
		}
	})
}

// Counts returns the messages handled so far by result, in Results order.
func (s *Subscriber) Counts() []uint64 {
	out := make([]uint64, len(s.counts))
	for i := range s.counts {
		out[i] = s.counts[i].Load()
	}
	return out
}

// Handle handles one message received on channel through pattern, and
// returns its result (one of Results).
func (s *Subscriber) Handle(pattern, channel, payload string) string {
	err := s.handle(pattern, channel, payload)
	res := "delivered"
	if err != nil {
		res = err.Error()
		s.opts.Logger.Debug("emitter message dropped", "channel", channel, "result", res)
	}
	for i, r := range Results {
		if r == res {
			s.counts[i].Add(1)
		}
	}
	return res
}

func (s *Subscriber) handle(pattern, channel, payload string) error {
	key, ok := s.byPat[pattern]
	if !ok {
		return errMalformed
	}
	request := strings.HasSuffix(pattern, "-request#*")
	if !strings.HasPrefix(channel, pattern[:len(pattern)-1]) {
		return errMalformed
	}
	rest := channel[len(pattern)-1:] // "<nsp>#" or "<nsp>#<room>#"
	if !strings.HasPrefix(rest, "/#") {
		return errNamespace
	}
	if len(payload) > s.opts.MaxBytes {
		return errTooLarge
	}
	t := s.opts.Target()
	if t == nil {
		return errNotReady
	}
	if request {
		if rest != "/#" {
			return errMalformed
		}
		req, err := DecodeRequest([]byte(payload))
		if err != nil {
			return err
		}
		if !targetRooms(req.Opts.Rooms) || !targetRooms(req.Opts.Except) {
			return errRefused
		}
		switch req.Type {
		case requestJoin, requestLeave:
			for _, r := range req.Rooms {
				if !ownRoom(r) {
					return errRefused
				}
			}
			if req.Type == requestJoin {
				t.EmitterJoin(key.Tenant, req.Opts.Rooms, req.Opts.Except, req.Rooms)
			} else {
				t.EmitterLeave(key.Tenant, req.Opts.Rooms, req.Opts.Except, req.Rooms)
			}
		default:
			t.EmitterDisconnect(key.Tenant, req.Opts.Rooms, req.Opts.Except, req.Close)
		}
		return nil
	}
	b, err := DecodeBroadcast([]byte(payload))
	if err != nil {
		return err
	}
	// The channel names the room when there is exactly one; it must be
	// the one in opts (a message is published on one channel only).
	if room := rest[2:]; room != "" && (len(b.Rooms) != 1 || room != b.Rooms[0]+"#") {
		return errMalformed
	}
	if !targetRooms(b.Rooms) || !targetRooms(b.Except) {
		return errRefused
	}
	t.EmitterBroadcast(key.Tenant, b.Rooms, b.Except, b.Packet)
	return nil
}

// targetRooms reports whether rooms may select sockets: a room is never
// empty (the empty name is herald's tenant-wide room).
func targetRooms(rooms []string) bool {
	for _, r := range rooms {
		if r == "" {
			return false
		}
	}
	return true
}

// ownRoom reports whether sockets may be made to join or leave room by an
// emitter: not "" and not a user room ("user:..."), which herald keeps for
// the identity a socket authenticated with.
func ownRoom(room string) bool {
	return room != "" && !strings.HasPrefix(room, "user:")
}
