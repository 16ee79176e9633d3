package socketio

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		in   string
		want Packet
		err  bool
	}{
		{in: `0`, want: Packet{Type: PacketConnect, Namespace: "/"}},
		{in: `0/admin,{"token":"x"}`, want: Packet{Type: PacketConnect, Namespace: "/admin", Data: json.RawMessage(`{"token":"x"}`)}},
		{in: `2["hello",1]`, want: Packet{Type: PacketEvent, Namespace: "/", Data: json.RawMessage(`["hello",1]`)}},
		{in: `2/admin,12["a"]`, want: Packet{Type: PacketEvent, Namespace: "/admin", HasID: true, ID: 12, Data: json.RawMessage(`["a"]`)}},
		{in: `3/admin,7["ok"]`, want: Packet{Type: PacketAck, Namespace: "/admin", HasID: true, ID: 7, Data: json.RawMessage(`["ok"]`)}},
		{in: `51-["b",{"_placeholder":true,"num":0}]`, want: Packet{Type: PacketBinaryEvent, Namespace: "/", Attachments: 1, Data: json.RawMessage(`["b",{"_placeholder":true,"num":0}]`)}},
		{in: `1/admin,`, want: Packet{Type: PacketDisconnect, Namespace: "/admin"}},
		{in: `2[1,2]`, want: Packet{Type: PacketEvent, Namespace: "/", Data: json.RawMessage(`[1,2]`)}},
		{in: ``, err: true},
		{in: `7`, err: true},
		{in: `0"str"`, err: true},             // CONNECT payload must be an object
		{in: `1{}`, err: true},                // DISCONNECT has no payload
		{in: `2{"a":1}`, err: true},           // EVENT payload must be an array
		{in: `2[]`, err: true},                // ... with a name
		{in: `2["connect"]`, err: true},       // reserved
		{in: `2["disconnecting"]`, err: true}, // reserved
		{in: `2[{}]`, err: true},              // name must be a string or number
		{in: `2["a"`, err: true},              // bad JSON
		{in: `3["a"]x`, err: true},            // trailing garbage
		{in: `5["a"]`, err: true},             // binary without count
		{in: `5x-["a"]`, err: true},
		{in: `599999-["a"]`, err: true},
		{in: `2999999999999999999999["a"]`, err: true}, // id overflow
		{in: `3`, err: true},                           // ACK needs an array
	}
	for _, tt := range tests {
		got, err := Decode([]byte(tt.in))
		if (err != nil) != tt.err {
			t.Errorf("Decode(%q) error = %v, want error %v", tt.in, err, tt.err)
			continue
		}
		if tt.err {
			continue
		}
		if got.Type != tt.want.Type || got.Namespace != tt.want.Namespace || got.HasID != tt.want.HasID ||
			got.ID != tt.want.ID || got.Attachments != tt.want.Attachments || !bytes.Equal(got.Data, tt.want.Data) {
			t.Errorf("Decode(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if re := got.Append(nil); string(re) != tt.in && !(tt.in == `1/admin,` && string(re) == `1/admin,`) {
			t.Errorf("Append(Decode(%q)) = %q", tt.in, re)
		}
	}
}

func TestEncodeBinaryPlaceholders(t *testing.T) {
	e, err := EncodeEvent("/x", "up", []any{
		map[string]any{"file": []byte{1, 2}, "meta": []any{"n", []byte{3}}},
		"é",
	})
	if err != nil {
		t.Fatal(err)
	}
	wantText := `52-/x,["up",{"file":{"_placeholder":true,"num":0},"meta":["n",{"_placeholder":true,"num":1}]},"é"]`
	if string(e.Text()) != wantText {
		t.Fatalf("text = %s\nwant   %s", e.Text(), wantText)
	}
	atts := e.Attachments()
	if len(atts) != 2 || !bytes.Equal(atts[0], []byte{1, 2}) || !bytes.Equal(atts[1], []byte{3}) {
		t.Fatalf("attachments = %v", atts)
	}

	// Decoding the same messages gives the bytes back in place.
	var d decoder
	p, _, err := d.add(e.Text(), false, testBudget, true)
	if p != nil || err != nil {
		t.Fatalf("packet before attachments: %v, %v", p, err)
	}
	d.add(atts[0], true, testBudget, true)
	p, got, err := d.add(atts[1], true, testBudget, true)
	if err != nil || p == nil {
		t.Fatalf("packet after attachments: %v, %v", p, err)
	}
	args := Args{raw: p.Args[1:], attachments: got}
	v := args.Value(0).(map[string]any)
	if !bytes.Equal(v["file"].([]byte), []byte{1, 2}) || !bytes.Equal(v["meta"].([]any)[1].([]byte), []byte{3}) {
		t.Fatalf("Value = %#v", v)
	}
}

