//go:build linux

// Command benchall runs one load scenario side by side against herald and the reference servers
// (bench/reference/floor: the cheapest broadcast this machine can do; bench/reference/node:
// socket.io on Node; bench/reference/zishang: a Go port of socket.io), each started fresh and
// pinned to its own core, with the load tool pinned to the other, and prints one table with each
// server's figures and their ratio to herald's.
//
// herald runs with its defaults (`herald serve --db <temp dir>/herald.db`); herald-nopresence is
// the same binary with --presence=false, a server of its own name so that a table never passes
// off a flag as the default.
//
//	go run ./bench/cmd/benchall conns -- -n 10000 -hold 30s
//	go run ./bench/cmd/benchall -servers herald,floor,node fanout -- -n 10000 -reps 5
//
// With -nodes k, herald and node run as clusters of k nodes each on a Redis of their own (herald also
// on a fresh PostgreSQL database), unpinned unless asked, and the table is the cluster's (cluster.go):
//
//	go run ./bench/cmd/benchall -nodes 3 -servers herald,node emit -- -n 10000 -batch 1
//
// Flags after "--" go to the load tool (heraldload) unchanged. Run it from the repository.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"herald/bench"
)

type options struct {
	scenario    string
	servers     []string
	port        int
	serverCPU   string
	loadCPU     string
	secret      string
	apiKey      string
	heraldBin   string
	heraldArgs  string
	baseline    string
	databaseURL string
	keepLogs    bool
	json        bool
	loadArgs    []string
	nodes       int    // cluster mode: nodes per server kind; 0: one server
	pgURL       string // cluster mode: the PostgreSQL server herald's fresh databases are made on
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "benchall:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	if i := slices.Index(args, "--"); i >= 0 {
		o.loadArgs = args[i+1:]
		args = args[:i]
	}
	fs := flag.NewFlagSet("benchall", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: benchall [flags] <%s> [-- heraldload flags]\n\n", strings.Join(bench.Scenarios, "|"))
		fs.PrintDefaults()
	}
	var servers string
	fs.StringVar(&servers, "servers", "herald,floor,node,zishang",
		"servers to run, in this order, from "+strings.Join(serverNames, ", ")+"; one named twice runs twice (its second column is name#2)")
	fs.IntVar(&o.port, "port", 3400, "port of the first server; the others get the next ones")
	fs.StringVar(&o.serverCPU, "server-cpu", "0", "CPU list the server is pinned to (taskset -c); empty: no pinning (the default with -nodes)")
	fs.StringVar(&o.loadCPU, "load-cpu", "1", "CPU list the load tool is pinned to (taskset -c); empty: no pinning (the default with -nodes)")
	fs.StringVar(&o.secret, "secret", "bench-secret", "JWT_SECRET given to every server")
	fs.StringVar(&o.apiKey, "api-key", "bench-key", "HERALD_API_KEY given to every server")
	fs.StringVar(&o.heraldBin, "herald-bin", "", "herald binary to run (default: built from ./cmd/herald)")
	fs.StringVar(&o.heraldArgs, "herald-args", "serve --db {dir}/herald.db",
		"arguments of herald (its defaults); {dir} is a fresh temporary directory. herald-nopresence adds --presence=false")
	fs.StringVar(&o.baseline, "baseline", "herald", "server the ratios are to (the first one measured when it was not)")
	fs.StringVar(&o.databaseURL, "database-url", os.Getenv("DATABASE_URL"),
		"PostgreSQL URL given to herald only, as DATABASE_URL (env DATABASE_URL); empty: the SQLite store. Use a fresh database or schema (?search_path=name) per run")
	fs.IntVar(&o.nodes, "nodes", 0, "cluster mode: run each server as this many nodes on a Redis of its own (herald also on a fresh PostgreSQL database); servers: "+strings.Join(clusterKinds, ", ")+"; 0: one server each")
	fs.StringVar(&o.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "cluster mode: PostgreSQL server on which a fresh database is created for herald's nodes and dropped after")
	fs.StringVar(&o.serverCPU, "server-cpus", "0", "the same as -server-cpu")
	fs.StringVar(&o.loadCPU, "tool-cpus", "1", "the same as -load-cpu")
	fs.BoolVar(&o.keepLogs, "keep-logs", false, "keep the temporary directory with the servers' logs")
	fs.BoolVar(&o.json, "json", false, "print every result as JSON instead of the table")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 1 || !slices.Contains(bench.Scenarios, fs.Arg(0)) {
		fs.Usage()
		return o, errors.New("give one scenario")
	}
	o.scenario = fs.Arg(0)
	if o.nodes < 0 || o.nodes > 16 {
		return o, errors.New("-nodes must be in 0..16")
	}
	if o.nodes > 0 {
		// Several nodes are not pinned to one core unless asked to.
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["server-cpu"] && !set["server-cpus"] {
			o.serverCPU = ""
		}
		if !set["load-cpu"] && !set["tool-cpus"] {
			o.loadCPU = ""
		}
	}
	for s := range strings.SplitSeq(servers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.servers = append(o.servers, s)
		}
	}
	return o, nil
}

