package engineio

import (
	"bytes"
	"testing"
)

func TestDecodePayload(t *testing.T) {
	tests := []struct {
		in      string
		want    []Packet
		wantErr bool
	}{
		{in: "4hello", want: []Packet{{Type: PacketMessage, Data: []byte("hello")}}},
		{in: "4hello\x1e2\x1e3probe", want: []Packet{
			{Type: PacketMessage, Data: []byte("hello")},
			{Type: PacketPing, Data: []byte{}},
			{Type: PacketPong, Data: []byte("probe")},
		}},
		{in: "bAQID", want: []Packet{{Type: PacketMessage, Binary: true, Data: []byte{1, 2, 3}}}},
		{in: "4é✓", want: []Packet{{Type: PacketMessage, Data: []byte("é✓")}}},
		{in: "", wantErr: true},
		{in: "4a\x1e", wantErr: true},
		{in: "9oops", wantErr: true},
		{in: "b!!!", wantErr: true},
		{in: "4a\x1e\x1e4b", wantErr: true},
	}
	for _, tt := range tests {
		var got []Packet
		err := DecodePayload([]byte(tt.in), func(p Packet) error { got = append(got, p); return nil })
		if (err != nil) != tt.wantErr {
			t.Errorf("DecodePayload(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if len(got) != len(tt.want) {
			t.Errorf("DecodePayload(%q) = %d packets, want %d", tt.in, len(got), len(tt.want))
			continue
		}
		for i := range got {
			if got[i].Type != tt.want[i].Type || got[i].Binary != tt.want[i].Binary || !bytes.Equal(got[i].Data, tt.want[i].Data) {
				t.Errorf("DecodePayload(%q)[%d] = %+v, want %+v", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestPollingEncodingRoundTrip(t *testing.T) {
	msgs := []*Message{NewTextMessageString("héllo"), NewBinaryMessage([]byte{0, 1, 255}), pingMessage}
	var body []byte
	for i, m := range msgs {
		if i > 0 {
			body = append(body, recordSeparator)
		}
		before := len(body)
		body = appendPolling(body, m)
		if got := len(body) - before; got != pollingSize(m) {
			t.Fatalf("pollingSize = %d, appended %d", pollingSize(m), got)
		}
	}
	if want := "4héllo\x1ebAAH/\x1e2"; string(body) != want {
		t.Fatalf("payload = %q, want %q", body, want)
	}
	var got []Packet
	if err := DecodePayload(body, func(p Packet) error { got = append(got, p); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || !got[1].Binary || !bytes.Equal(got[1].Data, []byte{0, 1, 255}) {
		t.Fatalf("round trip = %+v", got)
	}
}

func TestMessageFrame(t *testing.T) {
	for _, n := range []int{0, 1, 124, 125, 126, 65535, 65536, 70000} {
		m := NewTextMessage(bytes.Repeat([]byte("x"), n))
		f := m.Frame()
		if f[0] != 0x81 {
			t.Fatalf("n=%d: first byte %#x, want FIN|text", n, f[0])
		}
		// Decode with the client-side parser rules (unmasked): length must match.
		h, hn, err := parseHeaderUnmasked(f)
		if err != nil || h != int64(n+1) || len(f)-hn != n+1 {
			t.Fatalf("n=%d: header length %d (hn %d, err %v), frame %d", n, h, hn, err, len(f))
		}
	}
}

// parseHeaderUnmasked reads the payload length of a server (unmasked) frame.
func parseHeaderUnmasked(b []byte) (int64, int, error) {
	masked := append([]byte(nil), b[:2]...)
	masked[1] |= 0x80
	rest := b[2:]
	switch b[1] & 0x7f {
	case 126:
		masked = append(masked, rest[:2]...)
		rest = rest[2:]
	case 127:
		masked = append(masked, rest[:8]...)
		rest = rest[8:]
	}
	masked = append(masked, 0, 0, 0, 0)
	h, n, err := parseHeader(masked)
	return h.Length, n - 4, err
}

// FuzzDecodePayload checks that no polling payload makes the decoder panic
// and that every decoded text packet re-encodes to its input record.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range []string{"4hello", "4a\x1e4b", "bAQID", "2probe", "3", "6", "1", "0{}", "", "\x1e", "b", "4é"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		n := 0
		_ = DecodePayload(payload, func(p Packet) error {
			n++
			if p.Type < PacketOpen || p.Type > PacketNoop {
				t.Fatalf("decoded invalid type %q", p.Type)
			}
			if len(p.Data) > len(payload) {
				t.Fatalf("decoded %d bytes from a %d-byte payload", len(p.Data), len(payload))
			}
			return nil
		})
		if n > len(payload) {
			t.Fatalf("%d packets from %d bytes", n, len(payload))
		}
	})
}

func BenchmarkDecodePayload(b *testing.B) {
	payload := []byte("42[\"notification:mark_read\",{\"notificationId\":\"01a21de9-778d-7371-8003-7f662dbf61ef\"}]\x1e3\x1ebAQIDBA==")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		n := 0
		if err := DecodePayload(payload, func(Packet) error { n++; return nil }); err != nil || n != 3 {
			b.Fatal(err, n)
		}
	}
}

func BenchmarkNewTextMessage(b *testing.B) {
	data := []byte(`2["notification:new",{"notification":{"id":"n1","title":"Order shipped","seq":42},"timestamp":"2026-11-27T16:23:38.000Z"}]`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		NewTextMessage(data)
	}
}
