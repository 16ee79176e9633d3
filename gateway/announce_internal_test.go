package gateway

import (
	"encoding/json"
	"testing"
	"time"

	"herald"
)

// TestAnnouncedEncodingMatches checks that the hand-written payloads of the
// create path are the bytes that encoding/json gives for the same events.
func TestAnnouncedEncodingMatches(t *testing.T) {
	ts := Timestamp(time.Date(2026, 12, 1, 13, 0, 0, 5e6, time.UTC))
	exp := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, n := range []herald.Notification{
		{ID: "id-1", UserID: "u", Seq: 7, Type: "info", Title: "Hi", Status: herald.StatusUnread, CreatedAt: exp},
		{ID: "id-2", UserID: "ü<&>", TenantID: "t\"", Seq: 1, Type: "x", Title: "a\u2028b", Message: "m\n",
			Data: json.RawMessage(`{"k": "<v>"}`), Status: herald.StatusUnread, CreatedAt: exp, ExpiresAt: &exp, GroupKey: "g"},
	} {
		got, err := encodeNotificationNew(&n, ts)
		if err != nil {
			t.Fatal(err)
		}
		want, err := encodeEvent(EventNotificationNew, notificationNew{n, ts}) // encoding/json's
		if err != nil {
			t.Fatal(err)
		}
		want = want.WithSeq(n.Seq)
		if string(got.Text()) != string(want.Text()) || got.Seq() != want.Seq() || got.Event() != want.Event() {
			t.Errorf("notification:new\n got %s (seq %d)\nwant %s (seq %d)", got.Text(), got.Seq(), want.Text(), want.Seq())
		}
	}
	for _, c := range []herald.Counts{{}, {Unread: 12, Unseen: 3}, {Unread: -1, Unseen: 1 << 40}} {
		want, _ := json.Marshal(unreadCount{c, ts})
		if got := appendUnreadCount(nil, c.Unread, c.Unseen, ts); string(got) != string(want) {
			t.Errorf("unread-count: got %s, want %s", got, want)
		}
	}
}
