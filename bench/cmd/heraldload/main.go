// Command heraldload is herald's load tool: see package herald/bench.
//
//	heraldload conns  -url http://127.0.0.1:3000 -n 10000 -hold 30s
//	heraldload fanout -url http://127.0.0.1:3000 -n 10000 -reps 5
//	heraldload emit   -url http://127.0.0.1:3000 -n 10000 -rates 5000,10000,20000
//	heraldload notify -url http://127.0.0.1:3000 -n 1000
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"herald/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench.Main(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "heraldload:", err)
		os.Exit(1)
	}
}
