package main

import (
	"reflect"
	"strings"
	"testing"

	"herald/emitter"
)

func TestEmitterKeyFlag(t *testing.T) {
	base := []string{"--jwt-secret", "s", "--redis-url", "redis://127.0.0.1:1/0", "--database-url", "postgres://x@127.0.0.1/db"}
	cfg, err := parseServe(append(base, "--redis-emitter-key", "socket.io,herald:acme=acme", "--redis-emitter-key", "herald:beta=beta"))
	if err != nil {
		t.Fatal(err)
	}
	want := []emitter.Key{{Key: "socket.io"}, {Key: "herald:acme", Tenant: "acme"}, {Key: "herald:beta", Tenant: "beta"}}
	if !reflect.DeepEqual(cfg.EmitterKeys, want) {
		t.Fatalf("keys %+v", cfg.EmitterKeys)
	}
	t.Setenv("HERALD_REDIS_EMITTER_KEY", "from-env=t")
	if cfg, err = parseServe(base); err != nil || !reflect.DeepEqual(cfg.EmitterKeys, []emitter.Key{{Key: "from-env", Tenant: "t"}}) {
		t.Fatalf("env: %+v %v", cfg.EmitterKeys, err)
	}
	if cfg, err = parseServe(append(base, "--redis-emitter-key", "")); err != nil || len(cfg.EmitterKeys) != 0 {
		t.Fatalf("an empty flag turns it off: %+v %v", cfg.EmitterKeys, err)
	}
	t.Setenv("HERALD_REDIS_EMITTER_KEY", "")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--jwt-secret", "s", "--redis-emitter-key", "socket.io"}, "needs REDIS_URL"},
		{append(base, "--redis-emitter-key", "a*"), "redis emitter key"},
		{append(base, "--redis-emitter-key", "a,a=b"), "twice"},
	} {
		if _, err := parseServe(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
