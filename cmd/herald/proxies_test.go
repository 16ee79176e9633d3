package main

import (
	"strings"
	"testing"
)

func TestTrustedProxiesFlag(t *testing.T) {
	base := []string{"--jwt-secret", "s", "--api-key", "k"}
	cfg, err := parseServe(base)
	if err != nil || len(cfg.TrustedProxies) != 0 {
		t.Fatalf("default: %v %v, want nobody trusted", cfg.TrustedProxies, err)
	}
	cfg, err = parseServe(append(base, "--trusted-proxies", "10.0.0.0/8, 192.0.2.7,2001:db8::/48"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range cfg.TrustedProxies {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 192.0.2.7/32 2001:db8::/48" {
		t.Errorf("got %v", got)
	}
	t.Setenv("HERALD_TRUSTED_PROXIES", "127.0.0.1/32")
	if cfg, err = parseServe(base); err != nil || len(cfg.TrustedProxies) != 1 || cfg.TrustedProxies[0].String() != "127.0.0.1/32" {
		t.Errorf("from the env: %v %v", cfg.TrustedProxies, err)
	}
	for _, bad := range []string{"10.0.0.0/40", "proxy.internal", "10.0.0.1:80"} {
		if _, err := parseServe(append(base, "--trusted-proxies", bad)); err == nil || !strings.Contains(err.Error(), "--trusted-proxies") {
			t.Errorf("%q: got %v, want an error naming the flag", bad, err)
		}
	}
}
