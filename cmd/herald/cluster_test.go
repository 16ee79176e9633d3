package main

import (
	"strings"
	"testing"
)

// Cluster mode needs a shared store, and a Redis URL that parses. (The
// advertised address defaults to the listener's, set by runServe.)
func TestParseServeCluster(t *testing.T) {
	base := []string{"--jwt-secret", "s", "--port", "4100"}
	for _, tc := range []struct {
		flags []string
		err   string
	}{
		{[]string{"--redis-url", "redis://127.0.0.1:6379"}, "needs DATABASE_URL"},
		{[]string{"--redis-url", "http://x", "--database-url", "postgres://127.0.0.1/test"}, "invalid REDIS_URL"},
	} {
		_, err := parseServe(append(base, tc.flags...))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%v: got %v, want an error with %q", tc.flags, err, tc.err)
		}
	}
	cfg, err := parseServe(append(base, "--redis-url", "redis://127.0.0.1:6379/0", "--database-url", "postgres://127.0.0.1/test"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RedisURL == "" || cfg.AdvertiseAddr != "" {
		t.Errorf("redis %q, advertise addr %q: want the URL, and no address until runServe listens", cfg.RedisURL, cfg.AdvertiseAddr)
	}
	cfg, err = parseServe(append(base, "--redis-url", "redis://127.0.0.1:6379/0", "--database-url", "postgres://127.0.0.1/test", "--advertise-addr", "10.0.0.1:4100"))
	if err != nil || cfg.AdvertiseAddr != "10.0.0.1:4100" {
		t.Errorf("advertise addr %q (%v), want 10.0.0.1:4100", cfg.AdvertiseAddr, err)
	}
}
