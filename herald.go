// Package herald holds the domain types of the herald notification gateway
// and the small interfaces between its parts. It has no dependencies on
// transports or databases: those live in sub-packages (auth, sqlite, ...)
// that implement or use what is declared here.
package herald

import (
	"context"
	"encoding/base64"
	"strconv"
	"time"
)

// Identity is the authenticated caller of a socket or user API request, as
// read from its JWT. UserID is never empty. TenantID may be empty: that is the
// default tenant, distinct from every named one. A user is identified by the
// pair (TenantID, UserID); the same UserID in two tenants is two people.
type Identity struct {
	UserID   string `json:"userId"`
	Email    string `json:"email,omitempty"`
	Role     string `json:"role,omitempty"`
	TenantID string `json:"tenantId,omitempty"`
}

// Page sizes and replay batch sizes.
const (
	DefaultListLimit   = 20   // List page size when ListOptions.Limit <= 0
	MaxListLimit       = 100  // List page sizes above this are clamped to it
	DefaultReplayLimit = 100  // Since batch size when limit <= 0
	MaxReplayLimit     = 500  // Since batch sizes above this are clamped to it
	MaxIDsPerCall      = 1000 // notification ids in one MarkReadMany or MarkSeen call
)

// Counts are a user's exact numbers of unread and of unseen (visible)
// notifications.
type Counts struct {
	Unread int `json:"unreadCount"`
	Unseen int `json:"unseenCount"`
}

// CheckIDs reports an empty list or one longer than MaxIDsPerCall as
// EINVALID; stores call it on the ids of MarkReadMany and MarkSeen.
func CheckIDs(ids []string) error {
	switch {
	case len(ids) == 0:
		return Errorf(EINVALID, "notificationIds must not be empty.")
	case len(ids) > MaxIDsPerCall:
		return Errorf(EINVALID, "notificationIds holds at most %d ids.", MaxIDsPerCall)
	}
	return nil
}

// ListOptions selects a page of a user's feed.
type ListOptions struct {
	// Limit is the page size. Zero or negative means DefaultListLimit; above
	// MaxListLimit means MaxListLimit.
	Limit int
	// Before is the NextCursor of the previous page; empty starts at the
	// newest notification. A cursor that the store did not produce is EINVALID.
	Before string
	// UnreadOnly restricts the page to notifications whose status is unread.
	UnreadOnly bool
}

// Page is one page of a user's feed, newest first.
type Page struct {
	// Notifications is never nil; it is empty when there is nothing to show.
	Notifications []Notification `json:"notifications"`
	// NextCursor is passed as ListOptions.Before to get the next (older) page;
	// it is empty when this page is the last one.
	NextCursor string `json:"nextCursor"`
}

