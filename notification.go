package herald

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Field limits of a notification, in bytes of UTF-8. Input beyond them is
// EINVALID.
const (
	MaxIDBytes      = 256      // UserID, TenantID, IdempotencyKey, GroupKey
	MaxTypeBytes    = 64       // Type
	MaxTitleBytes   = 256      // Title
	MaxMessageBytes = 4 << 10  // Message
	MaxDataBytes    = 16 << 10 // Data, as JSON text
	MaxCreateBatch  = 1000     // notifications in one Store.Create call
)

// Status is the read state of a notification.
type Status string

// The two statuses.
const (
	StatusUnread Status = "unread"
	StatusRead   Status = "read"
)

// Notification is a stored notification of one user. Its JSON form is part of
// the public contract (DESIGN §5):
//
//	{id, userId, tenantId, seq, type, title, message, data, status,
//	 createdAt, readAt, seenAt, expiresAt, groupKey}
//
// Times are RFC 3339 in UTC with milliseconds ("2024-05-01T12:00:00.000Z"),
// readAt, seenAt and expiresAt are null when absent, data is null when absent and
// groupKey is omitted when empty.
type Notification struct {
	ID       string // opaque, unique in the store
	UserID   string
	TenantID string
	Seq      int64 // per-user position: 1, 2, 3, ... in creation order
	Type     string
	Title    string
	Message  string
	Data     json.RawMessage // arbitrary JSON from the sender, or nil
	Status   Status
	// CreatedAt is set by the store, truncated to milliseconds.
	CreatedAt time.Time
	ReadAt    *time.Time // nil while unread
	SeenAt    *time.Time // nil while unseen; apart from ReadAt (see Store.MarkSeen)
	ExpiresAt *time.Time // nil when the notification never expires
	GroupKey  string     // lets clients collapse related notifications; may be empty

	// Existing is set by Store.Create when it returned a notification that
	// already existed for the same idempotency key instead of creating one;
	// callers use it to avoid announcing the same notification twice. It is
	// not part of the JSON form.
	Existing bool

	// UnreadCount is set by Store.Create on the notifications it created:
	// the user's unread count once all of that call's notifications were
	// stored, so that announcing them needs no second query. It is not
	// part of the JSON form.
	UnreadCount int
	// UnseenCount is to unseen notifications what UnreadCount is to unread
	// ones.
	UnseenCount int
}

// jsonTime is the one time format of the JSON API, the same as JavaScript's
// Date.prototype.toISOString.
const jsonTime = "2006-01-02T15:04:05.000Z07:00"

// notificationJSON is the wire form of Notification.
type notificationJSON struct {
	ID        string          `json:"id"`
	UserID    string          `json:"userId"`
	TenantID  string          `json:"tenantId"`
	Seq       int64           `json:"seq"`
	Type      string          `json:"type"`
	Title     string          `json:"title"`
	Message   string          `json:"message"`
	Data      json.RawMessage `json:"data"`
	Status    Status          `json:"status"`
	CreatedAt string          `json:"createdAt"`
	ReadAt    *string         `json:"readAt"`
	SeenAt    *string         `json:"seenAt"`
	ExpiresAt *string         `json:"expiresAt"`
	GroupKey  string          `json:"groupKey,omitempty"`
}

// MarshalJSON implements json.Marshaler with the wire form described on
// Notification.
func (n Notification) MarshalJSON() ([]byte, error) {
	return n.AppendJSON(make([]byte, 0, 256+len(n.Title)+len(n.Message)+len(n.Data)))
}