// serverNames are the servers the runner knows.
var serverNames = []string{"herald", "herald-nopresence", "floor", "node", "zishang"}

// server is one server under test: how to build it and how to start it.
type server struct {
	kind  string   // which server: one of serverNames
	name  string   // its label in the table: kind, with "#2", "#3"... when kind runs again
	dir   string   // working directory, relative to the repository
	cmd   []string // command line, after preparation
	env   []string
	skip  string // why it is not run
	logf  string
	pid   int
	proc  *exec.Cmd
	start time.Time
}

func run(ctx context.Context, args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	raiseFileLimit()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "herald-bench-")
	if err != nil {
		return err
	}
	if o.keepLogs {
		fmt.Fprintln(os.Stderr, "logs in", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if o.scenario == "notify" && len(o.servers) > 1 {
		fmt.Fprintln(os.Stderr, "notify is herald's API: running it against herald only")
		o.servers = []string{"herald"}
	}

	load := filepath.Join(tmp, "heraldload")
	if err := sh(ctx, root, nil, "go", "build", "-o", load, "./bench/cmd/heraldload"); err != nil {
		return fmt.Errorf("build heraldload: %w", err)
	}
	var servers []*server
	runs := map[string]int{}
	for i, kind := range o.servers {
		name := kind
		if runs[kind]++; runs[kind] > 1 {
			name += "#" + strconv.Itoa(runs[kind])
		}
		s := &server{kind: kind, name: name, env: []string{"JWT_SECRET=" + o.secret, "HERALD_API_KEY=" + o.apiKey}}
		if o.nodes == 0 {
			s.env = append(s.env, "PORT="+strconv.Itoa(o.port+i))
		}
		prepare(ctx, root, tmp, o, s)
		if o.nodes > 0 && s.skip == "" && !slices.Contains(clusterKinds, kind) {
			s.skip = "no cluster mode (-nodes): only " + strings.Join(clusterKinds, ", ")
		}
		if s.skip != "" {
			fmt.Fprintf(os.Stderr, "skipping %s: %s\n", name, s.skip)
		}
		servers = append(servers, s)
	}

	results := map[string]*bench.Result{}
	for i, s := range servers {
		if s.skip != "" || ctx.Err() != nil {
			continue
		}
		var res *bench.Result
		if o.nodes > 0 {
			res, err = measureCluster(ctx, root, tmp, load, o, s, o.port+i*o.nodes)
		} else {
			res, err = measure(ctx, root, tmp, load, o, s, o.port+i)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v (log: %s)\n", s.name, err, s.logf)
			if res == nil {
				s.skip = err.Error()
				continue
			}
		}
		results[s.name] = res
		time.Sleep(2 * time.Second) // let the last server's sockets go before the next one starts
	}

	if o.json {
		skipped := map[string]string{}
		for _, s := range servers {
			if s.skip != "" {
				skipped[s.name] = s.skip
			}
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"scenario": o.scenario, "results": results, "skipped": skipped})
	}
	printTable(os.Stdout, o, servers, results)
	return nil
}