// Store is the notification store, the source of truth of every feed.
//
// Every method that takes (tenantID, userID) acts on that user's
// notifications only: an id that exists but belongs to another user or another
// tenant is answered exactly like an id that does not exist (ENOTFOUND), and
// nothing changes. Notifications whose ExpiresAt is at or before the store's
// current time are invisible to every method except PurgeExpired, which
// deletes them, and Create's idempotency check, which still finds them.
//
// Implementations are safe for concurrent use. Errors are *Error values for
// the caller's mistakes (EINVALID, ENOTFOUND) and other errors for failures of
// the store itself.
type Store interface {
	// Create stores the notifications in one transaction: all of them or none.
	// Each may be for a different user. Each new notification gets status
	// unread, CreatedAt = now, a new unique ID and the next Seq of its user
	// (tenant, user): 1 for the first one, then strictly increasing, never
	// reused, not even after deletes. When IdempotencyKey is set and the user
	// already has a notification with that key, that one is returned as it is
	// stored, with Existing set, and nothing is created (this holds within one
	// call too). The result has one notification per input, in input order.
	// Invalid input (see NewNotification.Validate), an empty slice or more than
	// MaxCreateBatch notifications is EINVALID and stores nothing.
	Create(ctx context.Context, ns []NewNotification) ([]Notification, error)

	// Get returns one of the user's notifications; ENOTFOUND if it is not one.
	Get(ctx context.Context, tenantID, userID, id string) (Notification, error)

	// List returns a page of the user's feed, newest (highest Seq) first,
	// using keyset pagination: following NextCursor yields every notification
	// that existed when the first page was read exactly once, with no gaps or
	// duplicates, even while new notifications are created.
	List(ctx context.Context, tenantID, userID string, opts ListOptions) (Page, error)

	// Since returns the user's notifications with Seq > afterSeq, lowest Seq
	// first, at most limit of them (limit <= 0 means DefaultReplayLimit, above
	// MaxReplayLimit means MaxReplayLimit). It serves gap-free replay to a
	// reconnecting client: call again with the last Seq returned until fewer
	// than limit come back. Seqs of deleted or expired notifications are
	// skipped, so consecutive results need not have consecutive Seqs.
	Since(ctx context.Context, tenantID, userID string, afterSeq int64, limit int) ([]Notification, error)

	// UnreadCount returns the exact number of the user's unread notifications.
	UnreadCount(ctx context.Context, tenantID, userID string) (int, error)

	// Counts returns the exact numbers of the user's unread and unseen
	// notifications, read together.
	Counts(ctx context.Context, tenantID, userID string) (Counts, error)

	// MarkRead sets one of the user's notifications to read and returns it.
	// Marking a read notification again succeeds and keeps its first ReadAt.
	MarkRead(ctx context.Context, tenantID, userID, id string) (Notification, error)

	// MarkAllRead sets all of the user's unread notifications to read and
	// returns how many changed.
	MarkAllRead(ctx context.Context, tenantID, userID string) (int, error)

	// MarkReadMany sets those of the given notifications of the user that
	// are unread to read and returns their ids, in the order given. Ids that
	// are not the user's, already read or repeated are skipped. An empty
	// list or more than MaxIDsPerCall ids is EINVALID.
	MarkReadMany(ctx context.Context, tenantID, userID string, ids []string) ([]string, error)

	// MarkSeen sets those of the given notifications of the user that are
	// unseen to seen (SeenAt = now) and returns how many changed, with the
	// same rules for ids as MarkReadMany. Seen is apart from read: it
	// means the user saw the notification in a list ("opened the bell"),
	// and neither state changes the other.
	MarkSeen(ctx context.Context, tenantID, userID string, ids []string) (int, error)

	// MarkAllSeen sets all of the user's unseen notifications to seen and
	// returns how many changed.
	MarkAllSeen(ctx context.Context, tenantID, userID string) (int, error)

	// Delete removes one of the user's notifications.
	Delete(ctx context.Context, tenantID, userID, id string) error

	// DeleteAll removes all of the user's notifications and returns how many
	// there were. The user's Seq keeps counting from where it was.
	DeleteAll(ctx context.Context, tenantID, userID string) (int, error)

	// DeleteByID removes a notification of any user; it is for trusted backend
	// services. It returns the deleted notification so that the caller knows
	// whom to tell; ENOTFOUND if there is no such (unexpired) notification.
	DeleteByID(ctx context.Context, id string) (Notification, error)

	// PurgeExpired deletes every notification whose ExpiresAt is at or before
	// now and returns how many it deleted.
	PurgeExpired(ctx context.Context, now time.Time) (int, error)

	// Ping reports whether the store can serve requests (for readiness).
	Ping(ctx context.Context) error

	// Close releases the store's resources. Calls after Close fail.
	Close() error
}

// ClampLimit returns limit bounded to [1, hi], with def for limit <= 0.
func ClampLimit(limit, def, hi int) int {
	switch {
	case limit <= 0:
		return def
	case limit > hi:
		return hi
	}
	return limit
}

// InOrder returns the ids of list that are in set, each once, in list's
// order, removing them from set; stores use it for the result of
// MarkReadMany.
func InOrder(list []string, set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for _, id := range list {
		if set[id] {
			out = append(out, id)
			delete(set, id)
		}
	}
	return out
}

// cursorPrefix versions the cursor format so that it can change later.
const cursorPrefix = "s1:"

// PageOf makes the page of a newest-first listing from up to limit+1 rows:
// the extra row, when there is one, only says that a next page exists.
// Stores that page by Seq share it.
func PageOf(rows []Notification, limit int) Page {
	page := Page{Notifications: rows}
	if len(rows) > limit {
		page.Notifications = rows[:limit]
		page.NextCursor = EncodeSeqCursor(rows[limit-1].Seq)
	}
	return page
}

// EncodeSeqCursor returns the opaque cursor that continues a newest-first
// listing after (below) seq. Stores that page by Seq share this format.
func EncodeSeqCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString(strconv.AppendInt([]byte(cursorPrefix), seq, 10))
}

// DecodeSeqCursor returns the seq in a cursor made by EncodeSeqCursor; any
// other string is EINVALID.
func DecodeSeqCursor(cursor string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) <= len(cursorPrefix) || string(b[:len(cursorPrefix)]) != cursorPrefix {
		return 0, Errorf(EINVALID, "Invalid cursor.")
	}
	seq, err := strconv.ParseInt(string(b[len(cursorPrefix):]), 10, 64)
	if err != nil || seq < 1 {
		return 0, Errorf(EINVALID, "Invalid cursor.")
	}
	return seq, nil
}
