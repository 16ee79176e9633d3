package main

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"herald/internal/nodetest"
	"herald/internal/pgtest"
)

// TestE2EEmitter runs test/e2e/emitter.test.mjs: the real
// @socket.io/redis-emitter publishing to two `herald serve` nodes in
// cluster mode on one PostgreSQL (a schema of this run's) and a Redis the
// node test starts itself from redis-server (found on PATH). With CI=true
// a missing PostgreSQL or redis-server fails.
func TestE2EEmitter(t *testing.T) {
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
	prefix := pgtest.NewName("emitter")
	t.Cleanup(func() { pgtest.DropSchemas(t, server, prefix) })
	suite := nodetest.Suite{Dir: e2eDir, Timeout: 150 * time.Second, Args: []string{"--test", "emitter.test.mjs"}}
	bin := e2eBuild(t)
	t.Log(suite.Run(t, "HERALD_BIN="+bin, "HERALD_E2E_DATABASE_URL="+server, "HERALD_E2E_SCHEMA_PREFIX="+prefix, "HERALD_E2E_REDIS_SERVER="+redisServer))
}