// repoRoot finds the herald module from the working directory up.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module herald\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run benchall inside the herald repository")
		}
		dir = parent
	}
}

// prepare builds or installs a server; on failure it sets s.skip.
func prepare(ctx context.Context, root, tmp string, o options, s *server) {
	switch s.kind {
	case "herald", "herald-nopresence":
		bin := o.heraldBin
		if bin == "" {
			if _, err := os.Stat(filepath.Join(root, "cmd", "herald")); err != nil {
				s.skip = "./cmd/herald does not exist yet"
				return
			}
			bin = filepath.Join(tmp, "herald")
			if _, err := os.Stat(bin); err != nil { // both herald servers run one build
				if err := sh(ctx, root, nil, "go", "build", "-o", bin, "./cmd/herald"); err != nil {
					s.skip = "build ./cmd/herald: " + err.Error()
					return
				}
			}
		}
		dir, err := os.MkdirTemp(tmp, s.name+"-")
		if err != nil {
			s.skip = err.Error()
			return
		}
		s.cmd = append([]string{bin}, strings.Fields(strings.ReplaceAll(o.heraldArgs, "{dir}", dir))...)
		if s.kind == "herald-nopresence" {
			s.cmd = append(s.cmd, "--presence=false")
		}
		s.env = append(s.env, "CORS_ORIGIN=http://localhost:3000")
		if o.nodes == 0 {
			s.env = append(s.env, "DATABASE_URL="+o.databaseURL)
		}
	case "floor":
		bin := filepath.Join(tmp, "floor")
		if err := sh(ctx, root, nil, "go", "build", "-o", bin, "./bench/reference/floor"); err != nil {
			s.skip = "build: " + err.Error()
			return
		}
		s.cmd = []string{bin}
	case "node":
		s.dir = filepath.Join(root, "bench", "reference", "node")
		if _, err := exec.LookPath("node"); err != nil {
			s.skip = "node is not installed"
			return
		}
		install := []string{"npm", "install", "--no-audit", "--no-fund"}
		if _, err := os.Stat(filepath.Join(s.dir, "package-lock.json")); err == nil {
			install = []string{"npm", "ci", "--no-audit", "--no-fund"}
		}
		if err := sh(ctx, s.dir, nil, install[0], install[1:]...); err != nil {
			s.skip = strings.Join(install, " ") + ": " + err.Error()
			return
		}
		s.cmd = []string{"node", "server.js"}
	case "zishang":
		dir := filepath.Join(root, "bench", "reference", "zishang")
		bin := filepath.Join(tmp, "zishang")
		if err := sh(ctx, dir, nil, "go", "build", "-o", bin, "."); err != nil {
			s.skip = "build: " + err.Error()
			return
		}
		s.cmd = []string{bin}
	default:
		s.skip = "unknown server (want one of " + strings.Join(serverNames, ", ") + ")"
	}
}

// measure starts s fresh, runs the load tool against it and stops it.
func measure(ctx context.Context, root, tmp, load string, o options, s *server, port int) (*bench.Result, error) {
	s.logf = filepath.Join(tmp, s.name+".log")
	logf, err := os.Create(s.logf)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(s.cmd[0], s.cmd[1:]...)
	if o.serverCPU != "" {
		cmd = exec.Command("taskset", append([]string{"-c", o.serverCPU}, s.cmd...)...)
	}
	cmd.Dir = root
	if s.dir != "" {
		cmd.Dir = s.dir
	}
	cmd.Env = append(withoutDatabaseURL(os.Environ()), s.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer stopServer(cmd)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := waitReady(ctx, base, cmd, 60*time.Second); err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "== %s (pid %d) on %s\n", s.name, cmd.Process.Pid, base)

	args := append([]string{o.scenario, "-url", base, "-label", s.name, "-server-pid", strconv.Itoa(cmd.Process.Pid),
		"-secret", o.secret, "-api-key", o.apiKey, "-json"}, o.loadArgs...)
	return runLoad(ctx, load, o, args)
}

