package main

import (
	"testing"
	"time"

	"herald/internal/nodetest"
)

// TestClientJS runs the TypeScript client's vitest suites (clients/js):
// its unit tests and its live tests against real `herald serve` processes
// of the binary this test builds.
func TestClientJS(t *testing.T) {
	if testing.Short() {
		t.Skip("client suite skipped in -short mode")
	}
	suite := nodetest.Suite{
		Dir:     "../../clients/js",
		Module:  "vitest",
		Args:    []string{"node_modules/vitest/vitest.mjs", "run", "--config", "vitest.live.config.ts"},
		Timeout: 2 * time.Minute,
	}
	bin := e2eBuild(t)
	t.Log(suite.Run(t, "HERALD_BIN="+bin))
}
