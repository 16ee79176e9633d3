package herald_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"herald"
)

func TestNotificationJSON(t *testing.T) {
	t.Parallel()
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	read := time.Date(2024, 5, 1, 12, 30, 0, 250_000_000, time.UTC)
	tests := []struct {
		name string
		n    herald.Notification
		want string
	}{
		{
			name: "all fields",
			n: herald.Notification{
				ID: "n1", UserID: "u1", TenantID: "t1", Seq: 7, Type: "info", Title: "Hi", Message: "Hello",
				Data: json.RawMessage(`{"a": 1}`), Status: herald.StatusRead, CreatedAt: created,
				ReadAt: &read, ExpiresAt: &read, GroupKey: "g", Existing: true,
			},
			want: `{"id":"n1","userId":"u1","tenantId":"t1","seq":7,"type":"info","title":"Hi","message":"Hello",` +
				`"data":{"a":1},"status":"read","createdAt":"2024-05-01T10:00:00.000Z",` +
				`"readAt":"2024-05-01T12:30:00.250Z","seenAt":null,"expiresAt":"2024-05-01T12:30:00.250Z","groupKey":"g"}`,
		},
		{
			name: "absent optionals",
			n: herald.Notification{
				ID: "n2", UserID: "u1", Seq: 1, Type: "info", Title: "Hi", Status: herald.StatusUnread, CreatedAt: created,
			},
			want: `{"id":"n2","userId":"u1","tenantId":"","seq":1,"type":"info","title":"Hi","message":"",` +
				`"data":null,"status":"unread","createdAt":"2024-05-01T10:00:00.000Z","readAt":null,"seenAt":null,"expiresAt":null}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := json.Marshal(tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal:\n got %s\nwant %s", got, tt.want)
			}
			// Pointers marshal the same way.
			if p, _ := json.Marshal(&tt.n); string(p) != tt.want {
				t.Errorf("Marshal(&n): got %s", p)
			}

			var back herald.Notification
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			again, _ := json.Marshal(back)
			if string(again) != tt.want {
				t.Errorf("round trip:\n got %s\nwant %s", again, tt.want)
			}
			if !back.CreatedAt.Equal(tt.n.CreatedAt) {
				t.Errorf("CreatedAt: got %v, want %v", back.CreatedAt, tt.n.CreatedAt)
			}
			if back.Existing {
				t.Error("Existing survived JSON")
			}
		})
	}
}

func TestNotificationUnmarshalErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`[]`, `{"createdAt":"yesterday"}`, `{"seq":"x"}`, `{`} {
		var n herald.Notification
		if err := json.Unmarshal([]byte(in), &n); err == nil {
			t.Errorf("Unmarshal(%s): got no error", in)
		}
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	invalid := herald.Errorf(herald.EINVALID, "title is required (%d)", 1)
	tests := []struct {
		err         error
		code, msg   string
		wantMessage bool
	}{
		{nil, "", "", false},
		{invalid, herald.EINVALID, "title is required (1)", true},
		{fmt.Errorf("wrapped: %w", herald.Errorf(herald.ENOTFOUND, "gone")), herald.ENOTFOUND, "gone", true},
		{errors.New("disk on fire"), herald.EINTERNAL, "Internal error.", true},
	}
	for _, tt := range tests {
		if got := herald.ErrorCode(tt.err); got != tt.code {
			t.Errorf("ErrorCode(%v): got %q, want %q", tt.err, got, tt.code)
		}
		if got := herald.ErrorMessage(tt.err); got != tt.msg {
			t.Errorf("ErrorMessage(%v): got %q, want %q", tt.err, got, tt.msg)
		}
	}
	if got := invalid.Error(); !strings.Contains(got, herald.EINVALID) || !strings.Contains(got, "title is required") {
		t.Errorf("Error(): got %q", got)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := herald.NewNotification{UserID: "u", Type: "t", Title: "x"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("minimal notification: %v", err)
	}
	full := ok
	full.TenantID, full.Message, full.Data, full.IdempotencyKey, full.GroupKey = "t", "m", json.RawMessage(`[1]`), "k", "g"
	full.ExpiresAt = time.Now().Add(-time.Hour) // the past is allowed
	if err := full.Validate(); err != nil {
		t.Fatalf("full notification: %v", err)
	}
	bad := ok
	bad.Data = json.RawMessage(`{"a":}`)
	err := bad.Validate()
	if herald.ErrorCode(err) != herald.EINVALID || !strings.Contains(herald.ErrorMessage(err), "data") {
		t.Errorf("bad data: got %v, want EINVALID naming data", err)
	}
	// The storetest suite covers each rule against a Store.
}

func TestClampLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want int }{{-1, 20}, {0, 20}, {1, 1}, {100, 100}, {101, 100}} {
		if got := herald.ClampLimit(tt.in, 20, 100); got != tt.want {
			t.Errorf("ClampLimit(%d): got %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestSeqCursor(t *testing.T) {
	t.Parallel()
	for _, seq := range []int64{1, 42, 1 << 62} {
		c := herald.EncodeSeqCursor(seq)
		got, err := herald.DecodeSeqCursor(c)
		if err != nil || got != seq {
			t.Errorf("DecodeSeqCursor(EncodeSeqCursor(%d)): got %d, %v", seq, got, err)
		}
		if strings.ContainsAny(c, "+/=?&") {
			t.Errorf("cursor %q is not URL-safe", c)
		}
	}
	for _, c := range []string{"", "x", "czE6", "czE6MA", "czE6LTE", "czE6YQ", "czI6MQ", "czE6MQ=="} {
		if _, err := herald.DecodeSeqCursor(c); herald.ErrorCode(err) != herald.EINVALID {
			t.Errorf("DecodeSeqCursor(%q): got %v, want EINVALID", c, err)
		}
	}
}

func FuzzDecodeSeqCursor(f *testing.F) {
	f.Add(herald.EncodeSeqCursor(5))
	f.Add("")
	f.Add("czE6OTk5OTk5OTk5OTk5OTk5OTk5OTk5")
	f.Fuzz(func(t *testing.T, c string) {
		seq, err := herald.DecodeSeqCursor(c)
		if err != nil {
			if herald.ErrorCode(err) != herald.EINVALID {
				t.Fatalf("error with code %q", herald.ErrorCode(err))
			}
			return
		}
		if seq < 1 {
			t.Fatalf("accepted seq %d", seq)
		}
		if again, err := herald.DecodeSeqCursor(herald.EncodeSeqCursor(seq)); err != nil || again != seq {
			t.Fatalf("re-encoding %d: got %d, %v", seq, again, err)
		}
	})
}
