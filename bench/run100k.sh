#!/usr/bin/env bash
# 100,000 websocket connections (issue 10 part 3): six herald nodes on one Redis and one fresh
# PostgreSQL database, then six Node socket.io + @socket.io/redis-adapter processes on one Redis,
# the load tool in several processes (-per-proc) from 80 loopback source addresses.
#
#   bench/run100k.sh                       # the full run: about 10 minutes per server kind at most
#   N=6000 PER_PROC=1000 bench/run100k.sh  # a smoke run of the same pipeline
#
# Two side-by-side tables (bench/cmd/benchall -nodes):
#   1. fanout: memory per connection across the cluster (every node and Redis), then REPS
#      broadcasts to all N sockets: time to the last receiver, missing (must be 0);
#   2. emit: targeted emits to users spread over the nodes at the sustained rates RATES, STEP each:
#      delivered/s, p50/p99, lost, CPU per delivered event of the nodes plus Redis, messages each
#      node received from the others per delivered event.
#
# Settings (environment): N (100000), NODES (6), SERVERS (herald,node), PER_PROC (19000), REPS (3),
# RATES (5000,10000), STEP (10s), DEADLINE (4m: each load run ends by then, ramp included),
# RATE (connections opened per second, 2000), HERALD_BIN (default: built from ./cmd/herald).
# The kernel limits this needs are checked first (see bench/README.md, "100,000 connections");
# nothing here changes a sysctl.
set -euo pipefail
cd "$(dirname "$0")/.."

N=${N:-100000}
NODES=${NODES:-6}
SERVERS=${SERVERS:-herald,node}
PER_PROC=${PER_PROC:-19000}
REPS=${REPS:-3}
RATES=${RATES:-5000,10000}
STEP=${STEP:-10s}
DEADLINE=${DEADLINE:-4m}
RATE=${RATE:-2000}
SRC=127.0.0.2-127.0.0.81 # 80 source addresses (the load tool's default)
NSRC=80

fail() { echo "run100k: $*" >&2; exit 1; }

# Files: each node holds N/NODES sockets, each load tool process PER_PROC; both must stay under
# the 20,000 files a process may hold here.
per_node=$(( (N + NODES - 1) / NODES ))
(( per_node < 19900 )) || fail "$per_node sockets per node: more than a process may hold; raise NODES"
(( PER_PROC <= 19000 )) || fail "PER_PROC=$PER_PROC: at most 19,000 per load tool process"
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] || (( hard >= 20000 )) || fail "ulimit -Hn is $hard: 20,000 open files per process are needed"
ulimit -n 20000

# Ports: a connection bound to a source address takes a port of that address towards one node
# (IP_BIND_ADDRESS_NO_PORT), so each (source, node) pair needs N/(NSRC*NODES) of the ephemeral range.
read -r lo hi < /proc/sys/net/ipv4/ip_local_port_range
per_pair=$(( (N + NSRC * NODES - 1) / (NSRC * NODES) ))
(( hi - lo + 1 > 2 * per_pair )) || fail "net.ipv4.ip_local_port_range $lo-$hi is too small for $per_pair ports per source and node"
somaxconn=$(cat /proc/sys/net/core/somaxconn)
(( somaxconn >= 1024 )) || echo "run100k: warning: net.core.somaxconn is $somaxconn: bursts of handshakes may be refused (1024 or more advised)" >&2
if [[ -r /proc/sys/net/netfilter/nf_conntrack_max ]]; then
  ct=$(cat /proc/sys/net/netfilter/nf_conntrack_max)
  (( ct > 2 * N )) || echo "run100k: warning: net.netfilter.nf_conntrack_max is $ct: connections past it are dropped when loopback is tracked" >&2
fi
avail_mb=$(awk '/MemAvailable/ {print int($2/1024)}' /proc/meminfo)
echo "run100k: N=$N over $NODES nodes ($per_node each), load tool processes of $PER_PROC, sources $SRC;" \
  "ports $lo-$hi, somaxconn $somaxconn, ${avail_mb} MiB available" >&2

runner=(go run ./bench/cmd/benchall -nodes "$NODES" -servers "$SERVERS")
[[ -n ${HERALD_BIN:-} ]] && runner+=(-herald-bin "$HERALD_BIN")
common=(-n "$N" -rate "$RATE" -src "$SRC" -per-proc "$PER_PROC" -deadline "$DEADLINE" -connect-timeout 30s)

start=$(date +%s)
"${runner[@]}" fanout -- "${common[@]}" -reps "$REPS" -rep-timeout 60s -settle 5s
"${runner[@]}" emit -- "${common[@]}" -batch 20 -rates "$RATES" -step "$STEP" -keep-going -settle 5s
echo "run100k: done in $(( $(date +%s) - start ))s" >&2
