//go:build linux

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"
)

// Run runs cfg's scenario and returns what it measured. Progress goes to progress, one line a
// second. A result is returned even when the run fails part way, with what was measured until then.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Result, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Deadline)
	defer cancel()
	deadline, _ := ctx.Deadline()
	// Whatever hangs, the process ends shortly after the deadline.
	watchdog := time.AfterFunc(cfg.Deadline+30*time.Second, func() {
		fmt.Fprintln(os.Stderr, "heraldload: deadline passed, exiting")
		os.Exit(3)
	})
	defer watchdog.Stop()

	r := &runner{
		cfg:      cfg,
		progress: progress,
		api:      newAPIClient(cfg.URLs, cfg.APIKey, cfg.Senders+4),
		deadline: deadline,
		res: &Result{
			Scenario: cfg.Scenario,
			Label:    cfg.Label,
			URL:      cfg.URL,
			Started:  time.Now().UTC(),
			Params:   params(cfg),
		},
	}
	r.cpu0 = SelfCPU()
	err := r.run(ctx)
	r.res.Tool.CPUTotal = sec(r.toolCPU())
	return r.res, err
}

func params(cfg Config) map[string]any {
	p := map[string]any{
		"conns": cfg.Conns, "rate": cfg.Rate, "sourceIPs": len(cfg.SourceIPs), "perProcess": cfg.PerProcess,
	}
	switch cfg.Scenario {
	case "conns":
		p["holdSec"] = cfg.Hold.Seconds()
	case "fanout":
		p["reps"] = cfg.Reps
	case "emit", "notify":
		p["rates"] = cfg.Rates
		p["stepSec"] = cfg.Step.Seconds()
		p["batch"] = cfg.Batch
		p["senders"] = cfg.Senders
	}
	return p
}

type runner struct {
	cfg      Config
	progress io.Writer
	api      *apiClient
	deadline time.Time
	res      *Result
	fleet    fleet
	pid      int   // the first server process, 0 when none is measured
	pids     []int // every process measured: the servers (one per URL when found), then ExtraPIDs
	cpu0     time.Duration
	// recvNoted: the note that the received-messages counters could not be read is written once.
	recvNoted bool
	lastSnap  Snapshot // latest snapshot, for the workers' CPU
}

func (r *runner) run(ctx context.Context) error {
	r.findServer()
	event := "bench"
	group := 0
	switch r.cfg.Scenario {
	case "emit":
		group = r.cfg.Batch
	case "notify":
		event = "notification:new"
		group = r.cfg.Batch
	}
	if err := r.connect(ctx, event, group); err != nil {
		return err
	}
	defer r.fleet.close()
	if r.cfg.CPUProfile != "" {
		f, err := os.Create(r.cfg.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	switch r.cfg.Scenario {
	case "conns":
		return r.conns(ctx)
	case "fanout":
		return r.fanout(ctx)
	default:
		return r.steps(ctx)
	}
}

// findServer resolves the server processes measured through /proc: -server-pid, or the process
// listening on each URL's port; then the extra processes (Redis).
func (r *runner) findServer() {
	var servers []int
	switch {
	case len(r.cfg.ServerPIDs) == 1 && r.cfg.ServerPIDs[0] == -1:
	case len(r.cfg.ServerPIDs) == 0 || r.cfg.ServerPIDs[0] == 0:
		for _, base := range r.cfg.URLs {
			pid, err := listenerOf(base)
			if err != nil {
				r.note("server not measured: %v (give -server-pid)", err)
				servers = nil
				break
			}
			if !slices.Contains(servers, pid) {
				servers = append(servers, pid)
			}
		}
	default:
		servers = r.cfg.ServerPIDs
	}
	for _, pid := range append(slices.Clone(servers), r.cfg.ExtraPIDs...) {
		if _, err := ReadProc(pid); err != nil {
			r.note("server pid %d not measured: %v", pid, err)
			continue
		}
		r.pids = append(r.pids, pid)
		if r.pid == 0 && slices.Contains(servers, pid) {
			r.pid = pid
		}
	}
	if r.pid > 0 {
		r.res.Server = &ServerResult{PID: r.pid}
		if len(r.pids) > 1 {
			r.res.Server.PIDs = r.pids
		}
	} else {
		r.pids = nil
	}
}

// listenerOf is the pid of the process listening on base's port.
func listenerOf(base string) (int, error) {
	u, err := url.Parse(base)
	if err != nil {
		return 0, err
	}
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		port = 80
	}
	return FindListener(port)
}

func (r *runner) note(format string, args ...any) {
	r.res.Notes = append(r.res.Notes, fmt.Sprintf(format, args...))
}

func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.progress, "[%s] "+format+"\n", append([]any{r.cfg.Scenario}, args...)...)
}

