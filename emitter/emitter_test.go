package emitter

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"herald/socketio"
)

// vectors are messages the real @socket.io/redis-emitter 5.1.0 published,
// made by testdata/gen.cjs (run with node from test/e2e).
func vectors(t testing.TB) map[string]struct{ channel, payload string } {
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var list []struct{ Name, Channel, Hex string }
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]struct{ channel, payload string }{}
	for _, v := range list {
		p, err := hex.DecodeString(v.Hex)
		if err != nil {
			t.Fatal(err)
		}
		out[v.Name] = struct{ channel, payload string }{v.Channel, string(p)}
	}
	return out
}

// call is one call a recorder received.
type call struct {
	op, tenant          string
	rooms, except, more []string
	close               bool
	text                string
	atts                [][]byte
}

type recorder struct{ calls []call }

func (r *recorder) EmitterBroadcast(tenant string, rooms, except []string, e *socketio.Encoded) {
	r.calls = append(r.calls, call{op: "emit", tenant: tenant, rooms: rooms, except: except, text: string(e.Text()), atts: e.Attachments()})
}
func (r *recorder) EmitterJoin(tenant string, rooms, except, join []string) {
	r.calls = append(r.calls, call{op: "join", tenant: tenant, rooms: rooms, except: except, more: join})
}
func (r *recorder) EmitterLeave(tenant string, rooms, except, leave []string) {
	r.calls = append(r.calls, call{op: "leave", tenant: tenant, rooms: rooms, except: except, more: leave})
}
func (r *recorder) EmitterDisconnect(tenant string, rooms, except []string, close bool) {
	r.calls = append(r.calls, call{op: "disconnect", tenant: tenant, rooms: rooms, except: except, close: close})
}

func newTest(t *testing.T, keys ...Key) (*Subscriber, *recorder) {
	rec := &recorder{}
	if len(keys) == 0 {
		keys = []Key{{"socket.io", "acme"}}
	}
	return NewSubscriber(Options{Keys: keys, MaxBytes: 4096, Target: func() Target { return rec }}), rec
}

// handle feeds a message as Redis would: through the pattern its channel matched.
func handle(s *Subscriber, channel, payload string) string {
	for p := range s.byPat {
		prefix := p[:len(p)-1]
		if strings.HasPrefix(channel, prefix) && (strings.HasSuffix(p, "-request#*") == strings.Contains(channel, "-request#")) {
			return s.Handle(p, channel, payload)
		}
	}
	return "no pattern"
}

func TestRealEmitterMessages(t *testing.T) {
	v := vectors(t)
	tests := []struct {
		name   string
		result string
		want   call
	}{
		{"user", "delivered", call{op: "emit", tenant: "acme", rooms: []string{"user:42"}, except: []string{},
			text: `2["hello",{"a":1,"b":"x"},2,"three"]`}},
		{"all", "delivered", call{op: "emit", tenant: "acme", rooms: []string{}, except: []string{},
			text: `2["news",{"text":"é\"\\\u000a","n":-5,"f":1.5,"big":1099511627776,"nil":null,"t":true,"arr":[1,[2,{}]]}]`}},
		{"rooms", "delivered", call{op: "emit", tenant: "acme", rooms: []string{"room-a", "room-b"}, except: []string{"user:7"},
			text: `2["multi","x"]`}},
		{"binary", "delivered", call{op: "emit", tenant: "acme", rooms: []string{"user:1"}, except: []string{},
			text: `52-["bin",{"_placeholder":true,"num":0},{"nested":{"_placeholder":true,"num":1}}]`, atts: [][]byte{{1, 2, 3}, {4}}}},
		{"date", "delivered", call{op: "emit", tenant: "acme", rooms: []string{}, except: []string{},
			text: `2["date","2026-01-02T03:04:05.678Z"]`}},
		{"admin", "other_namespace", call{}},
		{"join", "delivered", call{op: "join", tenant: "acme", rooms: []string{"user:42"}, except: []string{}, more: []string{"room-a"}}},
		{"leave", "delivered", call{op: "leave", tenant: "acme", rooms: []string{}, except: []string{"user:1"}, more: []string{"room-a", "room-b"}}},
		{"disconnect", "delivered", call{op: "disconnect", tenant: "acme", rooms: []string{"room-a"}, except: []string{}, close: true}},
		{"ssemit", "unsupported", call{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, rec := newTest(t)
			m, ok := v[tc.name]
			if !ok {
				t.Fatalf("no vector %q", tc.name)
			}
			if got := handle(s, m.channel, m.payload); got != tc.result {
				t.Fatalf("result %q, want %q", got, tc.result)
			}
			if tc.result != "delivered" {
				if len(rec.calls) != 0 {
					t.Fatalf("dropped message delivered: %+v", rec.calls)
				}
				return
			}
			if len(rec.calls) != 1 {
				t.Fatalf("calls %+v", rec.calls)
			}
			got := rec.calls[0]
			if len(got.atts) == 0 {
				got.atts = nil
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
			if tc.want.text != "" {
				if _, err := socketio.Decode([]byte(got.text)); err != nil {
					t.Fatalf("packet does not decode: %v", err)
				}
			}
		})
	}
}

// mp builds msgpack by hand for the refusals below.
func mp(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if strings.HasPrefix(p, "s:") { // a fixstr
			b.WriteByte(0xa0 | byte(len(p)-2))
			b.WriteString(p[2:])
			continue
		}
		x, err := hex.DecodeString(p)
		if err != nil {
			panic(err)
		}
		b.Write(x)
	}
	return b.String()
}

