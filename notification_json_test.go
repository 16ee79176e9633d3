package herald

import (
	"encoding/json"
	"testing"
	"time"
)

// referenceJSON is the wire form as encoding/json gives it, the contract
// that AppendJSON must match byte for byte.
func referenceJSON(n Notification) ([]byte, error) {
	w := notificationJSON{
		ID: n.ID, UserID: n.UserID, TenantID: n.TenantID, Seq: n.Seq, Type: n.Type, Title: n.Title,
		Message: n.Message, Data: n.Data, Status: n.Status, CreatedAt: formatTime(n.CreatedAt),
		ReadAt: formatTimePtr(n.ReadAt), SeenAt: formatTimePtr(n.SeenAt), ExpiresAt: formatTimePtr(n.ExpiresAt),
		GroupKey: n.GroupKey,
	}
	if len(w.Data) == 0 {
		w.Data = nil
	}
	return json.Marshal(w)
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 1, 13, 5, 7, 123_000_000, time.FixedZone("x", 3600))
	texts := []string{"", "plain text", `quote " and \ backslash`, "<b>&amp;</b>", "line\nbreak\ttab\x01",
		"héllo wörld ✓", "sep\u2028\u2029", "bad \xff utf-8", "emoji 😀"}
	datas := []string{"", `{"a":1}`, `{"a": 1, "b" : [1, 2]}`, `{"h":"<script>&"}`, `"x\u2028"`, `{"é":"ü"}`,
		`[1,2,3]`, `null`, `  {"pad":true}  `, `{"s":"a b"}`}
	base := Notification{ID: "0192-id", UserID: "u1", TenantID: "t1", Seq: 42, Type: "order.shipped",
		Title: "Shipped", Message: "On its way", Status: StatusUnread, CreatedAt: at}
	var cases []Notification
	for _, s := range texts {
		for _, field := range []func(*Notification){
			func(n *Notification) { n.Title = s }, func(n *Notification) { n.Message = s },
			func(n *Notification) { n.ID, n.UserID, n.TenantID = s, s, s }, func(n *Notification) { n.GroupKey = s },
			func(n *Notification) { n.Type, n.Status = s, Status(s) },
		} {
			n := base
			field(&n)
			cases = append(cases, n)
		}
	}
	for _, d := range datas {
		n := base
		n.Data = json.RawMessage(d)
		cases = append(cases, n)
	}
	read := at.Add(time.Minute)
	n := base
	n.ReadAt, n.SeenAt, n.ExpiresAt, n.Seq, n.GroupKey = &read, &at, &read, -1, "g"
	cases = append(cases, n, Notification{})
	for i, n := range cases {
		want, err := referenceJSON(n)
		if err != nil {
			t.Fatalf("case %d: reference: %v", i, err)
		}
		got, err := n.MarshalJSON()
		if err != nil || string(got) != string(want) {
			t.Errorf("case %d:\n got %s, %v\nwant %s", i, got, err, want)
		}
		// And inside another value, as the API encodes it.
		outer, err := json.Marshal([]Notification{n})
		if err != nil || string(outer) != "["+string(want)+"]" {
			t.Errorf("case %d in a list: got %s, %v", i, outer, err)
		}
	}
}

func TestAppendJSONRejectsBadData(t *testing.T) {
	n := Notification{ID: "x", Data: json.RawMessage(`{"a":`)}
	if _, err := n.MarshalJSON(); err == nil {
		t.Error("data that is not JSON: got no error")
	}
	if b, err := n.AppendJSON([]byte("keep")); err == nil || b != nil {
		t.Errorf("AppendJSON: got %q, %v; want nil and an error", b, err)
	}
}

// benchNotification is a typical created notification.
var benchNotification = Notification{ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", UserID: "user-42", TenantID: "bench", Seq: 1234,
	Type: "order.shipped", Title: "Your order has shipped", Message: "Order #12345 is on its way and should arrive on Thursday.",
	Data: json.RawMessage(`{"orderId":12345,"url":"/orders/12345"}`), Status: StatusUnread,
	CreatedAt: time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)}

// BenchmarkNotificationJSON is the encoding of one notification, as the
// API's answer and the socket event do it: AppendJSON against the
// reflective encoding it replaced (referenceJSON, the former MarshalJSON),
// each inside a list as encoding/json sees it.
func BenchmarkNotificationJSON(b *testing.B) {
	list := []Notification{benchNotification}
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf, _ = benchNotification.AppendJSON(buf[:0])
		}
	})
	b.Run("MarshalList", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(list); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ReferenceList", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal([]json.Marshaler{referenceMarshaler(benchNotification)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// referenceMarshaler is a Notification encoded by referenceJSON.
type referenceMarshaler Notification

func (r referenceMarshaler) MarshalJSON() ([]byte, error) { return referenceJSON(Notification(r)) }
