package main

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"herald/internal/nodetest"
	"herald/internal/pgtest"
)

// TestE2EForward runs test/e2e/forward_redis.test.mjs: three `herald serve`
// processes in cluster mode with --advertise-addr, on one PostgreSQL (a
// schema of this run's) and a Redis of the node test's own (redis-server
// from PATH): polling requests and upgrades that land on a node other than
// the session's owner are forwarded to it. With CI=true a missing
// PostgreSQL or redis-server fails.
func TestE2EForward(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end suite skipped in -short mode")
	}
	redisServer, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no redis-server: %v", err)
		}
		t.Skipf("no redis-server: %v", err)
	}
	server := pgtest.ServerURL(t)
	prefix := pgtest.NewName("forward")
	t.Cleanup(func() { pgtest.DropSchemas(t, server, prefix) })
	suite := nodetest.Suite{Dir: e2eDir, Timeout: 120 * time.Second, Args: []string{"--test", "--test-reporter=spec", "forward_redis.test.mjs"}}
	bin := e2eBuild(t)
	t.Log(suite.Run(t, "HERALD_BIN="+bin, "HERALD_E2E_DATABASE_URL="+server, "HERALD_E2E_SCHEMA_PREFIX="+prefix, "HERALD_E2E_REDIS_SERVER="+redisServer))
}