// packet is [uid, {type, data: [event, 1], nsp: "/"}, opts] with the given parts.
func packet(typ, event, opts string) string {
	return mp("93", "s:emitter", "83", "s:type", typ, "s:data", "92", event, "01", "s:nsp", "s:/") + opts
}

const noOpts = "\x80"

func TestRefusals(t *testing.T) {
	s, rec := newTest(t)
	good := packet("02", "s:ev", noOpts)
	if got := handle(s, "socket.io#/#", good); got != "delivered" {
		t.Fatalf("good message: %s", got)
	}
	tests := []struct{ name, channel, payload, want string }{
		{"empty", "socket.io#/#", "", "malformed"},
		{"garbage", "socket.io#/#", "not msgpack at all", "malformed"},
		{"json on the broadcast channel", "socket.io#/#", `["emitter",{"type":2}]`, "malformed"},
		{"trailing byte", "socket.io#/#", good + "\x00", "malformed"},
		{"truncated", "socket.io#/#", good[:len(good)-1], "malformed"},
		{"two elements", "socket.io#/#", mp("92", "s:emitter", "80"), "malformed"},
		{"type 3", "socket.io#/#", packet("03", "s:ev", noOpts), "malformed"},
		{"binary event type", "socket.io#/#", packet("05", "s:ev", noOpts), "delivered"},
		{"event not a string", "socket.io#/#", packet("02", "07", noOpts), "malformed"},
		{"empty event", "socket.io#/#", packet("02", "s:", noOpts), "malformed"},
		{"reserved connect", "socket.io#/#", packet("02", "s:connect", noOpts), "reserved_event"},
		{"reserved disconnect", "socket.io#/#", packet("02", "s:disconnect", noOpts), "reserved_event"},
		{"rooms not strings", "socket.io#/#", packet("02", "s:ev", mp("81", "s:rooms", "9101")), "malformed"},
		{"flags not a map", "socket.io#/#", packet("02", "s:ev", mp("81", "s:flags", "01")), "malformed"},
		{"unknown opts key ignored", "socket.io#/#", packet("02", "s:ev", mp("81", "s:future", "c3")), "delivered"},
		{"empty room", "socket.io#/#", packet("02", "s:ev", mp("81", "s:rooms", "91", "s:")), "refused_room"},
		{"channel room not in opts", "socket.io#/#user:1#", packet("02", "s:ev", mp("81", "s:rooms", "91", "s:user:2")), "malformed"},
		{"ack id", "socket.io#/#", mp("93", "s:emitter", "84", "s:type", "02", "s:id", "01", "s:data", "91", "s:ev", "s:nsp", "s:/", "80"), "unsupported"},
		{"other namespace in the packet", "socket.io#/#", mp("93", "s:emitter", "83", "s:type", "02", "s:data", "91", "s:ev", "s:nsp", "s:/x", "80"), "other_namespace"},
		{"other namespace channel", "socket.io#/chat#", good, "other_namespace"},
		{"NaN", "socket.io#/#", mp("93", "s:emitter", "83", "s:type", "02", "s:data", "92", "s:ev", "cb7ff8000000000001", "s:nsp", "s:/", "80"), "malformed"},
		{"invalid UTF-8", "socket.io#/#", mp("93", "s:emitter", "83", "s:type", "02", "s:data", "92", "s:ev", "a2ffff", "s:nsp", "s:/", "80"), "malformed"},
		{"non-string map key", "socket.io#/#", mp("93", "s:emitter", "83", "s:type", "02", "s:data", "92", "s:ev", "810101", "s:nsp", "s:/", "80"), "malformed"},
		{"other extension", "socket.io#/#", mp("93", "s:emitter", "83", "s:type", "02", "s:data", "92", "s:ev", "d40100", "s:nsp", "s:/", "80"), "malformed"},
		{"huge array length", "socket.io#/#", mp("93", "s:emitter", "83", "s:type", "02", "s:data", "92", "s:ev", "ddffffffff", "s:nsp", "s:/", "80"), "malformed"},
		{"too deep", "socket.io#/#", mp("93", "s:emitter", "83", "s:type", "02", "s:data", "92", "s:ev", strings.Repeat("91", 40)+"01", "s:nsp", "s:/", "80"), "malformed"},
		{"too large", "socket.io#/#", packet("02", "s:ev", mp("81", "s:future", "c5"+"1000"+strings.Repeat("00", 4096))), "too_large"},
		{"request not JSON", "socket.io-request#/#", "\x93", "malformed"},
		{"request two values", "socket.io-request#/#", `{"type":4}{}`, "malformed"},
		{"request type fetch", "socket.io-request#/#", `{"type":5,"opts":{}}`, "unsupported"},
		{"join without rooms", "socket.io-request#/#", `{"type":2,"opts":{}}`, "malformed"},
		{"join a user room", "socket.io-request#/#", `{"type":2,"opts":{},"rooms":["user:43"]}`, "refused_room"},
		{"leave a user room", "socket.io-request#/#", `{"type":3,"opts":{},"rooms":["user:42"]}`, "refused_room"},
		{"join the empty room", "socket.io-request#/#", `{"type":2,"opts":{},"rooms":[""]}`, "refused_room"},
		{"rooms not strings", "socket.io-request#/#", `{"type":2,"opts":{},"rooms":[1]}`, "malformed"},
		{"request of another namespace", "socket.io-request#/chat#", `{"type":4,"opts":{}}`, "other_namespace"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec.calls = nil
			if got := handle(s, tc.channel, tc.payload); got != tc.want {
				t.Fatalf("result %q, want %q", got, tc.want)
			}
			if n := len(rec.calls); (tc.want == "delivered") != (n == 1) || n > 1 {
				t.Fatalf("%d calls for %s", n, tc.want)
			}
			// A bad message leaves the next one alone.
			rec.calls = nil
			if got := handle(s, "socket.io#/#", good); got != "delivered" || len(rec.calls) != 1 {
				t.Fatalf("next message: %s", got)
			}
		})
	}
	counts := map[string]uint64{}
	for i, n := range s.Counts() {
		counts[Results[i]] = n
	}
	if counts["delivered"] < uint64(len(tests)) || counts["malformed"] == 0 || counts["too_large"] != 1 || counts["reserved_event"] != 2 {
		t.Fatalf("counts %v", counts)
	}
}

