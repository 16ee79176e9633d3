//go:build linux

// Package bench is herald's load tool: it opens many authenticated Socket.IO connections to a server,
// speaking the wire protocol itself, triggers events through the server's HTTP API and measures how
// fast and how completely they arrive, next to the server's CPU and memory. It runs against herald and
// against the reference servers under bench/reference, which share herald's contract.
//
// Scenarios: conns (idle connections, memory per connection), fanout (one broadcast to every
// connection), emit (targeted emits at rising rates until saturation) and notify (herald's
// notification API at rising rates). See bench/README.md.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is one run of one scenario. Main fills it from flags.
type Config struct {
	Scenario string
	URL      string   // server base URL, or several comma-separated (the nodes of a cluster)
	URLs     []string // URL split: connection of user i goes to URLs[i mod len], HTTP calls round robin
	Secret   string   // JWT_SECRET of the server
	APIKey   string   // HERALD_API_KEY of the server
	Label    string   // name of the server in the report
	// ServerPIDs are the server processes measured through /proc, their CPU and RSS added up.
	// Empty or {0} means the process listening on each URL's port; {-1} means do not measure.
	ServerPIDs []int
	// ExtraPIDs are measured with the servers and added to them (Redis of a cluster).
	ExtraPIDs []int
	// RecvMetrics name the counters of messages a node received from the other nodes, read from
	// each node's GET /metrics before and after each measured phase; empty: not read.
	RecvMetrics []string

	Conns          int           // connections (one per user u0..u<Conns-1>)
	Rate           float64       // connections opened per second
	MaxPending     int           // handshakes in flight at once
	ConnectTimeout time.Duration // per connection
	SourceIPs      []string      // local addresses to bind, round robin
	PerProcess     int           // most connections one process holds; more are spread over workers
	Settle         time.Duration // pause after the ramp before measuring

	Hold time.Duration // conns: how long the connections are held open

	Reps       int           // fanout: broadcasts
	RepTimeout time.Duration // fanout: wait for every receiver at most this long
	Pause      time.Duration // fanout, emit: pause between repetitions or steps

	Rates     []float64     // emit, notify: offered deliveries per second, one step each
	Step      time.Duration // emit, notify: duration of one step
	Batch     int           // emit, notify: users per HTTP call
	Senders   int           // emit, notify: HTTP calls in flight at once
	Drain     time.Duration // emit, notify: wait for late deliveries at most this long after a step
	P99Limit  time.Duration // emit, notify: a step whose p99 is above this is saturated; 0: automatic
	KeepGoing bool          // emit, notify: run every step even after saturation

	Deadline   time.Duration // the whole run ends by then, whatever happens
	JSON       bool
	CPUProfile string // write the load tool's CPU profile of the measured phase (this process only) here

	// WorkerCommand starts this program as a worker process (the -worker flag is appended).
	WorkerCommand []string
}

// Scenarios are the names Main accepts.
var Scenarios = []string{"conns", "fanout", "emit", "notify"}

// Main runs the load tool with command-line arguments (without the program name). It is the whole of
// cmd/heraldload and of `herald bench`. Worker processes re-execute the same command line prefix,
// so args must be the tail of os.Args.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "-worker" {
		return runWorker(os.Stdin, stdout)
	}
	cfg, err := ParseFlags(args, stderr)
	if err != nil {
		return err
	}
	if cfg.WorkerCommand, err = workerCommand(args); err != nil {
		return err
	}
	res, err := Run(ctx, cfg, stderr)
	if res != nil {
		if cfg.JSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if jerr := enc.Encode(res); jerr != nil {
				return jerr
			}
		} else {
			res.WriteTable(stdout)
		}
	}
	return err
}

// workerCommand is the command that runs this same tool again: the executable and whatever came
// before args on the command line (nothing for heraldload, "bench" for `herald bench`).
func workerCommand(args []string) ([]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if len(args) > len(os.Args)-1 || !slices.Equal(os.Args[len(os.Args)-len(args):], args) {
		return nil, errors.New("bench.Main: args must be the tail of os.Args")
	}
	return append([]string{exe}, os.Args[1:len(os.Args)-len(args)]...), nil
}

