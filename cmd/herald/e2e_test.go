package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
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
	e2eConcurrency = "8"
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
	node := e2eNode(t)
	files, err := filepath.Glob(filepath.Join(e2eDir, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no node test files in %s (err %v)", e2eDir, err)
	}
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	e2eTouchSources(t)
	bin := e2eBuild(t)

	ctx, cancel := context.WithTimeout(context.Background(), e2eRunTimeout)
	defer cancel()
	args := append([]string{"--test", "--test-reporter=spec", "--test-concurrency=" + e2eConcurrency}, files...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = e2eDir
	cmd.Env = append(os.Environ(), "HERALD_BIN="+bin, "NO_COLOR=1")
	// The test runner spawns a process per file, and those spawn herald; if
	// the run is killed, the whole process group goes, and nobody waits
	// forever for their copies of the pipe.
	killGroup := e2eProcessGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	killGroup() // whatever a crashed file left behind
	if err != nil {
		t.Fatalf("node --test %v failed after %v: %v\n%s", files, time.Since(start).Round(time.Millisecond), err, out)
	}
	t.Logf("node --test passed in %v:\n%s", time.Since(start).Round(time.Millisecond), out)
}

// e2eNode returns the node binary, or skips (fails in CI) when node or the
// installed client is missing.
func e2eNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(e2eDir, "node_modules", "socket.io-client", "package.json"))
	}
	if err != nil {
		msg := "the e2e suite needs node and `npm ci` in test/e2e: " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node
}

// e2eTouchSources reads the node side's sources, so that go test's result
// cache, which records the files a test opens, notices edits to them.
func e2eTouchSources(t *testing.T) {
	t.Helper()
	srcs, _ := filepath.Glob(filepath.Join(e2eDir, "*.mjs"))
	for _, f := range append(srcs, filepath.Join(e2eDir, "package-lock.json")) {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
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
