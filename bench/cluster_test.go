//go:build linux

package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestClusterSpreads runs emit and fanout against three fake nodes: user i's socket is on node
// i mod 3, the HTTP calls are spread over the nodes, and the messages each node received from the
// others are reported per delivered event.
func TestClusterSpreads(t *testing.T) {
	t.Parallel()
	for _, scenario := range []string{"emit", "fanout"} {
		t.Run(scenario, func(t *testing.T) {
			t.Parallel()
			nodes := newFakeCluster(t, 3)
			cfg := testConfig(nodes[0], scenario)
			var urls []string
			for _, n := range nodes {
				urls = append(urls, n.srv.URL)
			}
			cfg.URL, cfg.URLs = strings.Join(urls, ","), urls
			res, err := Run(context.Background(), cfg, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if res.Connect.Connected != 60 || res.Connect.Failed != 0 {
				t.Fatalf("connected %d, failed %d; errors %v", res.Connect.Connected, res.Connect.Failed, res.Errors)
			}
			var calls int64
			for i, n := range nodes {
				n.mu.Lock()
				if len(n.seen) != 20 {
					t.Errorf("node %d: %d users, want 20", i, len(n.seen))
				}
				for u := range n.seen {
					var k int
					if _, err := fmt.Sscanf(u, "u%d", &k); err != nil || k%3 != i {
						t.Errorf("node %d holds user %s, want users i with i mod 3 = %d", i, u, i)
					}
				}
				n.mu.Unlock()
				calls += n.calls.Load()
			}
			if scenario == "emit" {
				for i, n := range nodes {
					// Round robin: each node answers a third of the calls, give or take one per step.
					if c := n.calls.Load(); c < calls/3-2 || c > calls/3+2 {
						t.Errorf("node %d answered %d of %d calls, want about a third", i, c, calls)
					}
				}
			}
			var recvs []*RecvResult
			switch scenario {
			case "emit":
				for _, st := range res.Steps {
					if st.Lost != 0 || st.Misrouted != 0 {
						t.Errorf("step %.0f: lost %d, misrouted %d", st.Offered, st.Lost, st.Misrouted)
					}
					recvs = append(recvs, st.Recv)
				}
			case "fanout":
				if res.Fanout.Missing != 0 {
					t.Errorf("fanout: %d missing", res.Fanout.Missing)
				}
				recvs = append(recvs, res.Fanout.Recv)
			}
			var msgs int64
			for _, rr := range recvs {
				if rr == nil || len(rr.PerNode) != 3 || len(rr.PerNodeEv) != 3 {
					t.Fatalf("recv: got %+v, want three nodes", rr)
				}
				msgs += rr.Messages
				if rr.Messages > 0 && rr.PerEvent <= 0 {
					t.Errorf("recv: %+v has no per-event figure", rr)
				}
			}
			// Every call is received by the two other nodes.
			if msgs != 2*calls {
				t.Errorf("messages received: got %d, want %d (2 per call of %d)", msgs, 2*calls, calls)
			}
			var buf bytes.Buffer
			res.WriteTable(&buf)
			if !strings.Contains(buf.String(), "received from other nodes") {
				t.Errorf("table lacks the received messages:\n%s", buf.String())
			}
		})
	}
}

func TestNodeFor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ user, k, want int }{{0, 1, 0}, {7, 1, 0}, {7, 0, 0}, {7, 3, 1}, {5, 6, 5}, {6, 6, 0}} {
		if got := nodeFor(c.user, c.k); got != c.want {
			t.Errorf("nodeFor(%d, %d) = %d, want %d", c.user, c.k, got, c.want)
		}
	}
	cfg, err := ParseFlags([]string{"conns", "-url", "http://127.0.0.1:1, http://127.0.0.1:2,,http://[::1]:3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.URLs) != 3 || cfg.URLs[1] != "http://127.0.0.1:2" {
		t.Errorf("URLs: got %q", cfg.URLs)
	}
	if _, err := ParseFlags([]string{"conns", "-url", "http://127.0.0.1:1,http://10.1.1.1:2"}, io.Discard); err == nil {
		t.Error("a non-loopback node among several: got no error")
	}
	if _, err := ParseFlags([]string{"conns", "-url", " , "}, io.Discard); err == nil {
		t.Error("an empty -url: got no error")
	}
}

