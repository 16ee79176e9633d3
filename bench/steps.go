//go:build linux

package bench

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// steps runs the emit or notify scenario: one step per offered rate, each HTTP call addressed to one
// group of Batch consecutive users, until the server no longer keeps up.
//
// Call k of a step goes to group k mod groups with the payload {t: send time, w: step, s: k, g: group};
// a receiver counts an event only if w is the current step and g is its own group, so a delivery to
// the wrong user shows up as misrouted and one that never comes as lost.
func (r *runner) steps(ctx context.Context) error {
	cfg := r.cfg
	s0, err := r.counts()
	if err != nil {
		return err
	}
	if s0.Live() < int64(cfg.Conns) {
		r.note("%d of %d users are not connected: deliveries addressed to them count as lost", int64(cfg.Conns)-s0.Live(), cfg.Conns)
	}
	groups := cfg.Conns / cfg.Batch
	targets := make([][]byte, groups)
	for g := range targets {
		targets[g] = targetJSON(g*cfg.Batch, cfg.Batch)
	}
	var limit time.Duration
	for i, rate := range cfg.Rates {
		if ctx.Err() != nil {
			break
		}
		st := r.step(ctx, int64(1000+i), rate, targets)
		if i == 0 {
			limit = cfg.P99Limit
			if limit == 0 {
				// The median of a light step is steady where its p99 is not (a GC pause, another
				// process): "p99 explodes" is measured against it.
				limit = max(20*time.Duration(st.Latency.P50*1e6), 100*time.Millisecond)
			}
		}
		st.Saturated, st.Reason = saturated(st, limit)
		r.res.Steps = append(r.res.Steps, st)
		r.logf("offered %.0f/s: sent %.0f/s, delivered %.0f/s, lost %d, misrouted %d, p50 %.2f ms, p99 %.2f ms%s",
			st.Offered, st.Sent, st.DeliveredPerSec, st.Lost, st.Misrouted, st.Latency.P50, st.Latency.P99,
			map[bool]string{true: " — saturated: " + st.Reason}[st.Saturated])
		if st.Saturated && r.res.Saturation == nil {
			sat := &Saturation{AtOfferedPerSec: st.Offered, Reason: st.Reason}
			if i > 0 {
				sat.SustainedPerSec = cfg.Rates[i-1]
			}
			r.res.Saturation = sat
			if !cfg.KeepGoing {
				break
			}
		}
		if i < len(cfg.Rates)-1 {
			sleepCtx(ctx, cfg.Pause)
		}
	}
	if r.res.Saturation == nil && len(r.res.Steps) > 0 {
		r.note("not saturated up to %.0f deliveries/s: add higher -rates", r.res.Steps[len(r.res.Steps)-1].Offered)
	}
	r.finish(ctx)
	return ctx.Err()
}

// saturated says whether a step shows a server that no longer keeps up, and why.
func saturated(st StepResult, p99Limit time.Duration) (bool, string) {
	switch {
	case st.DeliveredPerSec < 0.95*st.Offered:
		return true, fmt.Sprintf("delivered %.0f%% of offered", 100*st.DeliveredPerSec/st.Offered)
	case st.Lost > st.Expected/100:
		return true, fmt.Sprintf("lost %d of %d", st.Lost, st.Expected)
	case time.Duration(st.Latency.P99*1e6) > p99Limit:
		return true, fmt.Sprintf("p99 %.1f ms above %.1f ms", st.Latency.P99, ms(p99Limit))
	}
	return false, ""
}

// targetJSON is the addressing part of a call to the users first..first+n-1.
func targetJSON(first, n int) []byte {
	if n == 1 {
		return []byte(`"userId":"u` + strconv.Itoa(first) + `"`)
	}
	b := []byte(`"userIds":[`)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `"u`...)
		b = strconv.AppendInt(b, int64(first+i), 10)
		b = append(b, '"')
	}
	return append(b, ']')
}

