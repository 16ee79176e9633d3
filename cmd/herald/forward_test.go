package main

import (
	"strings"
	"testing"
)

// --advertise-addr must be host:port; in cluster mode it turns forwarding
// on, outside cluster mode it only names the node.
func TestParseServeAdvertiseAddr(t *testing.T) {
	base := []string{"--jwt-secret", "s", "--port", "4100"}
	cluster := []string{"--redis-url", "redis://127.0.0.1:6379/0", "--database-url", "postgres://127.0.0.1/test"}
	for _, bad := range []string{"10.0.0.1", ":4100", "10.0.0.1:", "http://10.0.0.1:4100"} {
		if _, err := parseServe(append(append(base, cluster...), "--advertise-addr", bad)); err == nil || !strings.Contains(err.Error(), "invalid --advertise-addr") {
			t.Errorf("--advertise-addr %q: got %v, want an invalid --advertise-addr error", bad, err)
		}
	}
	for _, tc := range []struct {
		flags []string
		want  bool
	}{
		{append(append([]string{}, cluster...), "--advertise-addr", "10.0.0.1:4100"), true},
		{cluster, false},
		{[]string{"--advertise-addr", "10.0.0.1:4100"}, false},
	} {
		cfg, err := parseServe(append(append([]string{}, base...), tc.flags...))
		if err != nil || cfg.Forwarding != tc.want {
			t.Errorf("%v: forwarding %v (%v), want %v", tc.flags, cfg.Forwarding, err, tc.want)
		}
	}
}
