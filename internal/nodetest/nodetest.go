// Package nodetest runs the project's node test suites (`node --test` on the
// real socket.io-client from npm) from Go tests.
package nodetest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Suite is a directory of node test files (*.test.mjs) with its own
// node_modules.
type Suite struct {
	Dir         string        // relative to the calling test's package
	Concurrency int           // test files run at once; zero means 4
	Timeout     time.Duration // bound of the whole run; zero means 2 minutes
}

// Run runs every test file of the suite with env added to the environment,
// and fails t with node's output if any node test fails. It returns node's
// output on success.
//
// Without node, or without the suite's node_modules (npm ci not run), the
// test is skipped, except when CI=true: CI must never pass by skipping.
func (s Suite) Run(t testing.TB, env ...string) string {
	t.Helper()
	node := s.node(t)
	files, err := filepath.Glob(filepath.Join(s.Dir, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no node test files in %s (err %v)", s.Dir, err)
	}
	// Reading the sources makes go test's result cache, which records the
	// files a test opens, notice edits to them.
	srcs, _ := filepath.Glob(filepath.Join(s.Dir, "*.mjs"))
	for _, f := range append(srcs, filepath.Join(s.Dir, "package-lock.json")) {
		if _, err := os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	for i, f := range files {
		files[i] = filepath.Base(f)
	}
	concurrency, timeout := s.Concurrency, s.Timeout
	if concurrency <= 0 {
		concurrency = 4
	}
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := append([]string{"--test", "--test-reporter=spec", "--test-concurrency=" + itoa(concurrency)}, files...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = s.Dir
	cmd.Env = append(append(os.Environ(), "NO_COLOR=1"), env...)
	// node runs each file in a child process, which may spawn servers; if
	// the run is killed, the whole process group goes, and nobody waits
	// forever for their copies of the output pipe.
	killGroup := processGroup(cmd)
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	killGroup() // whatever a crashed file left behind
	if err != nil {
		t.Fatalf("node --test %v failed after %v: %v\n%s", files, time.Since(start).Round(time.Millisecond), err, out)
	}
	t.Logf("node --test passed in %v", time.Since(start).Round(time.Millisecond))
	return string(out)
}

func (s Suite) node(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(s.Dir, "node_modules", "socket.io-client", "package.json"))
	}
	if err != nil {
		msg := "this suite needs node and `npm ci` in " + s.Dir + ": " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}
