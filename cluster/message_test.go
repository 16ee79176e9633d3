package cluster

import (
	"bytes"
	"reflect"
	"testing"

	"herald/socketio"
)

func TestMessageRoundTrip(t *testing.T) {
	cases := []message{
		{Origin: "n1", Text: []byte(`2["msg","x"]`)},
		{Origin: "n2", Rooms: []string{"user:1", "team"}, Except: []string{"muted"}, Text: []byte(`51-["msg",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1, 2, 3}}},
		{Origin: "", Rooms: []string{""}, Text: []byte("2[0]"), Attachments: [][]byte{{}}},
		{Origin: "n3", Rooms: []string{"4:acme:user:42"}, Text: []byte(`2["notification:new",{}]`), Seq: 42},
	}
	for _, want := range cases {
		b := appendMessage(nil, want.Origin, want.Rooms, want.Except, want.Text, want.Attachments, want.Seq)
		got, err := decodeMessage(b)
		if err != nil {
			t.Fatalf("%+v: %v", want, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
}

func TestDecodeMessageRejects(t *testing.T) {
	good := appendMessage(nil, "n1", []string{"r"}, nil, []byte("2[1]"), [][]byte{{9}}, 0)
	tooMany := appendMessage(nil, "n1", nil, nil, []byte("2[1]"), make([][]byte, socketio.MaxAttachments+1), 0)
	for name, b := range map[string][]byte{
		"empty":            nil,
		"other version":    append([]byte{messageVersion + 1}, good[1:]...),
		"trailing bytes":   append(append([]byte(nil), good...), 0),
		"empty packet":     appendMessage(nil, "n1", nil, nil, nil, nil, 0),
		"too many atts":    tooMany,
		"huge room count":  {messageVersion, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"length past end":  {messageVersion, 5, 'a'},
		"unterminated int": {messageVersion, 0x80},
	} {
		if _, err := decodeMessage(b); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	for i := range len(good) - 1 {
		if _, err := decodeMessage(good[:i]); err == nil {
			t.Errorf("truncated at %d: decoded", i)
		}
	}
}

// FuzzDecodeMessage: any input decodes or fails cleanly, and what decodes
// encodes back to the same bytes.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(appendMessage(nil, "n1", nil, nil, []byte(`2["msg","x"]`), nil, 0))
	f.Add(appendMessage(nil, "n2", []string{"user:1", "team"}, []string{"muted"}, []byte(`51-["m",{"_placeholder":true,"num":0}]`), [][]byte{{1, 2}}, 0))
	f.Add([]byte{messageVersion, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeMessage(b)
		if err != nil {
			return
		}
		if again := appendMessage(nil, m.Origin, m.Rooms, m.Except, m.Text, m.Attachments, m.Seq); !bytes.Equal(again, b) {
			// Uvarints have one canonical form only when minimal; a
			// non-minimal one decodes but encodes shorter.
			if m2, err := decodeMessage(again); err != nil || !reflect.DeepEqual(m2, m) {
				t.Fatalf("re-encoded message differs: %+v vs %+v (%v)", m2, m, err)
			}
		}
	})
}

var benchText = []byte(`2["notification:new",{"notification":{"id":"0b6c9a52-3f5e-4c1e-9d1a-3e6c1b7f9a10","title":"Hello","message":"You have a new message","type":"info","seq":42},"timestamp":"2026-12-01T10:00:00.000Z"}]`)

func BenchmarkMessageEncode(b *testing.B) {
	rooms := []string{"4:acme:user:42"}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendMessage(buf[:0], "0123456789abcdef", rooms, nil, benchText, nil, 0)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkMessageDecode(b *testing.B) {
	msg := appendMessage(nil, "0123456789abcdef", []string{"4:acme:user:42"}, nil, benchText, nil, 0)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeMessage(msg); err != nil {
			b.Fatal(err)
		}
	}
}