func TestTenantPerKey(t *testing.T) {
	s, rec := newTest(t, Key{"socket.io", ""}, Key{"herald:acme", "acme"}, Key{"herald:beta", "beta"})
	for _, k := range []string{"socket.io", "herald:acme", "herald:beta"} {
		if got := handle(s, k+"#/#", packet("02", "s:ev", noOpts)); got != "delivered" {
			t.Fatalf("%s: %s", k, got)
		}
	}
	var tenants []string
	for _, c := range rec.calls {
		tenants = append(tenants, c.tenant)
	}
	if !reflect.DeepEqual(tenants, []string{"", "acme", "beta"}) {
		t.Fatalf("tenants %q", tenants)
	}
}

func TestNotReady(t *testing.T) {
	s := NewSubscriber(Options{Keys: []Key{{"k", ""}}, Target: func() Target { return nil }})
	if got := s.Handle("k#*", "k#/#", packet("02", "s:ev", noOpts)); got != "not_ready" {
		t.Fatal(got)
	}
	if got := s.Handle("k#*", "other#/#", packet("02", "s:ev", noOpts)); got != "malformed" {
		t.Fatal(got)
	}
	if got := s.Handle("nope#*", "nope#/#", ""); got != "malformed" {
		t.Fatal(got)
	}
}

func TestParseKeys(t *testing.T) {
	got, err := ParseKeys([]string{"socket.io, herald:acme=acme", "b=", ""})
	if err != nil {
		t.Fatal(err)
	}
	want := []Key{{"socket.io", ""}, {"herald:acme", "acme"}, {"b", ""}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%v", got)
	}
	if got, err := ParseKeys([]string{""}); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v %v", got, err)
	}
	for _, bad := range []string{"a*", "a?=t", "=t", "a#b", "a,a=t", "x,x-request", "a b"} {
		if _, err := ParseKeys([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzHandle feeds any payload on each channel kind: never a panic, and a
// delivered broadcast is a valid Socket.IO packet with a JSON array.
func FuzzHandle(f *testing.F) {
	for _, v := range vectors(f) {
		f.Add(v.channel, v.payload)
	}
	f.Add("socket.io#/#", packet("02", "s:ev", noOpts))
	f.Fuzz(func(t *testing.T, channel, payload string) {
		rec := &recorder{}
		s := NewSubscriber(Options{Keys: []Key{{"socket.io", "t"}}, MaxBytes: 1 << 16, Target: func() Target { return rec }})
		pattern := "socket.io#*"
		if strings.HasPrefix(channel, "socket.io-request#") {
			pattern = "socket.io-request#*"
		}
		res := s.Handle(pattern, channel, payload)
		if res != "delivered" {
			if len(rec.calls) != 0 {
				t.Fatalf("%s and delivered", res)
			}
			return
		}
		for _, c := range rec.calls {
			if c.op != "emit" {
				continue
			}
			p, err := socketio.Decode([]byte(c.text))
			if err != nil {
				t.Fatalf("packet %q: %v", c.text, err)
			}
			if !json.Valid(p.Data) || p.Attachments != len(c.atts) {
				t.Fatalf("packet %q: %d attachments", c.text, len(c.atts))
			}
		}
	})
}

func ExampleParseKeys() {
	keys, _ := ParseKeys([]string{"socket.io,herald:acme=acme"})
	fmt.Printf("%+v\n", keys)
	// Output: [{Key:socket.io Tenant:} {Key:herald:acme Tenant:acme}]
}
