// Command herald is the herald notification gateway: `herald serve` runs
// it; `token`, `notify` and `bench` help develop and measure against it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

const usage = `herald — a real-time notification gateway speaking Socket.IO v4

Usage:
  herald serve  [flags]   run the gateway (PORT, JWT_SECRET, CORS_ORIGIN, HERALD_API_KEY, ...)
  herald token  [flags]   mint a JWT signed with JWT_SECRET (for development and tests)
  herald notify [flags]   create a notification through the HTTP API
  herald bench  [flags]   run a load scenario against a server (see bench/)
  herald store copy --from herald.db --to postgres://...
                          move the SQLite store's notifications to PostgreSQL (resumable)

Run 'herald <command> -h' for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		err = runServe(ctx, args)
	case "token":
		err = runToken(args, os.Stdout)
	case "notify":
		err = runNotify(ctx, args, os.Stdout)
	case "bench":
		err = runBench(ctx, args)
	case "store":
		err = runStore(ctx, args, os.Stdout)
	case "-h", "--help", "help":
		fmt.Print(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "herald: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

// env returns the environment variable key, or def when it is unset or empty.
func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
