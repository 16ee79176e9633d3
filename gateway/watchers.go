package gateway

import "sync"

// watcherRegistry records which sockets watch which users' presence
// (presence:subscribe). It is keyed by the watched user, never by tenant:
// finding the watchers of one user costs O(those watchers). The first watch
// of a key and the last unwatch of it are reported, which is where a cluster
// node subscribes to, and unsubscribes from, the one presence channel of
// that user. Implementations are safe for concurrent use and never call
// back into the gateway.
type watcherRegistry interface {
	// watch makes w a watcher of k; first reports that k had no watcher
	// before. Watching twice is one watch.
	watch(k userKey, w *conn) (first bool)
	// unwatch removes w from k's watchers; last reports that k has none
	// left. Unwatching what is not watched does nothing (last is false).
	unwatch(k userKey, w *conn) (last bool)
	// watchers appends k's watchers to dst and returns it.
	watchers(dst []*conn, k userKey) []*conn
}

// localWatchers is the watcherRegistry of one node: user keys spread over
// shards, each a lock and a map, so that watches of different users rarely
// wait for each other.
type localWatchers struct {
	shards [watcherShards]watcherShard
}

const watcherShards = 64

type watcherShard struct {
	mu   sync.RWMutex
	byID map[userKey]map[*conn]struct{}
}

var _ watcherRegistry = (*localWatchers)(nil)

func newLocalWatchers() *localWatchers {
	w := &localWatchers{}
	for i := range w.shards {
		w.shards[i].byID = make(map[userKey]map[*conn]struct{})
	}
	return w
}

func (l *localWatchers) watch(k userKey, w *conn) bool {
	sh := &l.shards[stripeOf(k)%watcherShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	set := sh.byID[k]
	if set == nil {
		set = make(map[*conn]struct{}, 1)
		sh.byID[k] = set
	}
	set[w] = struct{}{}
	return len(set) == 1
}

func (l *localWatchers) unwatch(k userKey, w *conn) bool {
	sh := &l.shards[stripeOf(k)%watcherShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	set := sh.byID[k]
	if _, ok := set[w]; !ok {
		return false
	}
	delete(set, w)
	if len(set) > 0 {
		return false
	}
	delete(sh.byID, k)
	return true
}

func (l *localWatchers) watchers(dst []*conn, k userKey) []*conn {
	sh := &l.shards[stripeOf(k)%watcherShards]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	for w := range sh.byID[k] {
		dst = append(dst, w)
	}
	return dst
}
