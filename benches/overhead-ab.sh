#!/usr/bin/env bash
# What a non-matching fault rule and rate limits that are not reached cost
# (issue 29: GET and PUT 4 KiB >= 0.97x the server without them), measured
# on ONE server process whose configuration is switched through the admin
# API between short runs, so the configurations alternate every few seconds
# (in reversed order every other round) and share the data dir, the warm
# cache and whatever else the machine is doing:
#   off      no fault rules, no rate limits (both back to their one check)
#   nomatch  fault rules that go through every match step for GetObject and
#            PutObject and match nothing (another bucket)
#   limits   named limits for the credential and the bucket (two kinds
#            checked per request), far above what the run reaches
# Besides ops/s it reads the server's CPU time (utime + stime in
# /proc/PID/stat, which keeps the time of exited io_uring workers; in clock
# ticks, 10 ms) around each run: server CPU per operation is much less
# disturbed by other processes than throughput on a shared machine.
# With RATE set, every run offers that many operations per second (bench
# --rate, open loop) instead of as many as it can: the server then does the
# same work at the same batching in every configuration, and its CPU per
# operation is the figure to compare (pair it with SERVE_ARGS="--idle-spin-us
# 0", or the idle spin of lightly loaded shards counts as CPU).
# benches/faults-overhead.sh is the restart-per-configuration form (and sets
# the prefix limit too, from the serve flags).
# Usage: benches/overhead-ab.sh [OUT_DIR]
#   BIN (target/release/ringstore), ROUNDS (10), DURATION (2s), CONC (32),
#   THREADS (2), SHARDS (2), RATE (unset: closed loop), SERVE_ARGS (""),
#   WORKLOADS ("put get")
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/ringstore}
OUT=${1:-target/overhead-ab}
ROUNDS=${ROUNDS:-10}
DURATION=${DURATION:-2s}
CONC=${CONC:-32}
THREADS=${THREADS:-2}
SHARDS=${SHARDS:-2}
PORT=${PORT:-19650}
WORKLOADS=${WORKLOADS:-put get}
export AWS_ACCESS_KEY_ID=RSBENCHACCESSKEY0001
export AWS_SECRET_ACCESS_KEY=ringstore/bench/secret/key/000000000000
BUCKET=ringstore-bench
mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.txt
DATA=target/overhead-ab-data
RULES='{"rules": [
 {"id": "nomatch-get", "match": {"operations": ["GetObject"], "buckets": ["no-such-bucket"], "key_prefix": "x/"},
  "probability": 0.5, "action": {"error": {"code": "SlowDown"}}},
 {"id": "nomatch-put", "match": {"operations": ["PutObject"], "buckets": ["no-such-bucket"]},
  "every": 2, "action": {"latency": {"p50_ms": 10, "p99_ms": 100}}}]}'
LIMITS="{\"credentials\": {\"$AWS_ACCESS_KEY_ID\": {\"requests_per_sec\": 1000000000, \"burst\": 1000000000}},
 \"buckets\": {\"$BUCKET\": {\"requests_per_sec\": 1000000000, \"burst\": 1000000000}}}"
SERVER_PID=
stop_server() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=
}
trap 'stop_server; rm -rf "$DATA"' EXIT

rm -rf "$DATA"
RINGSTORE_ACCESS_KEY=$AWS_ACCESS_KEY_ID RINGSTORE_SECRET_KEY=$AWS_SECRET_ACCESS_KEY RINGSTORE_LOG=warn \
  "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards "$SHARDS" ${SERVE_ARGS:-} \
  >"$OUT/server.out" 2>"$OUT/server.err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q '^ready' "$OUT/server.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$OUT/server.out" || { echo "server did not start" >&2; exit 1; }
KEY=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin_api_key"])' "$DATA/credentials.json")

admin() { # admin METHOD PATH [BODY]
  curl -sf -X "$1" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "http://127.0.0.1:$PORT/_admin/api/v1/$2" >/dev/null
}
configure() {
  case $1 in
    off) admin DELETE faults; admin DELETE rate-limits ;;
    nomatch) admin DELETE rate-limits; admin PUT faults "$RULES" ;;
    limits) admin DELETE faults; admin PUT rate-limits "$LIMITS" ;;
    *) echo "unknown config $1" >&2; exit 1 ;;
  esac
}
TICK_NS=$((1000000000 / $(getconf CLK_TCK)))
cpu_ns() { awk -v t="$TICK_NS" '{ printf "%.0f\n", ($14 + $15) * t }' /proc/"$SERVER_PID"/stat; }
bench() {
  "$BIN" bench --endpoint http://127.0.0.1:$PORT --bucket $BUCKET --size 4KiB --objects 1000 \
    -c "$CONC" --threads "$THREADS" "$@"
}
run() { # run NAME WORKLOAD
  local before after
  before=$(cpu_ns)
  bench --no-prepare --workload "$2" --duration "$DURATION" ${RATE:+--rate "$RATE"} \
    --json "$OUT/$1.json" >"$OUT/$1.txt" || true
  after=$(cpu_ns)
  echo "$1 $((after - before))" >>"$OUT/cpu.txt"
}

bench --workload get --ops 1 >/dev/null # creates the bucket and its 1000 objects
configs=(off nomatch limits)
for round in $(seq "$ROUNDS"); do
  order=("${configs[@]}")
  if ((round % 2 == 0)); then order=(limits nomatch off); fi
  for config in "${order[@]}"; do
    configure "$config"
    for wl in $WORKLOADS; do run "$config-$wl-r$round" "$wl"; done
  done
done
stop_server
python3 benches/overhead-ab-summary.py "$OUT" "$ROUNDS" $WORKLOADS