// runLoad runs the load tool (pinned to -load-cpu) and reads its JSON result.
func runLoad(ctx context.Context, load string, o options, args []string) (*bench.Result, error) {
	lc := exec.CommandContext(ctx, load, args...)
	if o.loadCPU != "" {
		lc = exec.CommandContext(ctx, "taskset", append([]string{"-c", o.loadCPU, load}, args...)...)
	}
	lc.Stderr = os.Stderr
	out, runErr := lc.Output()
	var res bench.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, errors.Join(runErr, fmt.Errorf("load tool output: %w", err))
	}
	return &res, runErr
}

// waitReady polls the server until it answers HTTP at all.
func waitReady(ctx context.Context, base string, cmd *exec.Cmd, timeout time.Duration) error {
	exited := make(chan struct{})
	go func() { cmd.Process.Wait(); close(exited) }()
	end := time.Now().Add(timeout)
	hc := &http.Client{Timeout: time.Second}
	for time.Now().Before(end) {
		if resp, err := hc.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-exited:
			return errors.New("server exited at start")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("server did not answer on %s within %v", base, timeout)
}

// stopServer ends the server's process group: SIGTERM, then SIGKILL after five seconds.
func stopServer(cmd *exec.Cmd) {
	pgid := -cmd.Process.Pid
	syscall.Kill(pgid, syscall.SIGTERM)
	for range 50 {
		if syscall.Kill(cmd.Process.Pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(pgid, syscall.SIGKILL)
}

// withoutDatabaseURL drops DATABASE_URL and REDIS_URL from env: only herald gets the first, from
// the -database-url flag, and the second only in cluster mode (-nodes), from the Redis it starts.
func withoutDatabaseURL(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		return strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "REDIS_URL=")
	})
}

func sh(ctx context.Context, dir string, env []string, name string, args ...string) error {
	c := exec.CommandContext(ctx, name, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(out, 2000))
	}
	return nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// row is one line of the comparison table.
type row struct {
	name string
	unit string
	get  func(*bench.Result) (float64, bool)
}

