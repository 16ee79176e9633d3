//go:build linux

package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Several nodes: `-url a,b,c` spreads the connections over the nodes (user i on node i mod k) and
// the HTTP calls round robin; every server process (one per URL, or -server-pid) and every
// -extra-pid (Redis) is measured, and each node's counter of messages received from the other
// nodes (-recv-metric on GET /metrics) is read before and after each measured phase.

// DefaultRecvMetrics are the counters of messages a node receives from the other nodes: herald's,
// and the one bench/reference/node exposes with REDIS_URL (@socket.io/redis-adapter).
const DefaultRecvMetrics = "herald_cluster_messages_received_total,redis_adapter_messages_received_total"

// splitList splits a comma list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// nodeFor is the index of the node user connects to among k: user mod k, so that a user's socket
// is on a known node and consecutive users (an emit group) are spread over all of them.
func nodeFor(user, k int) int {
	if k <= 1 {
		return 0
	}
	return user % k
}

// parsePIDs reads "-1", "0" or "12,34". An empty list means 0 (find the process per URL).
func parsePIDs(s string) ([]int, error) {
	var pids []int
	for _, p := range splitList(s) {
		v, err := strconv.Atoi(p)
		if err != nil || v < -1 {
			return nil, fmt.Errorf("bad pid %q", p)
		}
		pids = append(pids, v)
	}
	if len(pids) > 1 && slices.ContainsFunc(pids, func(v int) bool { return v <= 0 }) {
		return nil, fmt.Errorf("bad pid list %q: give pids, or a single 0 (find them) or -1 (none)", s)
	}
	return pids, nil
}

// sumUsage adds up the /proc figures of several processes: RSS, peak RSS, CPU and threads. A
// process that cannot be read (gone) adds nothing; the error names it.
func sumUsage(pids []int, read func(int) (ProcUsage, error)) (ProcUsage, error) {
	var sum ProcUsage
	var errs []error
	for _, pid := range pids {
		u, err := read(pid)
		if err != nil {
			errs = append(errs, fmt.Errorf("pid %d: %w", pid, err))
			continue
		}
		sum.RSS += u.RSS
		sum.HWM += u.HWM
		sum.CPU += u.CPU
		sum.Threads += u.Threads
	}
	return sum, errors.Join(errs...)
}

// parseCounter sums the samples of the named metrics in a Prometheus text exposition (every label
// set of each name); found says whether any of them was there at all.
func parseCounter(r io.Reader, names []string) (sum float64, found bool, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		if i := strings.IndexByte(name, '{'); i >= 0 {
			// Labels may hold spaces: the value comes after the closing brace.
			j := strings.LastIndexByte(line, '}')
			if j < i {
				continue
			}
			name, rest = line[:i], line[j+1:]
		}
		if !slices.Contains(names, name) {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, perr := strconv.ParseFloat(f[0], 64)
		if perr != nil {
			return 0, false, fmt.Errorf("metric %s: bad value %q", name, f[0])
		}
		sum += v
		found = true
	}
	return sum, found, sc.Err()
}

// scrapeCounter reads base's GET /metrics (no auth, 1 MiB at most, 5 s at most) and sums names.
func scrapeCounter(ctx context.Context, hc *http.Client, base string, names []string) (float64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/metrics", nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return 0, false, fmt.Errorf("GET %s/metrics: %s", base, resp.Status)
	}
	return parseCounter(io.LimitReader(resp.Body, 1<<20), names)
}

// recvCounts is one scrape of every node's received-messages counter; nil when no node has one.
type recvCounts []float64

// scrapeRecv reads every node's counter, with several nodes only (one URL: nothing changes). It
// returns nil unless every node answered with one, so that a phase is only reported when it was
// measured everywhere.
func (r *runner) scrapeRecv(ctx context.Context) recvCounts {
	if len(r.cfg.RecvMetrics) == 0 || len(r.cfg.URLs) < 2 {
		return nil
	}
	out := make(recvCounts, len(r.cfg.URLs))
	for i, base := range r.cfg.URLs {
		v, found, err := scrapeCounter(ctx, r.api.hc, base, r.cfg.RecvMetrics)
		if err != nil || !found {
			if !r.recvNoted {
				r.recvNoted = true
				if err == nil {
					err = fmt.Errorf("none of %s", strings.Join(r.cfg.RecvMetrics, ", "))
				}
				r.note("messages received per node not measured: %s: %v", base, err)
			}
			return nil
		}
		out[i] = v
	}
	return out
}

// RecvResult is how many messages the nodes received from each other (over Redis) during a
// measured phase, per delivered event.
type RecvResult struct {
	Messages  int64     `json:"messages"`        // every node's, added up
	PerEvent  float64   `json:"perEvent"`        // Messages / delivered events
	PerNode   []int64   `json:"perNode"`         // in -url order
	PerNodeEv []float64 `json:"perNodePerEvent"` // each node's messages / delivered events (of all nodes)
}

// recvResult is the difference of two scrapes; nil when either is missing.
func recvResult(before, after recvCounts, delivered int64) *RecvResult {
	if before == nil || after == nil || len(before) != len(after) {
		return nil
	}
	res := &RecvResult{}
	for i := range after {
		d := int64(after[i] - before[i])
		res.PerNode = append(res.PerNode, d)
		res.Messages += d
		if delivered > 0 {
			res.PerNodeEv = append(res.PerNodeEv, float64(d)/float64(delivered))
		}
	}
	if delivered > 0 {
		res.PerEvent = float64(res.Messages) / float64(delivered)
	}
	return res
}

// String is the one-line form of the report.
func (r *RecvResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d messages, %.3f per delivered event", r.Messages, r.PerEvent)
	if len(r.PerNodeEv) > 1 {
		b.WriteString(" (per node:")
		for _, v := range r.PerNodeEv {
			fmt.Fprintf(&b, " %.3f", v)
		}
		b.WriteString(")")
	}
	return b.String()
}
