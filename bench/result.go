//go:build linux

package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"
)

// Result is everything one scenario run measured; `-json` prints it as is.
type Result struct {
	Scenario string         `json:"scenario"`
	Label    string         `json:"label,omitempty"`
	URL      string         `json:"url"`
	Started  time.Time      `json:"started"`
	Params   map[string]any `json:"params"`
	Connect  ConnectResult  `json:"connect"`
	Server   *ServerResult  `json:"server,omitempty"`
	Tool     ToolResult     `json:"tool"`
	Fanout   *FanoutResult  `json:"fanout,omitempty"`
	Steps    []StepResult   `json:"steps,omitempty"`
	// Saturation is the highest offered rate of emit or notify that the server kept up with, in
	// deliveries per second (0 when even the first step saturated).
	Saturation *Saturation    `json:"saturation,omitempty"`
	Errors     map[string]int `json:"errors,omitempty"`
	Notes      []string       `json:"notes,omitempty"`
}

// ConnectResult describes the ramp of connections.
type ConnectResult struct {
	Requested  int64   `json:"requested"`
	Connected  int64   `json:"connected"`
	Failed     int64   `json:"failed"`
	Dropped    int64   `json:"dropped"` // closed after authenticating, during the whole run
	Seconds    float64 `json:"seconds"`
	RatePerSec float64 `json:"ratePerSec"` // authenticated connections per second of ramp
	Latency    Summary `json:"latency"`    // dial start to `authenticated`
	Processes  int     `json:"processes"`  // load tool processes holding the connections
}

// ServerResult is what /proc and /v1/stats said about the server.
type ServerResult struct {
	PID          int          `json:"pid"`
	PIDs         []int        `json:"pids,omitempty"` // with several processes: every one measured, figures added up
	RSSBefore    int64        `json:"rssBeforeBytes"`
	RSSAfter     int64        `json:"rssAfterBytes"` // with every connection open, at the end of the hold
	HWM          int64        `json:"hwmBytes"`
	BytesPerConn float64      `json:"bytesPerConn"`
	Threads      int          `json:"threads"`
	CPUConnect   float64      `json:"cpuConnectSec"`   // CPU seconds spent during the ramp
	CPUMeasure   float64      `json:"cpuMeasureSec"`   // CPU seconds spent during the measured phase
	CPUPerEvent  float64      `json:"cpuPerEventUs"`   // measured phase CPU per delivered event
	Stats        *ServerStats `json:"stats,omitempty"` // of the first node
	Procs        []ProcResult `json:"procs,omitempty"` // with several processes: each one at the end
}

// ProcResult is one measured process at the end of the run.
type ProcResult struct {
	PID int     `json:"pid"`
	RSS int64   `json:"rssBytes"`
	CPU float64 `json:"cpuSec"` // since it started
}

// ToolResult is the load tool's own CPU (this process and its workers), from getrusage.
type ToolResult struct {
	CPUTotal    float64 `json:"cpuTotalSec"`
	CPUConnect  float64 `json:"cpuConnectSec"`
	CPUMeasure  float64 `json:"cpuMeasureSec"`
	CPUPerEvent float64 `json:"cpuPerEventUs"` // measured phase CPU per received event
}

// FanoutResult is the broadcast scenario.
type FanoutResult struct {
	Receivers int64       `json:"receivers"`
	Reps      []FanoutRep `json:"reps"`
	Latency   Summary     `json:"latency"` // every receiver of every repetition
	// LastMs is the time from the trigger until the last receiver had the event, median and worst
	// over the repetitions.
	LastMedianMs float64 `json:"lastMedianMs"`
	LastMaxMs    float64 `json:"lastMaxMs"`
	Missing      int64   `json:"missing"`
	// Recv is what the nodes received from each other over all repetitions (several nodes).
	Recv *RecvResult `json:"recv,omitempty"`
}

// FanoutRep is one broadcast.
type FanoutRep struct {
	Rep      int     `json:"rep"`
	Received int64   `json:"received"`
	Missing  int64   `json:"missing"`
	LastMs   float64 `json:"lastMs"`
	Latency  Summary `json:"latency"`
}

// StepResult is one offered rate of the emit or notify scenario.
type StepResult struct {
	Offered         float64     `json:"offeredPerSec"`   // target deliveries per second
	Sent            float64     `json:"sentPerSec"`      // deliveries per second accepted by the API
	Calls           int64       `json:"calls"`           // HTTP calls accepted
	CallErrors      int64       `json:"callErrors"`      // HTTP calls refused or failed
	Expected        int64       `json:"expected"`        // deliveries the accepted calls asked for
	Delivered       int64       `json:"delivered"`       // events received with the right window and group
	DeliveredPerSec float64     `json:"deliveredPerSec"` // delivered / (last delivery - step start)
	Lost            int64       `json:"lost"`
	Misrouted       int64       `json:"misrouted"`
	Latency         Summary     `json:"latency"`
	ServerCPU       float64     `json:"serverCpuPerEventUs"`
	ToolCPU         float64     `json:"toolCpuPerEventUs"`     // the whole tool: triggering and receiving
	ToolRecvCPU     float64     `json:"toolRecvCpuPerEventUs"` // its receiving worker processes only
	Recv            *RecvResult `json:"recv,omitempty"`        // messages between nodes (several nodes)
	Saturated       bool        `json:"saturated"`
	Reason          string      `json:"reason,omitempty"`
}

