package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"herald/internal/nodetest"
)

// browserDir holds the browser suite (test/browser/README.md); it imports
// test/e2e's harness, so both need `npm ci`.
const browserDir = "../../test/browser"

// TestBrowser builds herald and runs the browser suite: Debian's chromium
// (CHROMIUM, default /usr/bin/chromium), driven by playwright-core, opens
// the demo app that herald embeds (web/dist). Screenshots go to
// test/browser/output (gitignored). Without chromium or node the test is
// skipped, except in CI, which must never pass by skipping.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser suite skipped in -short mode")
	}
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the browser suite needs chromium (apt-get install chromium): %v", err)
		}
		t.Skipf("no chromium: %v", err)
	}
	suite := nodetest.Suite{Dir: browserDir, Module: "playwright-core", Concurrency: 1, Timeout: 3 * time.Minute}
	bin := e2eBuild(t)
	out, _ := filepath.Abs(filepath.Join(browserDir, "output"))
	t.Log(suite.Run(t, "HERALD_BIN="+bin, "CHROMIUM="+chromium, "BROWSER_OUTPUT="+out))
}