// callBody is one trigger call of the emit or notify scenario.
func callBody(scenario string, target []byte, t time.Time, w, seq int64, group int) []byte {
	b := make([]byte, 0, 160+len(target))
	if scenario == "notify" {
		b = append(b, `{"type":"bench","title":"bench","message":"load test","data":`...)
	} else {
		b = append(b, `{"event":"bench","data":`...)
	}
	b = fmt.Appendf(b, `{"t":%d,"w":%d,"s":%d,"g":%d},`, t.UnixNano(), w, seq, group)
	b = append(b, target...)
	return append(b, '}')
}

// step offers one rate for cfg.Step, waits for late deliveries, and measures.
func (r *runner) step(ctx context.Context, w int64, rate float64, targets [][]byte) StepResult {
	cfg := r.cfg
	st := StepResult{Offered: rate}
	path, want := "/v1/emit", 202
	if cfg.Scenario == "notify" {
		path, want = "/v1/notifications", 201
	}
	if err := r.fleet.setWindow(w); err != nil {
		st.Reason = err.Error()
		return st
	}
	msgs0 := r.scrapeRecv(ctx)
	srv0, tool0, recv0 := r.serverUsage(), r.toolCPU(), r.lastSnap.CPU

	var accepted, failed atomic.Int64
	var errMu sync.Mutex
	jobs := make(chan int64, cfg.Senders)
	var senders sync.WaitGroup
	for range cfg.Senders {
		senders.Go(func() {
			for k := range jobs {
				g := int(k % int64(len(targets)))
				body := callBody(cfg.Scenario, targets[g], time.Now(), w, k, g)
				if err := r.api.post(ctx, path, body, want); err != nil {
					failed.Add(1)
					errMu.Lock()
					if r.res.Errors == nil {
						r.res.Errors = map[string]int{}
					}
					r.res.Errors[clip([]byte(err.Error()), 160)]++
					errMu.Unlock()
					continue
				}
				accepted.Add(1)
			}
		})
	}
	// Open loop: calls are due at a fixed rate; when every sender is busy the dispatcher waits, and
	// whatever is not sent by the end of the step is not offered at all (it shows as sent < offered).
	callsPerSec := rate / float64(cfg.Batch)
	total := max(1, int64(callsPerSec*cfg.Step.Seconds()))
	start := time.Now()
	end := start.Add(cfg.Step)
	var k int64
dispatch:
	for k < total {
		due := min(total, int64(time.Since(start).Seconds()*callsPerSec)+1)
		for ; k < due; k++ {
			select {
			case jobs <- k:
			case <-ctx.Done():
				break dispatch
			}
		}
		if time.Now().After(end) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(jobs)
	senders.Wait()
	sendTime := time.Since(start)

	st.Calls, st.CallErrors = accepted.Load(), failed.Load()
	st.Expected = st.Calls * int64(cfg.Batch)
	st.Sent = float64(st.Expected) / sendTime.Seconds()
	drainEnd := time.Now().Add(cfg.Drain)
	var s Snapshot
	for {
		var err error
		if s, err = r.counts(); err != nil {
			st.Reason = err.Error()
			return st
		}
		if s.Received+s.Misrouted >= st.Expected || time.Now().After(drainEnd) || ctx.Err() != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s2, err := r.snapshot(); err == nil {
		s = s2
	}
	srvCPU, toolCPU, recvCPU := r.serverUsage().CPU-srv0.CPU, r.toolCPU()-tool0, r.lastSnap.CPU-recv0
	st.Recv = recvResult(msgs0, r.scrapeRecv(ctx), s.Received)
	st.Delivered, st.Misrouted = s.Received, s.Misrouted
	st.Lost = max(0, st.Expected-s.Received-s.Misrouted)
	st.Latency = s.RecvHist.Summary()
	if s.LastRecv > 0 {
		if span := time.Duration(s.LastRecv - start.UnixNano()); span > 0 {
			st.DeliveredPerSec = float64(s.Received) / max(span, sendTime).Seconds()
		}
	}
	if s.Received > 0 {
		st.ToolCPU = perEventUs(toolCPU, s.Received)
		st.ToolRecvCPU = perEventUs(recvCPU, s.Received)
		if r.pid > 0 {
			st.ServerCPU = perEventUs(srvCPU, s.Received)
		}
	}
	return st
}
