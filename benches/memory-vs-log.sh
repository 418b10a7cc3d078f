#!/usr/bin/env bash
# The memory backend's PUT (and GET) 4 KiB beside the log store's (issue
# 29: "the memory backend's PUT 4 KiB beside the log store's"), the two
# servers alternating within each round, so the ratio is from one run:
#   log     serve (the log on disk, O_DIRECT, group commit)
#   memory  serve --memory (the same log, in memory; no durability)
# Any other configuration can stand in for the second: B_NAME and B_ARGS
# (e.g. B_NAME=disk-index B_ARGS="--index disk": the on-disk index beside
# the in-memory one, issue 23).
# Usage: benches/memory-vs-log.sh [OUT_DIR]
#   BIN (target/release/ringstore), ROUNDS (3), DURATION (5s), CONC (32),
#   THREADS (2), SHARDS (2), B_NAME (memory), B_ARGS (--memory)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/ringstore}
OUT=${1:-target/memory-vs-log}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONC=${CONC:-32}
THREADS=${THREADS:-2}
SHARDS=${SHARDS:-2}
B_NAME=${B_NAME:-memory}
B_ARGS=${B_ARGS:---memory}
PORT=${PORT:-19700}
export AWS_ACCESS_KEY_ID=RSBENCHACCESSKEY0001
export AWS_SECRET_ACCESS_KEY=ringstore/bench/secret/key/000000000000
mkdir -p "$OUT"
DATA=target/memory-vs-log-data
SERVER_PID=
stop_server() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=
}
trap 'stop_server; rm -rf "$DATA"' EXIT

start() { # start [serve args...]
  stop_server
  rm -rf "$DATA" "$OUT/server.out"
  RINGSTORE_ACCESS_KEY=$AWS_ACCESS_KEY_ID RINGSTORE_SECRET_KEY=$AWS_SECRET_ACCESS_KEY RINGSTORE_LOG=warn \
    "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards "$SHARDS" "$@" \
    >"$OUT/server.out" 2>>"$OUT/server.err" &
  SERVER_PID=$!
  for _ in $(seq 100); do grep -q '^ready' "$OUT/server.out" 2>/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; exit 1
}

run() { # run <name> <workload>
  "$BIN" bench --endpoint http://127.0.0.1:$PORT --workload "$2" --size 4KiB --objects 1000 \
    -c "$CONC" --threads "$THREADS" --duration "$DURATION" --json "$OUT/$1.json" >"$OUT/$1.txt" || true
}

for round in $(seq "$ROUNDS"); do
  for config in log "$B_NAME"; do
    # shellcheck disable=SC2086 # B_ARGS is a list of arguments
    if [[ $config == log ]]; then start; else start $B_ARGS; fi
    run "$config-put-r$round" put
    run "$config-get-r$round" get
  done
done
stop_server
python3 - "$OUT" "$ROUNDS" "$B_NAME" <<'EOF'
import json, statistics, sys
out, rounds, b = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def ops(name):
    r = json.load(open(f"{out}/{name}.json"))
    assert r["error_count"] == 0, (name, r["errors"])
    return sum(s["ops_per_sec"] for s in r["operations"].values())
print(f"| workload | round | log ops/s | {b} ops/s | {b} / log |")
print("|---|---:|---:|---:|---:|")
for wl in ("put", "get"):
    ratios = []
    for n in range(1, rounds + 1):
        log, mem = ops(f"log-{wl}-r{n}"), ops(f"{b}-{wl}-r{n}")
        ratios.append(mem / log)
        print(f"| {wl} 4 KiB | {n} | {log:.0f} | {mem:.0f} | {mem / log:.2f} |")
    print(f"| {wl} 4 KiB | median | | | **{statistics.median(ratios):.2f}** |")
EOF
