#!/usr/bin/env bash
# CPU profile of herald during a fanout: what herald spends per receiver beyond the floor's write(2).
#
#   bench/profile.sh                      # herald with its defaults, 10,000 sockets
#   bench/profile.sh -- --presence=false  # herald flags after "--"
#   N=19900 SECONDS_PROFILED=10 bench/profile.sh
#
# Builds herald and the load tool, starts herald pinned to CPU 0 on 127.0.0.1:3450 with its pprof
# endpoints on 127.0.0.1:6060 (HERALD_PPROF), ramps N sockets with the load tool pinned to CPU 1,
# then broadcasts REPS times (300 ms apart) while it takes a pprof CPU profile and, when perf is
# installed and allowed, a perf profile with the kernel's side. It prints the top of both and leaves
# the files in OUT (default: a new temporary directory). Every process it starts is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-10000}
REPS=${REPS:-40}
SECONDS_PROFILED=${SECONDS_PROFILED:-8}
OUT=${OUT:-$(mktemp -d -t herald-profile-XXXXXX)}
[[ ${1:-} == "--" ]] && shift
export JWT_SECRET=bench-secret HERALD_API_KEY=bench-key CORS_ORIGIN=http://localhost:3000

go build -o "$OUT/herald" ./cmd/herald
go build -o "$OUT/heraldload" ./bench/cmd/heraldload
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT

HERALD_PPROF=127.0.0.1:6060 PORT=3450 taskset -c 0 "$OUT/herald" serve --db "$OUT/herald.db" "$@" \
	>"$OUT/herald.log" 2>&1 &
hp=$!
pids+=("$hp")
for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:3450/healthz && break; sleep 0.2; done

taskset -c 1 "$OUT/heraldload" fanout -url http://127.0.0.1:3450 -secret "$JWT_SECRET" -api-key "$HERALD_API_KEY" \
	-server-pid "$hp" -n "$N" -reps "$REPS" -pause 300ms -deadline 5m >"$OUT/load.txt" 2>&1 &
lp=$!
pids+=("$lp")
for _ in $(seq 300); do grep -q "rep 1:" "$OUT/load.txt" && break; sleep 1; done
if ! grep -q "rep 1:" "$OUT/load.txt"; then
	echo "no broadcast within 300 s; see $OUT/load.txt" >&2
	exit 1
fi

curl -s -o "$OUT/cpu.pprof" "http://127.0.0.1:6060/debug/pprof/profile?seconds=$SECONDS_PROFILED" &
cp=$!
pids+=("$cp")
if command -v perf >/dev/null; then
	timeout "$((SECONDS_PROFILED + 1))" perf record -F 2000 -g -p "$hp" -o "$OUT/perf.data" >/dev/null 2>&1 || true
fi
wait "$cp" || true
wait "$lp" || true

grep -E "server CPU|last receiver" "$OUT/load.txt" || true
go tool pprof -top -nodecount=25 "$OUT/herald" "$OUT/cpu.pprof" 2>/dev/null | sed -n '1,35p'
if [[ -s $OUT/perf.data ]]; then
	perf report -i "$OUT/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep '%' | head -4
	perf report -i "$OUT/perf.data" --no-children --sort sym --stdio -g none 2>/dev/null | grep '\[\.\]' | head -12
	echo "hot instructions: perf annotate -i $OUT/perf.data --stdio -s '<symbol>'"
fi
echo "files in $OUT"
