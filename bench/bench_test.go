//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestMain lets the test binary act as a worker process of the load tool.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[len(os.Args)-1] == "-worker" {
		if err := runWorker(os.Stdin, os.Stdout); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	var h Histogram
	for i := 1; i <= 100000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.9, 90 * time.Millisecond}, {0.99, 99 * time.Millisecond}} {
		got := h.Quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d > 0.016 || d < -0.016 {
			t.Errorf("quantile %v: got %v, want %v within 1.6%%", c.q, got, c.want)
		}
	}
	if got := h.Max(); got != 100*time.Millisecond {
		t.Errorf("max: got %v, want 100ms", got)
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var back Histogram
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	back.Merge(&h)
	if got, want := back.Count(), uint64(200000); got != want {
		t.Errorf("count after round trip and merge: got %d, want %d", got, want)
	}
	if got, want := back.Quantile(0.5), h.Quantile(0.5); got != want {
		t.Errorf("median after round trip: got %v, want %v", got, want)
	}
}

func TestHistogramBuckets(t *testing.T) {
	t.Parallel()
	prev := -1
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1, 1<<64 - 1} {
		i := bucketOf(v)
		if i < prev || i >= histBuckets {
			t.Fatalf("bucketOf(%d) = %d: not monotonic or out of range", v, i)
		}
		prev = i
		if mid := bucketMid(i); v >= 128 && (mid < float64(v)*0.98 || mid > float64(v)*1.02) {
			t.Errorf("bucketMid(bucketOf(%d)) = %v: more than 2%% off", v, mid)
		}
	}
}

func TestIntField(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		key  []byte
		want int64
		ok   bool
	}{
		{`{"t":1796000000000000123,"w":3}`, keyTime, 1796000000000000123, true},
		{`{"t": 42}`, keyTime, 42, true},
		{`{"type":"x","t":7.5}`, keyTime, 7, true},
		{`{"t":1.7e18}`, keyTime, 0, false},
		{`{"timestamp":"2026"}`, keyTime, 0, false},
		{`{"g":-1}`, keyGroup, -1, true},
		{`{"t":}`, keyTime, 0, false},
	} {
		got, ok := intField([]byte(c.in), c.key)
		if got != c.want || ok != c.ok {
			t.Errorf("intField(%s, %s) = %d, %v; want %d, %v", c.in, c.key, got, ok, c.want, c.ok)
		}
	}
}

// discardConn is a net.Conn that swallows writes, for feeding a conn by hand.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error) { return len(b), nil }
func (discardConn) Close() error                { return nil }

