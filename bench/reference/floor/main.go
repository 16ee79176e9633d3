// Command floor is the lower bound of herald's broadcast benchmark: a server that speaks just
// enough Engine.IO and Socket.IO for the load tool (bench/) and, on POST /v1/emit, builds the
// websocket frame once and writes it to every target socket with one write(2) each. It has no
// queues, rooms, presence, store or heartbeat timers; a socket whose send buffer does not take a
// whole frame is closed. What it costs per receiver is what the kernel costs on this machine, so
// no server can broadcast cheaper here, and what herald costs beyond it is herald's own.
//
// The contract is bench/README.md's, websocket only: GET /socket.io/?EIO=4&transport=websocket,
// CONNECT `40{"token":"<jwt>"}` with an HS256 JWT signed with JWT_SECRET (its sub is the user),
// `authenticated`, an Engine.IO ping every 25 s (pongs are read and ignored), POST /v1/emit with
// userId, userIds, room user:<id> or broadcast: true (API key HERALD_API_KEY), GET /v1/stats and
// GET /healthz. It listens on HOST (default 127.0.0.1) and PORT (default 3000). Linux only: it
// reads its sockets from an epoll set of its own.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