func rows(scenario string) []row {
	conn := []row{
		{"connected", "", func(r *bench.Result) (float64, bool) { return float64(r.Connect.Connected), true }},
		{"failed", "", func(r *bench.Result) (float64, bool) { return float64(r.Connect.Failed), true }},
		{"connect rate", "/s", func(r *bench.Result) (float64, bool) { return r.Connect.RatePerSec, true }},
		{"connect p50", "ms", func(r *bench.Result) (float64, bool) { return r.Connect.Latency.P50, true }},
		{"connect p99", "ms", func(r *bench.Result) (float64, bool) { return r.Connect.Latency.P99, true }},
		{"RSS before", "MiB", srv(func(s *bench.ServerResult) float64 { return float64(s.RSSBefore) / (1 << 20) })},
		{"RSS after", "MiB", srv(func(s *bench.ServerResult) float64 { return float64(s.RSSAfter) / (1 << 20) })},
		{"memory per conn", "KiB", srv(func(s *bench.ServerResult) float64 { return s.BytesPerConn / 1024 })},
		{"server CPU, ramp", "s", srv(func(s *bench.ServerResult) float64 { return s.CPUConnect })},
		{"tool CPU, ramp", "s", func(r *bench.Result) (float64, bool) { return r.Tool.CPUConnect, true }},
	}
	switch scenario {
	case "fanout":
		return append(conn,
			row{"last receiver, median", "ms", func(r *bench.Result) (float64, bool) {
				return fan(r, func(f *bench.FanoutResult) float64 { return f.LastMedianMs })
			}},
			row{"last receiver, worst", "ms", func(r *bench.Result) (float64, bool) {
				return fan(r, func(f *bench.FanoutResult) float64 { return f.LastMaxMs })
			}},
			row{"receiver p50", "ms", func(r *bench.Result) (float64, bool) {
				return fan(r, func(f *bench.FanoutResult) float64 { return f.Latency.P50 })
			}},
			row{"receiver p90", "ms", func(r *bench.Result) (float64, bool) {
				return fan(r, func(f *bench.FanoutResult) float64 { return f.Latency.P90 })
			}},
			row{"receiver p99", "ms", func(r *bench.Result) (float64, bool) {
				return fan(r, func(f *bench.FanoutResult) float64 { return f.Latency.P99 })
			}},
			row{"missing", "", func(r *bench.Result) (float64, bool) {
				return fan(r, func(f *bench.FanoutResult) float64 { return float64(f.Missing) })
			}},
			row{"server CPU per event", "µs", srv(func(s *bench.ServerResult) float64 { return s.CPUPerEvent })},
			row{"tool CPU per event", "µs", func(r *bench.Result) (float64, bool) { return r.Tool.CPUPerEvent, r.Tool.CPUPerEvent > 0 }},
		)
	case "emit", "notify":
		return append(conn,
			row{"sustained (offered)", "/s", func(r *bench.Result) (float64, bool) {
				if r.Saturation == nil {
					st, ok := lastStep(r)
					return st.Offered, ok
				}
				return r.Saturation.SustainedPerSec, true
			}},
			row{"best delivered", "/s", func(r *bench.Result) (float64, bool) {
				best := 0.0
				for _, st := range r.Steps {
					best = max(best, st.DeliveredPerSec)
				}
				return best, len(r.Steps) > 0
			}},
			row{"p50 at sustained", "ms", sustained(func(st bench.StepResult) float64 { return st.Latency.P50 })},
			row{"p99 at sustained", "ms", sustained(func(st bench.StepResult) float64 { return st.Latency.P99 })},
			row{"server CPU per event", "µs", sustained(func(st bench.StepResult) float64 { return st.ServerCPU })},
			row{"tool CPU per event", "µs", sustained(func(st bench.StepResult) float64 { return st.ToolCPU })},
			row{"tool receive CPU per event", "µs", sustained(func(st bench.StepResult) float64 { return st.ToolRecvCPU })},
			row{"lost, all steps", "", func(r *bench.Result) (float64, bool) {
				n := int64(0)
				for _, st := range r.Steps {
					n += st.Lost
				}
				return float64(n), true
			}},
			row{"misrouted, all steps", "", func(r *bench.Result) (float64, bool) {
				n := int64(0)
				for _, st := range r.Steps {
					n += st.Misrouted
				}
				return float64(n), true
			}},
		)
	}
	return append(conn,
		row{"server CPU, hold", "s", srv(func(s *bench.ServerResult) float64 { return s.CPUMeasure })},
		row{"dropped", "", func(r *bench.Result) (float64, bool) { return float64(r.Connect.Dropped), true }},
	)
}

// clusterRows are the messages the nodes received from each other (over Redis) per delivered event:
// all nodes added up, and the node that received the most.
func clusterRows(scenario string) []row {
	get := func(r *bench.Result) *bench.RecvResult {
		if scenario == "fanout" {
			if r.Fanout != nil {
				return r.Fanout.Recv
			}
			return nil
		}
		if st, ok := lastStep(r); ok {
			return st.Recv
		}
		return nil
	}
	return []row{
		{"nodes' messages received per event", "", func(r *bench.Result) (float64, bool) {
			rr := get(r)
			return perEvent(rr), rr != nil
		}},
		{"one node's most received per event", "", func(r *bench.Result) (float64, bool) {
			rr := get(r)
			if rr == nil || len(rr.PerNodeEv) == 0 {
				return 0, false
			}
			return slices.Max(rr.PerNodeEv), true
		}},
	}
}

