package main

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"herald/internal/nodetest"
	"herald/internal/pgtest"
)

// TestE2ECluster runs test/e2e/cluster_redis.test.mjs: three `herald serve`
// processes on one PostgreSQL (a schema of this run's) and a Redis that the
// node test starts, stops and restarts itself from redis-server (found on
// PATH), on a free loopback port. With CI=true a missing PostgreSQL or
// redis-server fails.
func TestE2ECluster(t *testing.T) {
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
	prefix := pgtest.NewName("cluster")
	t.Cleanup(func() { pgtest.DropSchemas(t, server, prefix) })
	suite := nodetest.Suite{Dir: e2eDir, Timeout: 150 * time.Second, Args: []string{"--test", "cluster_redis.test.mjs"}}
	bin := e2eBuild(t)
	t.Log(suite.Run(t, "HERALD_BIN="+bin, "HERALD_E2E_DATABASE_URL="+server, "HERALD_E2E_SCHEMA_PREFIX="+prefix, "HERALD_E2E_REDIS_SERVER="+redisServer))
}
