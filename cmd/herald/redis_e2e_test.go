package main

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"herald/internal/nodetest"
	"herald/internal/pgtest"
)

// TestE2ECluster runs test/e2e/cluster_redis.test.mjs: three nodes; a
// client of one gets what another creates, presence and stats agree, a node
// killed with -9 and a Redis restarted mid-traffic lose nothing.
func TestE2ECluster(t *testing.T) { runRedisSuite(t, "cluster", "cluster_redis.test.mjs") }

// TestE2EForward runs test/e2e/forward_redis.test.mjs: three nodes with
// --advertise-addr; polling requests and upgrades that land on a node other
// than the session's owner are forwarded to it.
func TestE2EForward(t *testing.T) { runRedisSuite(t, "forward", "forward_redis.test.mjs") }

// TestE2EEmitter runs test/e2e/emitter.test.mjs: the real
// @socket.io/redis-emitter publishing to two nodes.
func TestE2EEmitter(t *testing.T) { runRedisSuite(t, "emitter", "emitter.test.mjs") }

// runRedisSuite runs one e2e file of `herald serve` processes in cluster
// mode, on one PostgreSQL (a schema prefix of this run's, dropped at the
// end) and a Redis that the file starts, stops and restarts itself from
// redis-server (found on PATH) on a free loopback port. With CI=true a
// missing PostgreSQL or redis-server fails.
func runRedisSuite(t *testing.T, name, file string) {
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
	prefix := pgtest.NewName(name)
	t.Cleanup(func() { pgtest.DropSchemas(t, server, prefix) })
	suite := nodetest.Suite{Dir: e2eDir, Timeout: 150 * time.Second, Args: []string{"--test", "--test-reporter=spec", file}}
	bin := e2eBuild(t)
	t.Log(suite.Run(t, "HERALD_BIN="+bin, "HERALD_E2E_DATABASE_URL="+server, "HERALD_E2E_SCHEMA_PREFIX="+prefix, "HERALD_E2E_REDIS_SERVER="+redisServer))
}
