package gateway

import (
	"encoding/json"
	"time"

	"herald"
)

// Names of the events of the contract (DESIGN.md §1 and §5). Event* are
// sent by the server to clients; Request* are sent by clients and answered
// through their acks. RequestUnreadCount has the same name on the wire as
// EventUnreadCount, as in the seed; the Go names keep the directions apart.
const (
	EventAuthenticated       = "authenticated"
	EventError               = "error"
	EventNotificationNew     = "notification:new"
	EventNotificationRead    = "notification:read"
	EventNotificationAllRead = "notification:all_read"
	EventNotificationDeleted = "notification:deleted"
	EventUnreadCount         = "notification:unread_count"
	EventDataUpdated         = "data:updated"
	EventUserOnline          = "user:online"
	EventUserOffline         = "user:offline"
	EventAuthExpired         = "auth:expired"
	// EventReplayTruncated tells a client that the replay stopped after
	// Config.ReplayLimit notifications; the older missed ones are in the feed.
	EventReplayTruncated = "notification:replay_truncated"

	RequestMarkRead            = "notification:mark_read"
	RequestMarkAllRead         = "notification:mark_all_read"
	RequestDelete              = "notification:delete"
	RequestList                = "notification:list"
	RequestUnreadCount         = "notification:unread_count"
	RequestAuthRefresh         = "auth:refresh"
	RequestPresenceSubscribe   = "presence:subscribe"
	RequestPresenceUnsubscribe = "presence:unsubscribe"
)

// ServerEvents returns the names of every event the gateway sends.
func ServerEvents() []string {
	return []string{
		EventAuthenticated, EventError, EventNotificationNew, EventNotificationRead,
		EventNotificationAllRead, EventNotificationDeleted, EventUnreadCount, EventDataUpdated,
		EventUserOnline, EventUserOffline, EventAuthExpired, EventReplayTruncated,
		EventAllDeleted, EventNotificationSeen,
	}
}

// Requests returns the names of every client event the gateway answers.
func Requests() []string {
	return []string{
		RequestMarkRead, RequestMarkAllRead, RequestDelete, RequestList, RequestUnreadCount,
		RequestAuthRefresh, RequestPresenceSubscribe, RequestPresenceUnsubscribe,
		RequestDeleteAll, RequestMarkSeen,
	}
}

// Timestamp formats t the way JavaScript's Date.toISOString does, as the
// seed's payloads carry it: UTC with milliseconds.
func Timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// withTimestamp returns the JSON object data with a "timestamp" member set
// to ts, like the seed's {...data, timestamp}. Data that is not a JSON
// object is EINVALID; empty data gives {"timestamp": ts}.
func withTimestamp(data json.RawMessage, ts string) (json.RawMessage, error) {
	tsJSON := `"timestamp":"` + ts + `"`
	data = trimSpace(data)
	if len(data) == 0 || string(data) == "null" {
		return json.RawMessage("{" + tsJSON + "}"), nil
	}
	if data[0] != '{' || data[len(data)-1] != '}' || !json.Valid(data) {
		return nil, herald.Errorf(herald.EINVALID, "data must be a JSON object.")
	}
	inner := trimSpace(data[1 : len(data)-1])
	out := make([]byte, 0, len(data)+len(tsJSON)+2)
	out = append(out, '{')
	if len(inner) > 0 {
		out = append(append(out, inner...), ',')
	}
	out = append(append(out, tsJSON...), '}')
	return out, nil
}

func trimSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// Payloads of the server → client events.
type (
	notificationNew struct {
		Notification herald.Notification `json:"notification"`
		Timestamp    string              `json:"timestamp"`
	}
	notificationRead struct {
		NotificationID string `json:"notificationId"`
		Success        bool   `json:"success"`
		Timestamp      string `json:"timestamp"`
	}
	notificationDeleted struct {
		NotificationID string `json:"notificationId"`
		Timestamp      string `json:"timestamp"`
	}
	// unreadCount is the seed's {unreadCount, timestamp} with unseenCount.
	unreadCount struct {
		herald.Counts
		Timestamp string `json:"timestamp"`
	}
	allRead struct {
		Updated   int    `json:"updated"`
		Timestamp string `json:"timestamp"`
	}
	presenceEvent struct {
		UserID    string `json:"userId"`
		Timestamp string `json:"timestamp"`
	}
	authenticated struct {
		Success   bool   `json:"success"`
		UserID    string `json:"userId"`
		Email     string `json:"email"`
		SocketID  string `json:"socketId"`
		Timestamp string `json:"timestamp"`
	}
	replayTruncated struct {
		LastSeq   int64  `json:"lastSeq"`
		Timestamp string `json:"timestamp"`
	}
	errorEvent struct {
		Message string `json:"message"`
		Code    string `json:"code,omitempty"`
	}
)

// ackError is the error member of a failed acknowledgement.
type ackError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func failure(err error) map[string]any {
	return map[string]any{"success": false, "error": ackError{herald.ErrorCode(err), herald.ErrorMessage(err)}}
}