func TestDecoderRejectsUnexpectedBinary(t *testing.T) {
	var d decoder
	if _, _, err := d.add([]byte{1}, true, testBudget, true); err != ErrUnexpectedBinary {
		t.Fatalf("binary without packet: err = %v", err)
	}
	d = decoder{}
	d.add([]byte(`51-["a",{"_placeholder":true,"num":0}]`), false, testBudget, true)
	if _, _, err := d.add([]byte(`2["b"]`), false, testBudget, true); err != ErrUnexpectedBinary {
		t.Fatalf("text while attachment due: err = %v", err)
	}
}

// FuzzDecode checks that Decode never panics and that what it accepts
// re-encodes to an equivalent packet.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`0`, `0{"token":"x"}`, `0/admin,{}`, `1`, `2["a",1,{"b":[true,null]}]`,
		`2/admin,3["x"]`, `3/x,1[]`, `4{"message":"no"}`, `51-["a",{"_placeholder":true,"num":0}]`,
		`62-/x,5[{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Decode(b)
		if err != nil {
			return
		}
		if p.Attachments > MaxAttachments {
			t.Fatalf("accepted %d attachments", p.Attachments)
		}
		q, err := Decode(p.Append(nil))
		if err != nil {
			t.Fatalf("re-encoded packet %q does not decode: %v", p.Append(nil), err)
		}
		if q.Type != p.Type || q.Namespace != p.Namespace || q.ID != p.ID || q.HasID != p.HasID || q.Attachments != p.Attachments {
			t.Fatalf("round trip %+v -> %+v", p, q)
		}
	})
}

// FuzzDecoder feeds a sequence of messages (split on 0xff bytes; a leading
// 0x01 byte marks a binary message): no panic, and every packet returned
// carries exactly the attachments it announced.
func FuzzDecoder(f *testing.F) {
	f.Add([]byte("51-[\"a\",{\"_placeholder\":true,\"num\":0}]\xff\x01abc"))
	f.Add([]byte("2[\"x\"]\xff\x01z"))
	f.Add([]byte("52-[\"a\"]\xff\x01a\xff\x01b\xff2[\"c\"]"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var d decoder
		for _, msg := range bytes.Split(in, []byte{0xff}) {
			binary := len(msg) > 0 && msg[0] == 0x01
			if binary {
				msg = msg[1:]
			}
			p, atts, err := d.add(msg, binary, 64, true)
			if err != nil {
				d = decoder{}
				continue
			}
			if p != nil && len(atts) != p.Attachments && !(p.Attachments > 0 && atts == nil) {
				t.Fatalf("packet announced %d attachments, got %d", p.Attachments, len(atts))
			}
			if p != nil && p.Attachments > 0 && len(atts) != p.Attachments {
				t.Fatalf("binary packet returned with %d of %d attachments", len(atts), p.Attachments)
			}
			if p != nil && p.Attachments > 0 {
				n := 0
				for _, a := range atts {
					n += len(a)
				}
				if n > 64 {
					t.Fatalf("attachments of %d bytes passed a budget of 64", n)
				}
			}
		}
	})
}

const testBudget = 1 << 20

// Regression: the attachments of one packet had no byte budget, and a
// client that never connected could announce 64 of them and send 1 MB
// each. A packet and its attachments now share one budget, checked before
// an attachment is kept; binary packets are refused before a CONNECT; at
// most MaxAttachments (10) attachments.
func TestDecoderBudget(t *testing.T) {
	announce := []byte(`52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)
	var d decoder
	if _, _, err := d.add(announce, false, 1000, false); err != ErrBinaryBeforeConnect {
		t.Fatalf("binary packet before connect: err = %v", err)
	}
	d = decoder{}
	if _, _, err := d.add(announce, false, 1000, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.add(make([]byte, 800), true, 1000, true); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.add(make([]byte, 800), true, 1000, true); err != ErrPacketTooBig {
		t.Fatalf("attachments over the budget: err = %v", err)
	}
	if d.size > 1000 {
		t.Fatalf("decoder holds %d bytes, budget 1000", d.size)
	}
	if _, err := Decode([]byte(`511-["a"]`)); err != ErrTooManyAttach {
		t.Fatalf("11 attachments: err = %v", err)
	}
	if _, err := Decode([]byte(`510-["a"]`)); err != nil {
		t.Fatalf("10 attachments: err = %v", err)
	}
}

// Regression: a packet with invalid UTF-8 (in its namespace, say) was
// decoded, and the namespace echoed in a text frame (CONNECT_ERROR).
func TestDecodeRejectsInvalidUTF8(t *testing.T) {
	for _, b := range []string{"0/\xff\xfe,", "2[\"\xc3\"]"} {
		if _, err := Decode([]byte(b)); err != ErrInvalidUTF8 {
			t.Fatalf("Decode(%q) err = %v, want ErrInvalidUTF8", b, err)
		}
	}
}
