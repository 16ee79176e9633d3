package pgtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// Server is a PostgreSQL server of a test's own, on a free loopback port,
// in a temp dir, so that a test can stop and start it without touching the
// machine's server.
type Server struct {
	URL  string // postgres://postgres@127.0.0.1:port/postgres
	bin  string // the directory of initdb and pg_ctl
	dir  string
	data string
	port int
	run  func(name string, args ...string) *exec.Cmd
}

// StartServer runs initdb and starts the server; it is stopped and removed
// when tb ends. The binaries come from /usr/lib/postgresql/*/bin (the
// newest). initdb refuses to run as root, so as root the server runs as the
// OS user postgres (which the PostgreSQL packages create). Without the
// binaries the test is skipped, except when CI=true.
func StartServer(tb testing.TB) *Server {
	tb.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		if os.Getenv("CI") == "true" {
			tb.Fatal("PostgreSQL server binaries (initdb, pg_ctl) are required in CI")
		}
		tb.Skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
	}
	slices.SortFunc(bins, func(a, b string) int { return versionOf(a) - versionOf(b) })
	s := &Server{bin: filepath.Dir(bins[len(bins)-1])}
	s.run = exec.Command
	dir, err := os.MkdirTemp("", "herald-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	s.dir, s.data = dir, filepath.Join(dir, "data")
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			tb.Fatalf("running as root, the test server needs the OS user postgres: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			tb.Fatal(err)
		}
		runuser, err := exec.LookPath("runuser")
		if err != nil {
			tb.Fatalf("running as root, the test server needs runuser: %v", err)
		}
		s.run = func(name string, args ...string) *exec.Cmd {
			return exec.Command(runuser, append([]string{"-u", "postgres", "--", name}, args...)...)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)

	s.must(tb, s.run(filepath.Join(s.bin, "initdb"), "-D", s.data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"))
	s.Start(tb)
	tb.Cleanup(func() {
		s.run(filepath.Join(s.bin, "pg_ctl"), "-D", s.data, "-m", "immediate", "-w", "stop").Run()
	})
	return s
}

// Start starts the (stopped) server and waits until it accepts connections.
func (s *Server) Start(tb testing.TB) {
	tb.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=50", s.port, s.dir)
	s.must(tb, s.run(filepath.Join(s.bin, "pg_ctl"), "-D", s.data, "-o", opts, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "60", "start"))
}

// Stop stops the server with a fast shutdown (clients are disconnected,
// committed work is kept) and waits until it is down.
func (s *Server) Stop(tb testing.TB) {
	tb.Helper()
	s.must(tb, s.run(filepath.Join(s.bin, "pg_ctl"), "-D", s.data, "-m", "fast", "-w", "-t", "60", "stop"))
}

func (s *Server) must(tb testing.TB, cmd *exec.Cmd) {
	tb.Helper()
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(s.dir, "log"))
		tb.Fatalf("%v: %v\n%s\n%s", cmd.Args, err, out, log)
	}
}

// versionOf returns the major version in a path /usr/lib/postgresql/N/bin/x.
func versionOf(path string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return n
}
