#!/usr/bin/env bash
# Side-by-side benchmark: herald against the reference servers, one scenario per run.
#
#   bench/run.sh conns  -- -n 10000 -hold 30s
#   bench/run.sh fanout -- -n 10000 -reps 5
#   bench/run.sh emit   -- -n 10000
#   bench/run.sh -servers node,zishang conns -- -n 2000
#   bench/run.sh -servers herald,herald-nopresence,floor,node fanout -- -n 10000 -reps 5
#   bench/run.sh -nodes 3 -servers herald,node emit -- -n 10000 -batch 1   # clusters (bench/README.md)
#
# Servers: herald (its defaults), herald-nopresence, floor, node, zishang (default: herald,floor,
# node,zishang). Flags before the scenario go to the runner (bench/cmd/benchall: -servers,
# -baseline, -port, -server-cpu, -load-cpu, -herald-bin, -herald-args, -database-url, -nodes, -pg-url,
# -keep-logs, -json); flags
# after "--" go to the load tool (heraldload). With DATABASE_URL set (or -database-url), herald runs
# on that PostgreSQL instead of SQLite:
# DATABASE_URL="postgres://postgres@127.0.0.1:5432/test?search_path=bench1" bench/run.sh notify. The runner installs the Node reference (npm ci),
# builds herald, the floor, the Go reference and the load tool, starts each server fresh pinned to
# CPU 0, runs the load tool pinned to CPU 1 and prints one table with each server's figures and
# their ratio to the baseline's (herald's by default).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./bench/cmd/benchall "$@"
