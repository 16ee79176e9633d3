package main

import (
	"testing"
	"time"
)

func TestRecoveryFlags(t *testing.T) {
	parse := func(args ...string) (serveConfig, error) {
		return parseServe(append([]string{"--jwt-secret", "s"}, args...))
	}
	c, err := parse()
	if err != nil || c.Recovery.Window != 2*time.Minute || c.Recovery.MaxBytes != 64<<20 {
		t.Fatalf("defaults: %+v %v", c.Recovery, err)
	}
	if c, err = parse("--recovery-window", "0"); err != nil || c.Recovery.options().Window != 0 {
		t.Fatalf("off: %+v %v", c.Recovery, err)
	}
	for _, bad := range [][]string{{"--recovery-window", "soon"}, {"--recovery-window", "-1s"}, {"--recovery-max-bytes", "-1"}} {
		if _, err := parse(bad...); err == nil {
			t.Fatalf("%v accepted", bad)
		}
	}
	t.Setenv("HERALD_RECOVERY_WINDOW", "30s")
	if c, err = parse(); err != nil || c.Recovery.Window != 30*time.Second {
		t.Fatalf("env: %+v %v", c.Recovery, err)
	}
	if c, err = parse("--recovery-window", "5s"); err != nil || c.Recovery.Window != 5*time.Second {
		t.Fatalf("flag over env: %+v %v", c.Recovery, err)
	}
}
