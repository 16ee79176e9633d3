// Package nodetest runs the project's node test suites (`node --test` on the
// real socket.io-client from npm) from Go tests.
package nodetest

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Suite is a directory of node test files (*.test.mjs) with its own
// node_modules.
type Suite struct {
	Dir         string        // relative to the calling test's package
	Concurrency int           // test files run at once; zero means 4
	Timeout     time.Duration // bound of the whole run; zero means 2 minutes
	// Module is the npm package whose presence in Dir's node_modules shows
	// that `npm ci` ran there; empty means socket.io-client.
	Module string
	// Args, when set, are what node runs in Dir instead of `--test` on the
	// *.test.mjs files (say, vitest's entry point and its arguments); its
	// exit status decides. Every *.ts and *.mjs file under Dir (outside
	// node_modules) counts as a source for go test's cache.
	Args []string
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
	if len(s.Args) > 0 {
		s.readSources(t)
		return s.run(t, node, s.Args, env)
	}
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
	concurrency := s.Concurrency
	if concurrency <= 0 {
		concurrency = 4
	}
	args := append([]string{"--test", "--test-reporter=spec", "--test-concurrency=" + itoa(concurrency)}, files...)
	return s.run(t, node, args, env)
}

// run runs node with args in s.Dir, failing t with its output if it fails.
func (s Suite) run(t testing.TB, node string, args, env []string) string {
	t.Helper()
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
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
		t.Fatalf("node %v failed after %v: %v\n%s", args, time.Since(start).Round(time.Millisecond), err, out)
	}
	t.Logf("node %s passed in %v", args[0], time.Since(start).Round(time.Millisecond))
	return string(out)
}

// readSources reads every *.ts and *.mjs file under s.Dir but node_modules,
// so that go test's result cache, which records the files a test opens,
// notices edits to them.
func (s Suite) readSources(t testing.TB) {
	t.Helper()
	err := filepath.WalkDir(s.Dir, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir() && d.Name() == "node_modules":
			return filepath.SkipDir
		case !d.IsDir() && (strings.HasSuffix(path, ".ts") || strings.HasSuffix(path, ".mjs") || d.Name() == "package-lock.json"):
			_, err = os.ReadFile(path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (s Suite) node(t testing.TB) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		module := s.Module
		if module == "" {
			module = "socket.io-client"
		}
		_, err = os.Stat(filepath.Join(s.Dir, "node_modules", module, "package.json"))
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