func serverFrame(t testing.TB, text string) []byte {
	var b bytes.Buffer
	if err := ws.WriteFrame(&b, ws.NewTextFrame([]byte(text))); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func readyConn(t testing.TB) (*Pool, *conn) {
	p, err := NewPool(PoolConfig{URL: "http://127.0.0.1:1", Secret: "s", Users: 1, GroupSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	p.SetWindow(9)
	return p, &conn{pool: p, user: 3, group: 1, nc: discardConn{}, state: stateReady, authed: true}
}

// TestFeedSplits feeds a stream of frames split at every byte boundary and checks that every event is
// counted exactly once, whatever the split, including a frame too big to be kept whole.
func TestFeedSplits(t *testing.T) {
	t.Parallel()
	now := time.Now().UnixNano()
	big := `42["bench",{"t":` + itoa(now) + `,"w":9,"g":1,"pad":"` + strings.Repeat("x", 3*maxKeptFrame) + `"}]`
	var stream []byte
	stream = append(stream, serverFrame(t, "2")...)
	stream = append(stream, serverFrame(t, `42["bench",{"t":`+itoa(now)+`,"w":9,"s":1,"g":1}]`)...)
	stream = append(stream, serverFrame(t, `42["other",{}]`)...)
	stream = append(stream, serverFrame(t, `42["bench",{"t":`+itoa(now)+`,"w":8,"g":1}]`)...) // stale
	stream = append(stream, serverFrame(t, `42["bench",{"t":`+itoa(now)+`,"w":9,"g":0}]`)...) // misrouted
	stream = append(stream, serverFrame(t, big)...)
	stream = append(stream, serverFrame(t, `42["bench",{"t":`+itoa(now)+`,"w":9,"g":1,"timestamp":"x"}]`)...)
	for split := 0; split <= len(stream); split += 1 + split/64 {
		p, c := readyConn(t)
		if err := c.feed(stream[:split]); err != nil {
			t.Fatalf("split %d: %v", split, err)
		}
		if err := c.feed(stream[split:]); err != nil {
			t.Fatalf("split %d: %v", split, err)
		}
		s := p.Snapshot()
		if s.Received != 3 || s.Stale != 1 || s.Misrouted != 1 || s.OtherEvents != 1 {
			t.Fatalf("split %d: received %d, stale %d, misrouted %d, other %d; want 3, 1, 1, 1",
				split, s.Received, s.Stale, s.Misrouted, s.OtherEvents)
		}
	}
}

func itoa(v int64) string { b, _ := json.Marshal(v); return string(b) }

func TestFeedRejectsMaskedServerFrame(t *testing.T) {
	t.Parallel()
	_, c := readyConn(t)
	var b bytes.Buffer
	ws.WriteFrame(&b, ws.MaskFrame(ws.NewTextFrame([]byte("2"))))
	if err := c.feed(b.Bytes()); err == nil {
		t.Fatal("got no error for a masked server frame")
	}
}

func FuzzFeed(f *testing.F) {
	f.Add(serverFrame(f, `42["bench",{"t":1,"w":9,"g":1}]`))
	f.Add(serverFrame(f, `0{"sid":"x"}`))
	f.Add(serverFrame(f, `44{"message":"no"}`))
	f.Add([]byte{0x81, 126, 0xff})
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, st := range []connState{stateOpening, stateConnecting, stateReady} {
			p, c := readyConn(t)
			c.state, c.authed = st, st == stateReady
			half := len(b) / 2
			if c.feed(b[:half]) == nil {
				c.feed(b[half:])
			}
			p.Snapshot()
		}
	})
}

// TestMaskedClientFrames checks what the client sends: masked frames a server can read.
func TestMaskedClientFrames(t *testing.T) {
	t.Parallel()
	p, err := NewPool(PoolConfig{URL: "http://127.0.0.1:1", Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		frame  []byte
		prefix string
	}{{pongFrame, "3"}, {p.connectFrame(7), `40{"token":"ey`}} {
		msgs, err := wsutil.ReadClientMessage(bytes.NewReader(c.frame), nil)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("read client frame: %v", err)
		}
		if !strings.HasPrefix(string(msgs[0].Payload), c.prefix) {
			t.Errorf("got %q, want prefix %q", msgs[0].Payload, c.prefix)
		}
	}
}

func testConfig(f *fakeServer, scenario string) Config {
	args := []string{scenario, "-url", f.srv.URL, "-secret", string(f.secret), "-api-key", f.apiKey,
		"-server-pid", "-1", "-n", "60", "-rate", "2000", "-settle", "10ms", "-hold", "200ms",
		"-reps", "2", "-pause", "10ms", "-step", "300ms", "-drain", "2s", "-rates", "200,400", "-batch", "3",
		"-src", "127.0.0.2-127.0.0.4", "-deadline", "60s"}
	cfg, err := ParseFlags(args, io.Discard)
	if err != nil {
		f.t.Fatal(err)
	}
	cfg.WorkerCommand = []string{os.Args[0]}
	cfg.KeepGoing = true // a slow test machine saturates early; the counts are what is tested
	return cfg
}

func TestScenarios(t *testing.T) {
	t.Parallel()
	for _, perProc := range []int{1000, 25} {
		for _, scenario := range Scenarios {
			t.Run(scenario, func(t *testing.T) {
				t.Parallel()
				f := newFakeServer(t, false)
				cfg := testConfig(f, scenario)
				cfg.PerProcess = perProc
				res, err := Run(context.Background(), cfg, io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				if res.Connect.Connected != 60 || res.Connect.Failed != 0 || res.Connect.Dropped != 0 {
					t.Fatalf("connected %d, failed %d, dropped %d; want 60, 0, 0; errors %v",
						res.Connect.Connected, res.Connect.Failed, res.Connect.Dropped, res.Errors)
				}
				if want := (60 + perProc - 1) / perProc; res.Connect.Processes != want {
					t.Errorf("processes: got %d, want %d", res.Connect.Processes, want)
				}
				switch scenario {
				case "fanout":
					if len(res.Fanout.Reps) != 2 || res.Fanout.Missing != 0 || res.Fanout.Latency.Count != 120 {
						t.Errorf("fanout: got %+v", res.Fanout)
					}
				case "emit", "notify":
					if len(res.Steps) != 2 {
						t.Fatalf("steps: got %d, want 2", len(res.Steps))
					}
					for _, st := range res.Steps {
						if st.Lost != 0 || st.Misrouted != 0 || st.Delivered != st.Expected || st.Expected == 0 {
							t.Errorf("step %.0f/s: expected %d, delivered %d, lost %d, misrouted %d",
								st.Offered, st.Expected, st.Delivered, st.Lost, st.Misrouted)
						}
					}
				}
				var buf bytes.Buffer
				res.WriteTable(&buf)
				if !strings.Contains(buf.String(), "60 of 60 authenticated") {
					t.Errorf("table lacks the connection count:\n%s", buf.String())
				}
				// One URL: the fake server's /metrics has the cluster counter, yet nothing of it is read.
				if strings.Contains(buf.String(), "other nodes") || (res.Fanout != nil && res.Fanout.Recv != nil) {
					t.Errorf("one server: the table reports messages between nodes:\n%s", buf.String())
				}
			})
		}
	}
}

func TestEmitCountsMisroutes(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, true)
	cfg := testConfig(f, "emit")
	cfg.Rates = []float64{300}
	res, err := Run(context.Background(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	st := res.Steps[0]
	if st.Misrouted == 0 || !st.Saturated {
		t.Errorf("got misrouted %d, saturated %v; want misroutes reported", st.Misrouted, st.Saturated)
	}
}

func TestConnectErrorCounted(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, false)
	cfg := testConfig(f, "conns")
	cfg.Secret = "wrong"
	res, err := Run(context.Background(), cfg, io.Discard)
	if err == nil {
		t.Fatal("got no error with every connection refused")
	}
	if res.Connect.Failed != 60 || !strings.Contains(strings.Join(keys(res.Errors), " "), "token_invalid") {
		t.Errorf("failed %d, errors %v; want 60 connect errors with their message", res.Connect.Failed, res.Errors)
	}
}

// TestDeadlineDuringRampKeepsCounts: a ramp cut short by the deadline still reports what it reached.
func TestDeadlineDuringRampKeepsCounts(t *testing.T) {
	t.Parallel()
	f := newFakeServer(t, false)
	cfg := testConfig(f, "conns")
	cfg.Rate = 40 // 60 connections take 1.5 s; the deadline ends the ramp after 0.5 s
	cfg.Deadline = 500 * time.Millisecond
	res, err := Run(context.Background(), cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "connecting") {
		t.Fatalf("got error %v, want the ramp's deadline", err)
	}
	if c := res.Connect; c.Connected == 0 || c.Connected >= 60 || c.RatePerSec == 0 || c.Latency.Count == 0 {
		t.Errorf("got connected %d, rate %.0f/s, %d latencies; want the part of the ramp that was done",
			c.Connected, c.RatePerSec, c.Latency.Count)
	}
}

func keys(m map[string]int) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	return k
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	cfg, err := ParseFlags([]string{"emit", "-src", "127.0.0.2-127.0.0.5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.SourceIPs) != 4 || cfg.SourceIPs[3] != "127.0.0.5" || cfg.Batch != 20 || len(cfg.Rates) == 0 {
		t.Errorf("got %+v", cfg)
	}
	for _, bad := range [][]string{
		{"nope"},
		{"conns", "-url", "http://10.0.0.1:3000"},
		{"conns", "-src", "192.168.1.2"},
		{"conns", "-per-proc", "30000"},
	} {
		if _, err := ParseFlags(bad, io.Discard); err == nil {
			t.Errorf("ParseFlags(%q): got no error", bad)
		}
	}
}

func TestFindListener(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pid, err := FindListener(ln.Addr().(*net.TCPAddr).Port)
	if err != nil {
		t.Fatal(err)
	}
	if pid != os.Getpid() {
		t.Errorf("got pid %d, want %d", pid, os.Getpid())
	}
	u, err := ReadProc(pid)
	if err != nil || u.RSS == 0 || u.Threads == 0 {
		t.Errorf("ReadProc: %+v, %v", u, err)
	}
}