func TestParsePIDs(t *testing.T) {
	t.Parallel()
	cfg, err := ParseFlags([]string{"conns", "-server-pid", "12, 34", "-extra-pid", "56"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.ServerPIDs) != 2 || cfg.ServerPIDs[1] != 34 || len(cfg.ExtraPIDs) != 1 || cfg.ExtraPIDs[0] != 56 {
		t.Errorf("got servers %v, extra %v", cfg.ServerPIDs, cfg.ExtraPIDs)
	}
	for _, bad := range [][]string{
		{"-server-pid", "x"}, {"-server-pid", "12,0"}, {"-server-pid", "-1,12"}, {"-server-pid", "-2"},
		{"-extra-pid", "0"}, {"-extra-pid", "-1"}, {"-extra-pid", "7,y"},
	} {
		if _, err := ParseFlags(append([]string{"conns"}, bad...), io.Discard); err == nil {
			t.Errorf("ParseFlags(%q): got no error", bad)
		}
	}
}

func TestSumUsage(t *testing.T) {
	t.Parallel()
	procs := map[int]ProcUsage{
		10: {RSS: 100 << 20, HWM: 120 << 20, CPU: 1500 * time.Millisecond, Threads: 8},
		11: {RSS: 50 << 20, HWM: 60 << 20, CPU: 250 * time.Millisecond, Threads: 4},
		12: {RSS: 5 << 20, HWM: 5 << 20, CPU: 10 * time.Millisecond, Threads: 1},
	}
	read := func(pid int) (ProcUsage, error) {
		u, ok := procs[pid]
		if !ok {
			return u, os.ErrNotExist
		}
		return u, nil
	}
	got, err := sumUsage([]int{10, 11, 12}, read)
	want := ProcUsage{RSS: 155 << 20, HWM: 185 << 20, CPU: 1760 * time.Millisecond, Threads: 13}
	if err != nil || got != want {
		t.Errorf("sumUsage: got %+v, %v; want %+v", got, err, want)
	}
	// A process that is gone adds nothing and is named in the error.
	got, err = sumUsage([]int{10, 99}, read)
	if got != procs[10] || err == nil || !strings.Contains(err.Error(), "pid 99") {
		t.Errorf("sumUsage with a gone pid: got %+v, %v", got, err)
	}
	if got, err := sumUsage(nil, read); got != (ProcUsage{}) || err != nil {
		t.Errorf("sumUsage(nil): got %+v, %v", got, err)
	}
	// The real /proc: this process twice is twice this process, up to what it used in between.
	self := os.Getpid()
	one, err := ReadProc(self)
	if err != nil {
		t.Fatal(err)
	}
	two, err := sumUsage([]int{self, self}, ReadProc)
	if err != nil || two.Threads < 2 || two.CPU < 2*one.CPU || two.RSS < one.RSS {
		t.Errorf("sumUsage(self, self): got %+v, %v; one is %+v", two, err, one)
	}
}

func TestParseCounter(t *testing.T) {
	t.Parallel()
	text := `# HELP herald_cluster_messages_received_total Messages from other nodes.
# TYPE herald_cluster_messages_received_total counter
herald_cluster_messages_received_total 41
herald_cluster_messages_received_total_extra 1000
herald_cluster_messages_published_total 7
redis_adapter_messages_received_total{node="a b",shard="1"} 2 1700000000000
redis_adapter_messages_received_total{shard="2"} 3e0
`
	names := []string{"herald_cluster_messages_received_total", "redis_adapter_messages_received_total"}
	sum, found, err := parseCounter(strings.NewReader(text), names)
	if err != nil || !found || sum != 46 {
		t.Errorf("got %v, %v, %v; want 46, true, nil", sum, found, err)
	}
	if _, found, err := parseCounter(strings.NewReader("go_goroutines 5\n"), names); found || err != nil {
		t.Errorf("no such counter: got found %v, %v", found, err)
	}
	if _, _, err := parseCounter(strings.NewReader("herald_cluster_messages_received_total x\n"), names); err == nil {
		t.Error("a bad value: got no error")
	}
	// Against a fake node's GET /metrics, and one without the endpoint.
	f := newFakeServer(t, false)
	f.recv.Store(12)
	ctx := context.Background()
	api := newAPIClient([]string{f.srv.URL}, "", 1)
	if v, found, err := scrapeCounter(ctx, api.hc, f.srv.URL, names); err != nil || !found || v != 12 {
		t.Errorf("scrape: got %v, %v, %v; want 12", v, found, err)
	}
	if _, _, err := scrapeCounter(ctx, api.hc, f.srv.URL+"/nothing", names); err == nil {
		t.Error("scrape of a 404: got no error")
	}
	if r := recvResult(recvCounts{1, 2}, recvCounts{4, 8}, 3); r == nil || r.Messages != 9 || r.PerEvent != 3 || r.PerNodeEv[1] != 2 {
		t.Errorf("recvResult: got %+v", r)
	}
	if recvResult(nil, recvCounts{1}, 1) != nil {
		t.Error("recvResult without a first scrape: want nil")
	}
}