// ParseFlags reads a Config from the command line: `[scenario] [flags]`.
func ParseFlags(args []string, stderr io.Writer) (Config, error) {
	var cfg Config
	fs := flag.NewFlagSet("heraldload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: heraldload <%s> [flags]\n\n", strings.Join(Scenarios, "|"))
		fs.PrintDefaults()
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cfg.Scenario = args[0]
		args = args[1:]
	}
	var scenario, src, rates, serverPIDs, extraPIDs, recvMetrics string
	fs.StringVar(&scenario, "scenario", "", "scenario: "+strings.Join(Scenarios, ", ")+" (or give it as the first argument)")
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:3000", "server base `URL` (loopback only); a comma list for the nodes of a cluster: user i connects to node i mod k, HTTP calls go round robin")
	fs.StringVar(&cfg.Secret, "secret", envOr("JWT_SECRET", "dev-secret"), "JWT secret of the server (default $JWT_SECRET)")
	fs.StringVar(&cfg.APIKey, "api-key", os.Getenv("HERALD_API_KEY"), "API key of the server (default $HERALD_API_KEY)")
	fs.StringVar(&cfg.Label, "label", "", "name of the server in the report")
	fs.StringVar(&serverPIDs, "server-pid", "0", "server `pid`s to measure, comma list (CPU and RSS added up); 0: the process listening on each URL's port; -1: none")
	fs.StringVar(&extraPIDs, "extra-pid", "", "more `pid`s measured with the servers and added to them, comma list (e.g. the cluster's Redis)")
	fs.StringVar(&recvMetrics, "recv-metric", DefaultRecvMetrics, "counters of messages a node receives from the other nodes, read from each node's GET /metrics around each measured phase (comma list; empty: not read)")
	fs.IntVar(&cfg.Conns, "n", 2000, "connections, one per user u0..u<n-1>")
	fs.Float64Var(&cfg.Rate, "rate", 2000, "connections opened per second")
	fs.IntVar(&cfg.MaxPending, "max-pending", 500, "handshakes in flight at once")
	fs.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 15*time.Second, "timeout of one connection's handshake")
	fs.StringVar(&src, "src", "127.0.0.2-127.0.0.81", "local source addresses: a range a-b or a comma list (80 by default, so that 2,000 handshakes a second stay within herald's default --handshake-rate of 50 per address)")
	fs.IntVar(&cfg.PerProcess, "per-proc", 19000, "most connections per process; more are spread over worker processes")
	fs.DurationVar(&cfg.Settle, "settle", time.Second, "pause after the ramp before measuring")
	fs.DurationVar(&cfg.Hold, "hold", 10*time.Second, "conns: how long to hold the connections")
	fs.IntVar(&cfg.Reps, "reps", 5, "fanout: broadcasts")
	fs.DurationVar(&cfg.RepTimeout, "rep-timeout", 30*time.Second, "fanout: longest wait for every receiver")
	fs.DurationVar(&cfg.Pause, "pause", time.Second, "fanout, emit, notify: pause between repetitions or steps")
	fs.StringVar(&rates, "rates", "", "emit, notify: offered deliveries per second, comma list (default 2000 doubling to 256000 for emit, 250 doubling to 16000 for notify)")
	fs.DurationVar(&cfg.Step, "step", 5*time.Second, "emit, notify: duration of one step")
	fs.IntVar(&cfg.Batch, "batch", 0, "emit, notify: users per HTTP call (default 20 for emit, 1 for notify)")
	fs.IntVar(&cfg.Senders, "senders", 32, "emit, notify: HTTP calls in flight at once")
	fs.DurationVar(&cfg.Drain, "drain", 5*time.Second, "emit, notify: longest wait for late deliveries after a step")
	fs.DurationVar(&cfg.P99Limit, "p99-limit", 0, "emit, notify: p99 above this means saturated (default: 20x the first step's p50, at least 100ms)")
	fs.BoolVar(&cfg.KeepGoing, "keep-going", false, "emit, notify: run every step even after saturation")
	fs.DurationVar(&cfg.Deadline, "deadline", 10*time.Minute, "hard limit of the whole run")
	fs.BoolVar(&cfg.JSON, "json", false, "print the result as JSON")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write the load tool's CPU profile of the measured phase to `file`")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if scenario != "" {
		cfg.Scenario = scenario
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if !slices.Contains(Scenarios, cfg.Scenario) {
		fs.Usage()
		return cfg, fmt.Errorf("unknown scenario %q", cfg.Scenario)
	}
	var err error
	if cfg.SourceIPs, err = parseSourceIPs(src); err != nil {
		return cfg, err
	}
	cfg.URLs = splitList(cfg.URL)
	if cfg.ServerPIDs, err = parsePIDs(serverPIDs); err != nil {
		return cfg, fmt.Errorf("-server-pid: %w", err)
	}
	if cfg.ExtraPIDs, err = parsePIDs(extraPIDs); err != nil {
		return cfg, fmt.Errorf("-extra-pid: %w", err)
	}
	if slices.ContainsFunc(cfg.ExtraPIDs, func(p int) bool { return p <= 0 }) {
		return cfg, fmt.Errorf("-extra-pid %q: want a list of pids", extraPIDs)
	}
	cfg.RecvMetrics = splitList(recvMetrics)
	if rates != "" {
		for r := range strings.SplitSeq(rates, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
			if err != nil || v <= 0 {
				return cfg, fmt.Errorf("bad rate %q", r)
			}
			cfg.Rates = append(cfg.Rates, v)
		}
	}
	switch cfg.Scenario {
	case "emit":
		if cfg.Batch == 0 {
			cfg.Batch = 20
		}
		if cfg.Rates == nil {
			cfg.Rates = doubling(2000, 256000)
		}
	case "notify":
		if cfg.Batch == 0 {
			cfg.Batch = 1
		}
		if cfg.Rates == nil {
			cfg.Rates = doubling(250, 16000)
		}
	}
	return cfg, cfg.check()
}

