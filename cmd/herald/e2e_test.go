package main

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"herald/internal/nodetest"
	"herald/internal/pgtest"
)

// The end-to-end suite runs the real socket.io-client from npm against real
// `herald serve` processes. Its node side lives in e2eDir (relative to this
// package); each node test file starts, restarts and stops its own herald
// processes from the binary this test builds. See test/e2e/README.md for
// what each file covers.
const (
	e2eDir = "../../test/e2e"
	// e2eRunTimeout bounds one node run; it takes 20-45s on an idle machine,
	// much longer under -race on a loaded one.
	e2eRunTimeout = 180 * time.Second
	// e2eConcurrency is how many node test files run at once; each has
	// its own herald processes, so they are independent.
	e2eConcurrency = 8
)

// TestE2E builds the herald binary (race-enabled when this test is) into a
// temp dir and runs `node --test` on test/e2e/*.test.mjs with its path in
// HERALD_BIN, failing with node's output when any node test fails.
//
// Without node or without test/e2e/node_modules (npm ci not run) the test
// is skipped, except in CI (CI=true), which must never pass by skipping.
func TestE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end suite skipped in -short mode")
	}
	suite := nodetest.Suite{Dir: e2eDir, Concurrency: e2eConcurrency, Timeout: e2eRunTimeout}
	bin := e2eBuild(t)
	t.Log(suite.Run(t, "HERALD_BIN="+bin))
}

// built is the herald binary that e2eBuild makes once for every test of
// the package; TestMain removes it.
var built struct {
	once     sync.Once
	dir, bin string
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// e2eBuild builds this package's binary (once per test run), with the race
// detector when the test binary has it, so that the suites also hunt data
// races in the server (the node harness fails on a race report).
func e2eBuild(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			built.err = fmt.Errorf("the e2e suite builds herald with the go tool: %w", err)
			return
		}
		if built.dir, built.err = os.MkdirTemp("", "herald-e2e-bin-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "herald")
		args := []string{"build", "-o", built.bin}
		if e2eRace {
			args = append(args, "-race")
		}
		start := time.Now()
		if out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go %v: %w\n%s", args, err, out)
			return
		}
		t.Logf("built %s (race %v) in %v", filepath.Base(built.bin), e2eRace, time.Since(start).Round(time.Millisecond))
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// TestE2EPostgres runs the same suite with every herald on PostgreSQL: each
// database the suite asks for is a new schema (named with a prefix of this
// run's), all dropped at the end. With CI=true a missing PostgreSQL fails.
func TestE2EPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end suite skipped in -short mode")
	}
	server := pgtest.ServerURL(t)
	prefix := pgtest.NewName("e2e")
	t.Cleanup(func() { pgtest.DropSchemas(t, server, prefix) })
	// Small pools: the suite runs many servers at once on one PostgreSQL.
	u, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "3")
	q.Set("pool_max_conn_idle_time", "10s")
	u.RawQuery = q.Encode()
	suite := nodetest.Suite{Dir: e2eDir, Concurrency: e2eConcurrency, Timeout: e2eRunTimeout}
	bin := e2eBuild(t)
	t.Log(suite.Run(t, "HERALD_BIN="+bin, "HERALD_E2E_DATABASE_URL="+u.String(), "HERALD_E2E_SCHEMA_PREFIX="+prefix))
}
