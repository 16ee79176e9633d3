package gateway

import (
	"context"
	"errors"
	"time"

	"herald"
	"herald/socketio"
)

// Bounds of a replay. A replay waits for its turn at the store, and for
// the client to read each page, instead of failing under load; these
// deadlines only end waits for a store or a client that is gone.
const (
	replayTurnWait  = 2 * time.Minute // for a turn at the store
	replayDrainWait = time.Minute     // for the client to read one page
	replayAttempts  = 3               // store reads before the replay fails
	replayBatch     = 100             // notifications read at once
)

var errReplayTurn = errors.New("gateway: no replay turn at the store in time")

// replay sends the notifications the client missed since c.since, oldest
// first, and returns the last seq sent (c.since if none). It never makes
// a slow reader a slow consumer: at most a quarter of the socket's write
// budget is queued at a time, the next notification waits until the
// client read enough. A store that keeps failing gets the client the
// error event, then its connection is closed so that it reconnects and
// replays again.
func (g *Gateway) replay(s *socketio.Socket, c *conn) int64 {
	last := c.since
	page := s.WriteBudget() / 4
	for sent := 0; ; {
		if sent >= g.cfg.ReplayLimit {
			// More may be missed than one connection replays: tell the
			// client where the replay stopped, so it can page the rest
			// with notification:list.
			more, err := g.replayRead(c, last, 1)
			if err == nil && len(more) > 0 {
				g.sendNow(s, EventReplayTruncated, replayTruncated{last, g.now()})
			}
			return last
		}
		want := min(replayBatch, g.cfg.ReplayLimit-sent)
		batch, err := g.replayRead(c, last, want)
		if err != nil {
			g.log.Error("replay", "err", err)
			g.sendNow(s, EventError, errorEvent{Message: "Replay of missed notifications failed", Code: herald.EINTERNAL})
			s.Conn().Close()
			return last
		}
		for _, n := range batch {
			ctx, cancel := context.WithTimeout(context.Background(), replayDrainWait)
			err := s.WaitWritable(ctx, page)
			cancel()
			if err != nil { // the client left, or stopped reading
				return last
			}
			g.sendNow(s, EventNotificationNew, notificationNew{n, g.now()})
			last = n.Seq
		}
		sent += len(batch)
		if len(batch) < want {
			return last
		}
	}
}

// replayRead reads a page of c's missed notifications in a turn of its own
// at the store, trying again after a failure.
func (g *Gateway) replayRead(c *conn, after int64, limit int) ([]herald.Notification, error) {
	var err error
	for attempt := 0; attempt < replayAttempts; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * 200 * time.Millisecond)
		}
		var batch []herald.Notification
		if batch, err = g.replayTurn(c, after, limit); err == nil {
			return batch, nil
		}
	}
	return nil, err
}

func (g *Gateway) replayTurn(c *conn, after int64, limit int) ([]herald.Notification, error) {
	t := time.NewTimer(replayTurnWait)
	defer t.Stop()
	select {
	case g.replays <- struct{}{}:
	case <-t.C:
		return nil, errReplayTurn
	}
	defer func() { <-g.replays }()
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.StoreTimeout)
	defer cancel()
	return g.cfg.Store.Since(ctx, c.identity.TenantID, c.identity.UserID, after, limit)
}