func perEvent(rr *bench.RecvResult) float64 {
	if rr == nil {
		return 0
	}
	return rr.PerEvent
}

func srv(f func(*bench.ServerResult) float64) func(*bench.Result) (float64, bool) {
	return func(r *bench.Result) (float64, bool) {
		if r.Server == nil {
			return 0, false
		}
		return f(r.Server), true
	}
}

func fan(r *bench.Result, f func(*bench.FanoutResult) float64) (float64, bool) {
	if r.Fanout == nil {
		return 0, false
	}
	return f(r.Fanout), true
}

// lastStep is the last step the server kept up with, or the last step if it kept up with all.
func lastStep(r *bench.Result) (bench.StepResult, bool) {
	var best bench.StepResult
	ok := false
	for _, st := range r.Steps {
		if st.Saturated {
			break
		}
		best, ok = st, true
	}
	return best, ok
}

func sustained(f func(bench.StepResult) float64) func(*bench.Result) (float64, bool) {
	return func(r *bench.Result) (float64, bool) {
		st, ok := lastStep(r)
		return f(st), ok
	}
}

func printTable(w io.Writer, o options, servers []*server, results map[string]*bench.Result) {
	var names []string
	for _, s := range servers {
		if results[s.name] != nil {
			names = append(names, s.name)
		}
	}
	if len(names) == 0 {
		fmt.Fprintln(w, "no server was measured")
		return
	}
	baseline := names[0]
	if results[o.baseline] != nil {
		baseline = o.baseline
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\t", o.scenario+" "+strings.Join(o.loadArgs, " "))
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t", n)
	}
	for _, n := range names {
		if n != baseline {
			fmt.Fprintf(tw, "%s/%s\t", n, baseline)
		}
	}
	fmt.Fprintln(tw)
	rs := rows(o.scenario)
	if o.nodes > 0 {
		rs = append(rs, clusterRows(o.scenario)...)
	}
	for _, rw := range rs {
		label := rw.name
		if o.nodes > 0 {
			// The servers' figures are every node's and Redis's, added up.
			label = strings.Replace(label, "server CPU", "servers+Redis CPU", 1)
			label = strings.Replace(label, "RSS", "RSS, all nodes+Redis,", 1)
			label = strings.Replace(label, "memory per conn", "memory per conn, all nodes+Redis", 1)
		}
		if rw.unit != "" {
			label += " (" + rw.unit + ")"
		}
		fmt.Fprintf(tw, "%s\t", label)
		for _, n := range names {
			if v, ok := rw.get(results[n]); ok {
				fmt.Fprintf(tw, "%s\t", num(v))
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		b, bok := rw.get(results[baseline])
		for _, n := range names {
			if n == baseline {
				continue
			}
			v, ok := rw.get(results[n])
			if ok && bok && b != 0 {
				fmt.Fprintf(tw, "%.2fx\t", v/b)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	for _, s := range servers {
		if s.skip != "" {
			fmt.Fprintf(w, "%s: skipped: %s\n", s.name, firstLine(s.skip))
		}
	}
	for _, n := range names {
		for _, note := range results[n].Notes {
			fmt.Fprintf(w, "%s: note: %s\n", n, note)
		}
		for e, c := range results[n].Errors {
			fmt.Fprintf(w, "%s: %d× %s\n", n, c, e)
		}
	}
}

func num(v float64) string {
	switch {
	case v == float64(int64(v)) && v < 1e9:
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v > 0 && v < 0.1:
		return strconv.FormatFloat(v, 'g', 3, 64) // messages per event of a broadcast: 0.005
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