// AppendJSON appends the wire form of n (see Notification) to dst: the
// bytes that encoding/json gives for it, written without reflection and
// without a second pass over the result, for callers that encode a
// notification on every create (the API's answer, the socket event). It
// fails only if Data is not JSON.
func (n *Notification) AppendJSON(dst []byte) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = appendJSONString(dst, n.ID)
	dst = append(dst, `,"userId":`...)
	dst = appendJSONString(dst, n.UserID)
	dst = append(dst, `,"tenantId":`...)
	dst = appendJSONString(dst, n.TenantID)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, n.Seq, 10)
	dst = append(dst, `,"type":`...)
	dst = appendJSONString(dst, n.Type)
	dst = append(dst, `,"title":`...)
	dst = appendJSONString(dst, n.Title)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, n.Message)
	dst = append(dst, `,"data":`...)
	dst, err := appendJSONRaw(dst, n.Data)
	if err != nil {
		return nil, err
	}
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, string(n.Status))
	dst = append(dst, `,"createdAt":"`...)
	dst = n.CreatedAt.UTC().AppendFormat(dst, jsonTime)
	dst = append(dst, `","readAt":`...)
	dst = appendJSONTime(dst, n.ReadAt)
	dst = append(dst, `,"seenAt":`...)
	dst = appendJSONTime(dst, n.SeenAt)
	dst = append(dst, `,"expiresAt":`...)
	dst = appendJSONTime(dst, n.ExpiresAt)
	if n.GroupKey != "" {
		dst = append(dst, `,"groupKey":`...)
		dst = appendJSONString(dst, n.GroupKey)
	}
	return append(dst, '}'), nil
}

// appendJSONString appends s as encoding/json encodes a string. Strings
// with nothing to escape (the usual ids, types and texts) are copied; the
// others go through encoding/json itself, so that the escapes (HTML
// characters, U+2028, invalid UTF-8) stay exactly its own.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}

// appendJSONRaw appends the JSON value b as encoding/json encodes a
// json.RawMessage (compacted, HTML characters escaped), or null when b is
// empty. A value without white space, HTML characters or non-ASCII bytes
// is already in that form and is copied.
func appendJSONRaw(dst []byte, b json.RawMessage) ([]byte, error) {
	if len(b) == 0 {
		return append(dst, "null"...), nil
	}
	clean := true
	for _, c := range b {
		if c <= ' ' || c >= 0x80 || c == '<' || c == '>' || c == '&' {
			clean = false
			break
		}
	}
	if clean && json.Valid(b) {
		return append(dst, b...), nil
	}
	out, err := json.Marshal(b)
	if err != nil {
		return nil, err
	}
	return append(dst, out...), nil
}

func appendJSONTime(dst []byte, t *time.Time) []byte {
	if t == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = t.UTC().AppendFormat(dst, jsonTime)
	return append(dst, '"')
}

