//go:build linux

package main

import "testing"

func TestParseFlagsPinning(t *testing.T) {
	for _, c := range []struct {
		args         []string
		server, load string
		nodes        int
	}{
		{[]string{"emit"}, "0", "1", 0},
		{[]string{"-nodes", "3", "emit"}, "", "", 3},
		{[]string{"-nodes", "3", "-server-cpus", "0", "-load-cpu", "1", "emit"}, "0", "1", 3},
		{[]string{"-nodes", "6", "-tool-cpus", "1", "fanout", "--", "-n", "100"}, "", "1", 6},
	} {
		o, err := parseFlags(c.args)
		if err != nil {
			t.Fatalf("%q: %v", c.args, err)
		}
		if o.serverCPU != c.server || o.loadCPU != c.load || o.nodes != c.nodes {
			t.Errorf("%q: got server %q, load %q, nodes %d; want %q, %q, %d", c.args, o.serverCPU, o.loadCPU, o.nodes, c.server, c.load, c.nodes)
		}
	}
	for _, bad := range [][]string{{"-nodes", "-1", "emit"}, {"-nodes", "17", "emit"}, {"-nodes", "3"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q: got no error", bad)
		}
	}
}

func TestNum(t *testing.T) {
	for v, want := range map[float64]string{0.005: "0.005", 0.000833: "0.000833", 0.73: "0.73", 3: "3", 1580: "1580", 12.345: "12.35"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
}
