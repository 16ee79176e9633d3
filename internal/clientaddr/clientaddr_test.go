package clientaddr

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func mustCIDRs(t testing.TB, s string) []netip.Prefix {
	t.Helper()
	p, err := ParseCIDRs(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseCIDRs(t *testing.T) {
	got := mustCIDRs(t, " 10.0.0.0/8, 192.168.1.7 ,2001:db8::/32,::ffff:172.16.0.0/108,")
	want := []string{"10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32", "172.16.0.0/12"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d: got %v, want %s", i, got[i], want[i])
		}
	}
	if p := mustCIDRs(t, ""); len(p) != 0 {
		t.Errorf("empty list: %v", p)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.1:80", "fe80::1%eth0", "10.0.0.0/8,x"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestForwarded(t *testing.T) {
	r := New(mustCIDRs(t, "10.0.0.0/8,::1"), nil)
	cases := []struct {
		name  string
		lines []string
		want  string // "" means ignored
	}{
		{"one client", []string{"203.0.113.5"}, "203.0.113.5"},
		{"rightmost untrusted wins over the client's own claims", []string{"1.1.1.1, 203.0.113.5, 10.0.0.2"}, "203.0.113.5"},
		{"several lines are one list", []string{"1.1.1.1", "203.0.113.5 ,10.1.2.3", "10.0.0.9"}, "203.0.113.5"},
		{"all trusted: the leftmost", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"ipv6 and mapped ipv4", []string{"2001:db8::1, ::ffff:10.0.0.1"}, "2001:db8::1"},
		{"mapped client is unmapped", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"tabs are whitespace", []string{"\t203.0.113.5\t"}, "203.0.113.5"},
		{"absent", nil, ""},
		{"empty", []string{""}, ""},
		{"empty element", []string{"203.0.113.5,,10.0.0.1"}, ""},
		{"port", []string{"203.0.113.5:1234"}, ""},
		{"brackets", []string{"[2001:db8::1]"}, ""},
		{"zone", []string{"fe80::1%eth0"}, ""},
		{"name", []string{"unknown"}, ""},
		{"garbage left of the client still spoils the header", []string{"evil, 203.0.113.5"}, ""},
		{"too long", []string{strings.Repeat("1.1.1.1,", MaxHeaderBytes/8) + "203.0.113.5"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, ok := Forwarded(c.lines, r.Trusted)
			if c.want == "" {
				if ok {
					t.Fatalf("got %v, want the header ignored", a)
				}
				return
			}
			if !ok || a.String() != c.want {
				t.Fatalf("got %v %v, want %s", a, ok, c.want)
			}
		})
	}
}

func TestMiddleware(t *testing.T) {
	var seen, peer string
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	h := New(mustCIDRs(t, "10.0.0.0/8"), log).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, peer = r.RemoteAddr, Peer(r)
	}))
	serve := func(remote string, xff ...string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		for _, v := range xff {
			req.Header.Add("X-Forwarded-For", v)
		}
		seen, peer = "", ""
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	serve("10.0.0.1:5000", "203.0.113.5")
	if seen != "203.0.113.5:0" || peer != "10.0.0.1:5000" {
		t.Errorf("trusted peer: RemoteAddr %q, Peer %q", seen, peer)
	}
	serve("192.0.2.1:5000", "203.0.113.5")
	if seen != "192.0.2.1:5000" || peer != seen {
		t.Errorf("untrusted peer: RemoteAddr %q, Peer %q", seen, peer)
	}
	if logged.Len() != 0 {
		t.Errorf("logged: %s", logged.String())
	}
	serve("10.0.0.1:5000", "not-an-ip")
	if seen != "10.0.0.1:5000" {
		t.Errorf("malformed header: RemoteAddr %q", seen)
	}
	if !strings.Contains(logged.String(), "level=WARN") || !strings.Contains(logged.String(), "remote=10.0.0.1:5000") {
		t.Errorf("malformed header of a trusted proxy: log %q", logged.String())
	}
	serve("[2001:db8::1]:5000", "203.0.113.5")
	if seen != "[2001:db8::1]:5000" {
		t.Errorf("untrusted v6 peer: RemoteAddr %q", seen)
	}
	serve("10.0.0.1:5000", "2001:db8::7")
	if seen != "[2001:db8::7]:0" {
		t.Errorf("forwarded v6: RemoteAddr %q", seen)
	}
	// Nobody trusted: the handler itself, headers never read.
	next := http.NewServeMux() // a pointer: comparable
	if got := New(nil, log).Middleware(next); got != next {
		t.Fatal("with nobody trusted, Middleware wraps the handler")
	}
}

// FuzzForwarded: never a panic; an accepted header is within its bound,
// and the client is one of its addresses, untrusted unless all are.
func FuzzForwarded(f *testing.F) {
	for _, s := range []string{"203.0.113.5", "1.1.1.1, 10.0.0.1", "::ffff:10.0.0.1,2001:db8::1", " , ", "[::1]:80", "1.1.1.1\n2.2.2.2"} {
		f.Add(s, "10.0.0.2")
	}
	trusted := New([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8::/32")}, nil).Trusted
	f.Fuzz(func(t *testing.T, a, b string) {
		lines := []string{a, b}
		got, ok := Forwarded(lines, trusted)
		if !ok {
			return
		}
		if len(a)+len(b) > MaxHeaderBytes {
			t.Fatalf("accepted %d bytes", len(a)+len(b))
		}
		all := strings.Split(a+","+b, ",")
		var addrs []netip.Addr
		for _, e := range all {
			x, err := netip.ParseAddr(strings.Trim(e, " \t"))
			if err != nil {
				t.Fatalf("accepted %q, with element %q", lines, e)
			}
			addrs = append(addrs, x.Unmap())
		}
		for i := len(addrs) - 1; i >= 0; i-- {
			if !trusted(addrs[i]) {
				if got != addrs[i] {
					t.Fatalf("%q: got %v, want %v", lines, got, addrs[i])
				}
				return
			}
		}
		if got != addrs[0] {
			t.Fatalf("%q all trusted: got %v, want %v", lines, got, addrs[0])
		}
	})
}
