package main

import (
	"context"
	"os"

	"herald/bench"
)

// runBench runs the load tool (package bench) against a server. Its
// arguments are the tail of os.Args so that it can re-run itself as
// worker processes (`herald bench -worker ...`).
func runBench(ctx context.Context, args []string) error {
	return bench.Main(ctx, args, os.Stdout, os.Stderr)
}