// serverUsage reads the servers' /proc figures, added up over every process measured (servers and
// extra processes); zero when none is measured.
func (r *runner) serverUsage() ProcUsage {
	u, _ := sumUsage(r.pids, ReadProc)
	return u
}

// toolCPU is the CPU of this process and of its workers, as of their latest snapshot.
func (r *runner) toolCPU() time.Duration {
	return SelfCPU() - r.cpu0 + r.lastSnap.CPU
}

func (r *runner) snapshot() (Snapshot, error) {
	s, err := r.fleet.snapshot()
	if err == nil {
		r.lastSnap = s
	}
	return s, err
}

// counts is snapshot without the histograms, for polling.
func (r *runner) counts() (Snapshot, error) {
	s, err := r.fleet.counts()
	if err == nil {
		r.lastSnap = s
	}
	return s, err
}

// connect builds the fleet and ramps every connection up, printing progress each second.
func (r *runner) connect(ctx context.Context, event string, group int) error {
	cfg := r.cfg
	before := r.serverUsage()
	if r.res.Server != nil {
		r.res.Server.RSSBefore = before.RSS
	}
	procs := (cfg.Conns + cfg.PerProcess - 1) / cfg.PerProcess
	per := (cfg.Conns + procs - 1) / procs
	if group > 0 {
		// A group stays within one process.
		if per = (per + group - 1) / group * group; per > cfg.PerProcess {
			per = max(group, cfg.PerProcess/group*group)
		}
		procs = (cfg.Conns + per - 1) / per
	}
	base := PoolConfig{
		URL: cfg.URL, Secret: cfg.Secret, SourceIPs: cfg.SourceIPs,
		Rate: cfg.Rate / float64(procs), MaxPending: max(1, cfg.MaxPending/procs),
		ConnectTimeout: cfg.ConnectTimeout, Event: event, GroupSize: group,
	}
	// The reactor holds its P while events keep coming (see reactor.loop), which would slow the
	// HTTP calls of emit and notify: their receivers always live in worker processes.
	triggers := cfg.Scenario == "emit" || cfg.Scenario == "notify"
	if procs == 1 && !triggers {
		base.Users = cfg.Conns
		p, err := NewPool(base)
		if err != nil {
			return err
		}
		r.fleet = &localFleet{pool: p}
	} else {
		var m multiFleet
		for first := 0; first < cfg.Conns; first += per {
			pc := base
			pc.FirstUser, pc.Users = first, min(per, cfg.Conns-first)
			rf, err := newRemoteFleet(cfg.WorkerCommand, pc, r.deadline, r.progress)
			if err != nil {
				m.close()
				return err
			}
			m = append(m, rf)
		}
		r.fleet = m
	}
	r.res.Connect.Requested = int64(cfg.Conns)
	r.res.Connect.Processes = procs
	cpuTool0 := r.toolCPU()
	start := time.Now()
	if err := r.fleet.start(ctx); err != nil {
		r.fleet.close()
		return err
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var s Snapshot
	var err error
	for {
		select {
		case <-ctx.Done():
			// Keep what the ramp reached: a server that cannot take the ramp is a result.
			if s, err := r.snapshot(); err == nil {
				r.recordConnect(s, start, before, cpuTool0)
			}
			if sr := r.res.Server; sr != nil {
				u := r.serverUsage()
				sr.RSSAfter, sr.HWM, sr.Threads = u.RSS, u.HWM, u.Threads
			}
			r.fleet.close()
			return fmt.Errorf("connecting: %w", ctx.Err())
		case <-tick.C:
		}
		if s, err = r.counts(); err != nil {
			r.fleet.close()
			return err
		}
		el := time.Since(start)
		r.logf("%6.1fs  %d/%d authenticated, %d failed, %.0f/s%s", el.Seconds(), s.Connected, cfg.Conns,
			s.Failed, float64(s.Connected)/el.Seconds(), r.serverLine())
		if s.Connected+s.Failed >= int64(cfg.Conns) {
			break
		}
	}
	if s, err = r.snapshot(); err != nil {
		r.fleet.close()
		return err
	}
	r.recordConnect(s, start, before, cpuTool0)
	if s.Connected == 0 {
		r.fleet.close()
		return errors.New("no connection authenticated")
	}
	sleepCtx(ctx, cfg.Settle)
	return nil
}

// recordConnect puts the ramp's figures into the result: counts, rate, latency, CPU on both sides.
func (r *runner) recordConnect(s Snapshot, start time.Time, before ProcUsage, cpuTool0 time.Duration) {
	// The ramp ended at the last handshake; the ticker only samples it.
	el := time.Since(start)
	if s.LastConnect > 0 {
		el = time.Duration(s.LastConnect - start.UnixNano())
	}
	c := &r.res.Connect
	c.Connected, c.Failed, c.Dropped = s.Connected, s.Failed, s.Dropped
	c.Seconds = sec(el)
	c.RatePerSec = float64(s.Connected) / el.Seconds()
	c.Latency = s.ConnectHist.Summary()
	r.res.Errors = s.Errors
	r.res.Tool.CPUConnect = sec(r.toolCPU() - cpuTool0)
	if sr := r.res.Server; sr != nil {
		sr.CPUConnect = sec(r.serverUsage().CPU - before.CPU)
	}
}

// serverLine is the server's RSS and CPU for the progress line.
func (r *runner) serverLine() string {
	if r.pid <= 0 {
		return ""
	}
	u := r.serverUsage()
	return fmt.Sprintf(", server RSS %s, CPU %.1fs", mib(u.RSS), u.CPU.Seconds())
}

// finish records the final connection counts and the server's memory with every connection open.
func (r *runner) finish(ctx context.Context) {
	s, err := r.snapshot()
	if err == nil {
		r.res.Connect.Dropped = s.Dropped
		r.res.Errors = s.Errors
	}
	if sr := r.res.Server; sr != nil {
		u := r.serverUsage()
		sr.RSSAfter, sr.HWM, sr.Threads = u.RSS, u.HWM, u.Threads
		if live := s.Live(); live > 0 && u.RSS > 0 {
			sr.BytesPerConn = float64(u.RSS-sr.RSSBefore) / float64(live)
		}
		if st, err := r.api.stats(ctx, r.api.bases[0]); err == nil {
			sr.Stats = st
		} else {
			r.note("GET /v1/stats: %v", err)
		}
		if len(r.pids) > 1 {
			for _, pid := range r.pids {
				pu, _ := ReadProc(pid)
				sr.Procs = append(sr.Procs, ProcResult{PID: pid, RSS: pu.RSS, CPU: sec(pu.CPU)})
			}
		}
	}
}

// conns holds the idle connections for the hold time.
func (r *runner) conns(ctx context.Context) error {
	srv0, tool0 := r.serverUsage(), r.toolCPU()
	end := time.Now().Add(r.cfg.Hold)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Now().Before(end) {
		select {
		case <-ctx.Done():
			r.finish(context.Background())
			return ctx.Err()
		case <-tick.C:
		}
		if s, err := r.counts(); err == nil {
			r.logf("holding %d connections, %d dropped, %.0fs left%s", s.Live(), s.Dropped,
				time.Until(end).Seconds(), r.serverLine())
		}
	}
	if sr := r.res.Server; sr != nil {
		sr.CPUMeasure = sec(r.serverUsage().CPU - srv0.CPU)
	}
	r.res.Tool.CPUMeasure = sec(r.toolCPU() - tool0)
	r.finish(ctx)
	return nil
}

// fanout triggers Reps broadcasts and times each receiver.
func (r *runner) fanout(ctx context.Context) error {
	s0, _ := r.counts()
	receivers := s0.Live()
	f := &FanoutResult{Receivers: receivers}
	r.res.Fanout = f
	all := new(Histogram)
	var lasts []float64
	var delivered int64
	recv0 := r.scrapeRecv(ctx)
	srv0, tool0 := r.serverUsage(), r.toolCPU()
	for rep := 1; rep <= r.cfg.Reps; rep++ {
		if err := r.fleet.setWindow(int64(rep)); err != nil {
			return err
		}
		t0 := time.Now()
		body := fmt.Appendf(nil, `{"event":"bench","data":{"t":%d,"w":%d},"broadcast":true}`, t0.UnixNano(), rep)
		if err := r.api.post(ctx, "/v1/emit", body, 202); err != nil {
			return err
		}
		var s Snapshot
		var err error
		for {
			if s, err = r.counts(); err != nil {
				return err
			}
			if s.Received+s.Misrouted >= receivers || time.Since(t0) > r.cfg.RepTimeout || ctx.Err() != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if s, err = r.snapshot(); err != nil {
			return err
		}
		fr := FanoutRep{Rep: rep, Received: s.Received, Missing: max(0, receivers-s.Received), Latency: s.RecvHist.Summary()}
		if s.LastRecv > 0 {
			fr.LastMs = ms(time.Duration(s.LastRecv - t0.UnixNano()))
		}
		f.Reps = append(f.Reps, fr)
		f.Missing += fr.Missing
		delivered += s.Received
		all.Merge(s.RecvHist)
		lasts = append(lasts, fr.LastMs)
		f.LastMaxMs = max(f.LastMaxMs, fr.LastMs)
		r.logf("rep %d: %d/%d received, last after %.1f ms, p50 %.1f ms, p99 %.1f ms", rep, s.Received, receivers,
			fr.LastMs, fr.Latency.P50, fr.Latency.P99)
		if ctx.Err() != nil {
			break
		}
		if rep < r.cfg.Reps {
			sleepCtx(ctx, r.cfg.Pause)
		}
	}
	// The pauses between broadcasts cost both sides next to nothing (idle sockets, a ping now and
	// then), so CPU over the whole loop divided by the deliveries is the cost of a delivery.
	srvCPU, toolCPU := r.serverUsage().CPU-srv0.CPU, r.toolCPU()-tool0
	f.Recv = recvResult(recv0, r.scrapeRecv(ctx), delivered)
	f.Latency = all.Summary()
	f.LastMedianMs = median(lasts)
	r.res.Tool.CPUMeasure = sec(toolCPU)
	if delivered > 0 {
		r.res.Tool.CPUPerEvent = perEventUs(toolCPU, delivered)
	}
	if sr := r.res.Server; sr != nil {
		sr.CPUMeasure = sec(srvCPU)
		if delivered > 0 {
			sr.CPUPerEvent = perEventUs(srvCPU, delivered)
		}
	}
	r.finish(ctx)
	return ctx.Err()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

func perEventUs(d time.Duration, events int64) float64 {
	return float64(int64(d)/events) / 1e3
}

func sec(d time.Duration) float64 { return float64(d.Milliseconds()) / 1e3 }

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