// UnmarshalJSON implements json.Unmarshaler; it accepts any RFC 3339 time.
func (n *Notification) UnmarshalJSON(b []byte) error {
	var w struct {
		notificationJSON
		CreatedAt time.Time  `json:"createdAt"`
		ReadAt    *time.Time `json:"readAt"`
		SeenAt    *time.Time `json:"seenAt"`
		ExpiresAt *time.Time `json:"expiresAt"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*n = Notification{
		ID:        w.ID,
		UserID:    w.UserID,
		TenantID:  w.TenantID,
		Seq:       w.Seq,
		Type:      w.Type,
		Title:     w.Title,
		Message:   w.Message,
		Data:      w.Data,
		Status:    w.Status,
		CreatedAt: w.CreatedAt,
		ReadAt:    w.ReadAt,
		SeenAt:    w.SeenAt,
		ExpiresAt: w.ExpiresAt,
		GroupKey:  w.GroupKey,
	}
	if string(n.Data) == "null" {
		n.Data = nil
	}
	return nil
}

func formatTime(t time.Time) string { return t.UTC().Format(jsonTime) }

func formatTimePtr(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := formatTime(*t)
	return &s
}

// NewNotification is the input of Store.Create: what a backend service asks
// to deliver to one user.
type NewNotification struct {
	TenantID string // may be empty: the default tenant
	UserID   string // required
	Type     string // required, e.g. "info", "order.shipped"
	Title    string // required
	Message  string
	Data     json.RawMessage // optional; any JSON value
	// IdempotencyKey, when set, makes retries safe: a second Create with the
	// same (TenantID, UserID, IdempotencyKey) returns the first notification.
	IdempotencyKey string
	// ExpiresAt, when not zero, is when the notification disappears from
	// every read. A time in the past is accepted: the notification is stored
	// already invisible (it only holds its Seq and idempotency key).
	ExpiresAt time.Time
	GroupKey  string
}

// ValidateBatch checks the input of one Store.Create call: at least one
// and at most MaxCreateBatch notifications, each valid. Store
// implementations call it before they touch the database.
func ValidateBatch(ns []NewNotification) error {
	if len(ns) == 0 {
		return Errorf(EINVALID, "No notifications to create.")
	}
	if len(ns) > MaxCreateBatch {
		return Errorf(EINVALID, "At most %d notifications can be created at once.", MaxCreateBatch)
	}
	for i := range ns {
		if err := ns[i].Validate(); err != nil {
			return err
		}
	}
	return nil
}

// BatchSize returns the number of notifications of one Store.Create call
// and the bytes of their fields, the budget of a store's group commit.
func BatchSize(ns []NewNotification) (items, bytes int) {
	for i := range ns {
		n := &ns[i]
		bytes += len(n.TenantID) + len(n.UserID) + len(n.Type) + len(n.Title) + len(n.Message) +
			len(n.Data) + len(n.IdempotencyKey) + len(n.GroupKey)
	}
	return len(ns), bytes
}

// Validate reports the first way in which n breaks the field rules, as an
// EINVALID *Error: UserID, Type and Title must not be blank; every field
// must be valid UTF-8 and within its Max*Bytes limit; Data, when present,
// must be valid JSON; ExpiresAt, when set, must lie in years 1 to 9999. Store implementations call it; callers may too, to
// reject a request before touching the store.
func (n *NewNotification) Validate() error {
	checks := [...]struct {
		name, value string
		max         int
		required    bool
	}{
		{"userId", n.UserID, MaxIDBytes, true},
		{"tenantId", n.TenantID, MaxIDBytes, false},
		{"type", n.Type, MaxTypeBytes, true},
		{"title", n.Title, MaxTitleBytes, true},
		{"message", n.Message, MaxMessageBytes, false},
		{"idempotencyKey", n.IdempotencyKey, MaxIDBytes, false},
		{"groupKey", n.GroupKey, MaxIDBytes, false},
	}
	for _, c := range checks {
		if c.required && strings.TrimSpace(c.value) == "" {
			return Errorf(EINVALID, "%s is required.", c.name)
		}
		if len(c.value) > c.max {
			return Errorf(EINVALID, "%s must be at most %d bytes.", c.name, c.max)
		}
		if !utf8.ValidString(c.value) {
			return Errorf(EINVALID, "%s must be valid UTF-8.", c.name)
		}
	}
	if len(n.Data) > MaxDataBytes {
		return Errorf(EINVALID, "data must be at most %d bytes of JSON.", MaxDataBytes)
	}
	// Invalid UTF-8 would pass json.Valid, then break every websocket text
	// frame that carries the notification.
	if len(n.Data) > 0 && (!json.Valid(n.Data) || !utf8.Valid(n.Data)) {
		return Errorf(EINVALID, "data must be valid JSON.")
	}
	if !n.ExpiresAt.IsZero() {
		if y := n.ExpiresAt.UTC().Year(); y < 1 || y > 9999 {
			return Errorf(EINVALID, "expiresAt is out of range.")
		}
	}
	return nil
}

// Record is a notification as a store holds it, expired or not, with its
// idempotency key: what `herald store copy` moves from one store to
// another. Seq, times, read and seen state are kept as they are.
type Record struct {
	Notification
	IdempotencyKey string
}

// Head is a user's feed head: the last seq given out, which later
// notifications continue from even when the notifications are gone.
type Head struct {
	TenantID, UserID string
	LastSeq          int64
}
