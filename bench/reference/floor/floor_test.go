//go:build linux

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"herald/bench"
)

// TestMain lets the test binary act as a worker process of the load tool.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[len(os.Args)-1] == "-worker" {
		if err := bench.Main(context.Background(), []string{"-worker"}, os.Stdout, os.Stderr); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestLoadTool runs the load tool's scenarios against the floor through real loopback sockets.
func TestLoadTool(t *testing.T) {
	f, err := newFloor("test-secret", "test-key")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	for _, scenario := range []string{"fanout", "emit"} {
		t.Run(scenario, func(t *testing.T) {
			cfg, err := bench.ParseFlags([]string{scenario, "-url", srv.URL, "-secret", "test-secret", "-api-key", "test-key",
				"-server-pid", "-1", "-n", "60", "-settle", "10ms", "-reps", "3", "-pause", "10ms", "-step", "300ms",
				"-drain", "2s", "-rates", "200", "-batch", "3", "-src", "127.0.0.2-127.0.0.4", "-deadline", "60s"}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			cfg.KeepGoing = true
			cfg.WorkerCommand = []string{os.Args[0]}
			res, err := bench.Run(context.Background(), cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Connect.Connected != 60 || res.Connect.Failed != 0 || res.Connect.Dropped != 0 {
				t.Fatalf("connected %d, failed %d, dropped %d; want 60, 0, 0; errors %v",
					res.Connect.Connected, res.Connect.Failed, res.Connect.Dropped, res.Errors)
			}
			switch scenario {
			case "fanout":
				if res.Fanout.Missing != 0 || res.Fanout.Latency.Count != 180 {
					t.Errorf("fanout: missing %d, received %d; want 0, 180", res.Fanout.Missing, res.Fanout.Latency.Count)
				}
			case "emit":
				for _, st := range res.Steps {
					if st.Expected == 0 || st.Delivered != st.Expected || st.Misrouted != 0 {
						t.Errorf("emit: expected %d, delivered %d, misrouted %d", st.Expected, st.Delivered, st.Misrouted)
					}
				}
			}
		})
	}
	// The load tool closed its sockets: the floor's reader must have noticed every close.
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.RLock()
		n := len(f.all)
		f.mu.RUnlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets still held after the load tool closed them", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRefuses: a token signed with another secret gets connect_error, the API wants its key.
func TestRefuses(t *testing.T) {
	f, err := newFloor("test-secret", "test-key")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f.handler())
	t.Cleanup(srv.Close)
	cfg, err := bench.ParseFlags([]string{"conns", "-url", srv.URL, "-secret", "wrong", "-api-key", "test-key",
		"-server-pid", "-1", "-n", "10", "-hold", "10ms", "-src", "127.0.0.2-127.0.0.4", "-deadline", "30s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	res, _ := bench.Run(context.Background(), cfg, io.Discard)
	if res.Connect.Failed != 10 || res.Connect.Connected != 0 {
		t.Errorf("wrong secret: connected %d, failed %d; want 0, 10", res.Connect.Connected, res.Connect.Failed)
	}
	if len(res.Errors) == 0 {
		t.Error("no error reported for the refused connections")
	}
	for e := range res.Errors {
		if !strings.Contains(e, "token_invalid") {
			t.Errorf("error %q, want connect_error token_invalid", e)
		}
	}
	for _, c := range []struct{ method, path, auth, body string }{
		{"POST", "/v1/emit", "", `{"event":"e","broadcast":true}`},
		{"POST", "/v1/emit", "Bearer wrong", `{"event":"e","broadcast":true}`},
		{"GET", "/v1/stats", "", ""},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with %q: %s, want 401", c.method, c.path, c.auth, resp.Status)
		}
	}
}

func TestPacket(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)
	for in, want := range map[string]string{
		`{"t":1,"w":2}`: `42["e",{"t":1,"w":2,"timestamp":"2026-01-02T03:04:05.006Z"}]`,
		` { } `:         `42["e",{"timestamp":"2026-01-02T03:04:05.006Z"}]`,
		``:              `42["e",{"timestamp":"2026-01-02T03:04:05.006Z"}]`,
	} {
		got := packet("e", json.RawMessage(in), now)
		if string(got) != want {
			t.Errorf("packet(%q) = %s, want %s", in, got, want)
		}
		if !json.Valid(got[2:]) {
			t.Errorf("packet(%q) is not JSON after the type: %s", in, got)
		}
	}
}

// TestScanSplits feeds client frames cut at every byte: a close frame is found wherever it is cut.
func TestScanSplits(t *testing.T) {
	var wire bytes.Buffer
	mask := [4]byte{1, 2, 3, 4}
	for _, fr := range []ws.Frame{
		ws.NewTextFrame([]byte("3")),
		ws.NewTextFrame(bytes.Repeat([]byte("x"), 300)),
		ws.NewTextFrame([]byte("3")),
		ws.NewCloseFrame(nil),
	} {
		ws.WriteFrame(&wire, ws.MaskFrameWith(fr, mask))
	}
	b := wire.Bytes()
	for cut := 0; cut <= len(b); cut++ {
		s := &sock{}
		first := s.scan(b[:cut])
		second := s.scan(b[cut:])
		if !first && !second {
			t.Fatalf("cut at %d: close frame not seen", cut)
		}
		if first != (cut == len(b)) {
			t.Fatalf("cut at %d: close seen in the first part: %v (it is whole only at the end)", cut, first)
		}
	}
}
