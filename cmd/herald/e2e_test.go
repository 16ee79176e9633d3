package main

import (
	"net/url"
	"os/exec"
	"path/filepath"
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
	// e2eRunTimeout bounds the whole node run; it takes about 20s.
	e2eRunTimeout = 100 * time.Second
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

// e2eBuild builds this package's binary into t.TempDir(), with the race
// detector when the test binary has it, so that the suite also hunts data
// races in the server (the node harness fails on a race report).
func e2eBuild(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the e2e suite builds herald with the go tool: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "herald")
	args := []string{"build", "-o", bin}
	if e2eRace {
		args = append(args, "-race")
	}
	cmd := exec.Command(goTool, append(args, ".")...)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
	t.Logf("built %s (race %v) in %v", filepath.Base(bin), e2eRace, time.Since(start).Round(time.Millisecond))
	return bin
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
	q.Set("pool_max_conns", "4")
	u.RawQuery = q.Encode()
	suite := nodetest.Suite{Dir: e2eDir, Concurrency: e2eConcurrency, Timeout: e2eRunTimeout}
	bin := e2eBuild(t)
	t.Log(suite.Run(t, "HERALD_BIN="+bin, "HERALD_E2E_DATABASE_URL="+u.String(), "HERALD_E2E_SCHEMA_PREFIX="+prefix))
}
