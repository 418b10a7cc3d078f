#!/usr/bin/env bash
# A/B runs of durable PUTs for issue 6 (write path): each named binary in
# turn against a fresh `serve --shards 2`, ROUNDS times, alternating, so the
# figures compare as ratios measured in one session. Besides the bench
# report it records, from /proc, the server's io_uring worker threads
# (iou-wrk-*), context switches and the server's CPU time per operation
# over the run.
# Usage: benches/writepath.sh OUT_DIR NAME=BIN [NAME=BIN ...]
#   ROUNDS (2), DURATION (5s), OBJECTS (1000), SIZE (4KiB), CONC (32), THREADS (2),
#   SERVE_ARGS (extra serve args)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=$1; shift
ROUNDS=${ROUNDS:-2}; DURATION=${DURATION:-5s}; OBJECTS=${OBJECTS:-1000}
SIZE=${SIZE:-4KiB}; CONC=${CONC:-32}; THREADS=${THREADS:-2}; PORT=${PORT:-19600}
export AWS_ACCESS_KEY_ID=RSBENCHACCESSKEY0001
export AWS_SECRET_ACCESS_KEY=ringstore/bench/secret/key/000000000000
DATA=${DATA:-target/writepath-data}
mkdir -p "$OUT"
SERVER_PID=
stop_server() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=
}
trap stop_server EXIT

# Sums voluntary+involuntary context switches and counts iou-wrk threads of $1.
proc_sample() {
  local pid=$1 cs=0 wrk=0 wrk_ticks=0
  for t in /proc/$pid/task/*; do
    local comm; comm=$(cat "$t/comm" 2>/dev/null || true)
    local v n
    v=$(awk '/^voluntary_ctxt_switches/{print $2}' "$t/status" 2>/dev/null || echo 0)
    n=$(awk '/^nonvoluntary_ctxt_switches/{print $2}' "$t/status" 2>/dev/null || echo 0)
    cs=$((cs + ${v:-0} + ${n:-0}))
    if [[ $comm == iou-wrk* ]]; then
      wrk=$((wrk + 1))
      local ticks; ticks=$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null || echo 0)
      wrk_ticks=$((wrk_ticks + ${ticks:-0}))
    fi
  done
  echo "$cs $wrk $wrk_ticks"
}

for round in $(seq "$ROUNDS"); do
  for spec in "$@"; do
    name=${spec%%=*}; bin=${spec#*=}
    stop_server; rm -rf "$DATA"; rm -f "$OUT/server.out"
    t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    RINGSTORE_ACCESS_KEY=$AWS_ACCESS_KEY_ID RINGSTORE_SECRET_KEY=$AWS_SECRET_ACCESS_KEY RINGSTORE_LOG=warn \
      "$bin" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards 2 ${SERVE_ARGS:-} \
      >"$OUT/server.out" 2>>"$OUT/server.err" &
    SERVER_PID=$!
    for _ in $(seq 300); do grep -q '^ready' "$OUT/server.out" 2>/dev/null && break; sleep 0.02; done
    t1=$(date +%s.%N)
    read -r cs0 _ wt0 < <(proc_sample "$SERVER_PID")
    cpu0=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
    tag="$name-r$round"
    "$bin" bench --endpoint http://127.0.0.1:$PORT --workload put --size "$SIZE" --objects "$OBJECTS" \
      -c "$CONC" --threads "$THREADS" --duration "$DURATION" --json "$OUT/$tag.json" >"$OUT/$tag.txt" 2>&1 || true
    read -r cs1 wrk wt1 < <(proc_sample "$SERVER_PID")
    cpu1=$(awk '{print $14 + $15}' "/proc/$SERVER_PID/stat")
    ops=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['total_ops'])" "$OUT/$tag.json" 2>/dev/null || echo 0)
    # Server CPU (user + system, all threads) per operation, in microseconds.
    cpu_us=$(python3 -c "import sys,os; t,o=int(sys.argv[1]),int(sys.argv[2]); print(f'{t*1e6/os.sysconf(\"SC_CLK_TCK\")/o:.1f}' if o else 'n/a')" $((cpu1 - cpu0)) "$ops")
    printf 'startup_s %.3f\nserver_ctxt_switches %d\niou_wrk_threads %d\niou_wrk_cpu_ticks %d\nserver_cpu_us_per_op %s\n' \
      "$(echo "$t1 - $t0" | bc)" $((cs1 - cs0)) "$wrk" $((wt1 - wt0)) "$cpu_us" >>"$OUT/$tag.txt"
    echo "== $tag"; grep -E 'ops/s|p50|p99|startup|ctxt|iou|cpu_us' "$OUT/$tag.txt" | head -12
  done
done
stop_server