// Saturation names the step where the server stopped keeping up.
type Saturation struct {
	SustainedPerSec float64 `json:"sustainedPerSec"` // offered rate of the last step it kept up with
	AtOfferedPerSec float64 `json:"atOfferedPerSec"` // offered rate of the first step it did not
	Reason          string  `json:"reason"`
}

// WriteTable prints r for people.
func (r *Result) WriteTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	name := r.Scenario
	if r.Label != "" {
		name += " — " + r.Label
	}
	fmt.Fprintf(tw, "%s\t%s\n", name, r.URL)
	c := r.Connect
	fmt.Fprintf(tw, "connections\t%d of %d authenticated, %d failed, %d dropped, %.1fs (%.0f/s), %d process(es)\n",
		c.Connected, c.Requested, c.Failed, c.Dropped, c.Seconds, c.RatePerSec, c.Processes)
	fmt.Fprintf(tw, "connect latency\t%s\n", fmtSummary(c.Latency))
	if s := r.Server; s != nil {
		if len(s.PIDs) > 1 {
			fmt.Fprintf(tw, "servers\t%d processes %v, figures added up\n", len(s.PIDs), s.PIDs)
			for _, p := range s.Procs {
				fmt.Fprintf(tw, "  pid %d\tRSS %s, CPU %.2fs\n", p.PID, mib(p.RSS), p.CPU)
			}
		}
		fmt.Fprintf(tw, "server pid %d\tRSS %s before, %s after, peak %s; %s per connection; %d threads\n",
			s.PID, mib(s.RSSBefore), mib(s.RSSAfter), mib(s.HWM), kib(s.BytesPerConn), s.Threads)
		fmt.Fprintf(tw, "server CPU\t%.2fs during ramp, %.2fs measured", s.CPUConnect, s.CPUMeasure)
		if s.CPUPerEvent > 0 {
			fmt.Fprintf(tw, ", %.2f µs per event sent", s.CPUPerEvent)
		}
		fmt.Fprintln(tw)
		if s.Stats != nil {
			fmt.Fprintf(tw, "server /v1/stats\t%d users, %d sockets\n", s.Stats.ConnectedUsers, s.Stats.Sockets)
		}
	}
	fmt.Fprintf(tw, "load tool CPU\t%.2fs total, %.2fs during ramp, %.2fs measured", r.Tool.CPUTotal, r.Tool.CPUConnect, r.Tool.CPUMeasure)
	if r.Tool.CPUPerEvent > 0 {
		fmt.Fprintf(tw, ", %.2f µs per event received", r.Tool.CPUPerEvent)
	}
	fmt.Fprintln(tw)
	if f := r.Fanout; f != nil {
		fmt.Fprintf(tw, "fanout to %d\tlast receiver after %.1f ms (median of %d), worst %.1f ms; %d missing\n",
			f.Receivers, f.LastMedianMs, len(f.Reps), f.LastMaxMs, f.Missing)
		fmt.Fprintf(tw, "fanout latency\t%s\n", fmtSummary(f.Latency))
		for _, rep := range f.Reps {
			fmt.Fprintf(tw, "  rep %d\t%d received, %d missing, last %.1f ms, %s\n",
				rep.Rep, rep.Received, rep.Missing, rep.LastMs, fmtSummary(rep.Latency))
		}
		if f.Recv != nil {
			fmt.Fprintf(tw, "received from other nodes\t%s\n", f.Recv)
		}
	}
	tw.Flush()
	if len(r.Steps) > 0 {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "offered/s\tsent/s\tdelivered/s\tlost\tmisrouted\terrors\tp50 ms\tp90 ms\tp99 ms\tmax ms\tsrv µs/ev\ttool µs/ev\trecv µs/ev\t\t")
		for _, s := range r.Steps {
			mark := ""
			if s.Saturated {
				mark = "saturated: " + s.Reason
			}
			fmt.Fprintf(tw, "%.0f\t%.0f\t%.0f\t%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.1f\t%.2f\t%.2f\t%.2f\t %s\t\n",
				s.Offered, s.Sent, s.DeliveredPerSec, s.Lost, s.Misrouted, s.CallErrors,
				s.Latency.P50, s.Latency.P90, s.Latency.P99, s.Latency.Max, s.ServerCPU, s.ToolCPU, s.ToolRecvCPU, mark)
		}
		tw.Flush()
		for _, s := range r.Steps {
			if s.Recv != nil {
				fmt.Fprintf(w, "received from other nodes at %.0f/s: %s\n", s.Offered, s.Recv)
			}
		}
		if s := r.Saturation; s != nil {
			fmt.Fprintf(w, "saturation: sustained %.0f deliveries/s; at %.0f/s: %s\n", s.SustainedPerSec, s.AtOfferedPerSec, s.Reason)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "errors:")
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			fmt.Fprintf(w, "  %6d  %s\n", r.Errors[k], k)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}

func fmtSummary(s Summary) string {
	if s.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (n=%d)", s.P50, s.P90, s.P99, s.Max, s.Count)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
func kib(b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.1f KiB", b/1024)
}