func doubling(from, to float64) []float64 {
	var r []float64
	for v := from; v <= to; v *= 2 {
		r = append(r, v)
	}
	return r
}

func (c *Config) check() error {
	switch {
	case c.Conns <= 0:
		return errors.New("-n must be positive")
	case c.Rate <= 0:
		return errors.New("-rate must be positive")
	case c.PerProcess <= 0 || c.PerProcess > 19900:
		return errors.New("-per-proc must be in 1..19900 (a process may hold at most 20,000 files here)")
	case c.Deadline <= 0:
		return errors.New("-deadline must be positive")
	case c.Reps <= 0:
		return errors.New("-reps must be positive")
	}
	if c.Scenario == "emit" || c.Scenario == "notify" {
		if c.Batch <= 0 || c.Batch > c.Conns {
			return fmt.Errorf("-batch must be in 1..%d", c.Conns)
		}
		if c.Senders <= 0 {
			return errors.New("-senders must be positive")
		}
	}
	if len(c.URLs) == 0 {
		return errors.New("-url is empty")
	}
	for _, u := range c.URLs {
		if err := loopbackOnly(u); err != nil {
			return err
		}
	}
	for _, s := range c.SourceIPs {
		if ip := net.ParseIP(s); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("source address %s is not a loopback address", s)
		}
	}
	return nil
}

// loopbackOnly refuses targets off this machine: load is only ever sent to 127.0.0.0/8 or ::1.
func loopbackOnly(base string) error {
	u, err := websocketURL(base)
	if err != nil {
		return err
	}
	host := u[strings.Index(u, "//")+2:]
	host = host[:strings.IndexByte(host, '/')]
	h, _, err := net.SplitHostPort(host)
	if err != nil {
		h = host
	}
	if h == "localhost" {
		return nil
	}
	if ip := net.ParseIP(strings.Trim(h, "[]")); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("target %s is not a loopback address: the load tool only targets this machine", h)
}

// parseSourceIPs reads "127.0.0.2-127.0.0.9" or "127.0.0.2,127.0.0.3"; "" means no binding.
func parseSourceIPs(s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if a, b, ok := strings.Cut(s, "-"); ok {
		from, to := net.ParseIP(a).To4(), net.ParseIP(b).To4()
		if from == nil || to == nil || from[0] != to[0] || from[1] != to[1] || from[2] != to[2] || from[3] > to[3] {
			return nil, fmt.Errorf("bad source range %q: want a.b.c.x-a.b.c.y", s)
		}
		var ips []string
		for i := int(from[3]); i <= int(to[3]); i++ {
			ips = append(ips, net.IPv4(from[0], from[1], from[2], byte(i)).String())
		}
		return ips, nil
	}
	var ips []string
	for p := range strings.SplitSeq(s, ",") {
		p = strings.TrimSpace(p)
		if net.ParseIP(p) == nil {
			return nil, fmt.Errorf("bad source address %q", p)
		}
		ips = append(ips, p)
	}
	return ips, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
