#!/usr/bin/env bash
# Runs the load-generator matrix against ringstore and the HTTP floor, one
# configuration after another in one session, so the figures are comparable
# as ratios. Usage: benches/loadgen.sh [OUT_DIR]
#   CONFIGS   space-separated subset of: s3-2 floor-2 s3-1 floor-1 dfloor-2 s3-2-buffered s3-2-nopin
#             s3-2-seg16 s3-2-seg1024 s3-2-nocache s3-2-nomd5batch
#             (default: the first six and nocache)
#   DURATION  per workload (default 5s); CONC (32); THREADS (2)
#   ROUNDS    repeat the whole matrix, configurations interleaved (default 1);
#             with more than one, result names get -rN and the summary
#             reports medians and the goal ratios per round
#   LIMITS    a benches/limits.sh output to judge the 1 MiB goals against
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/ringstore}
OUT=${1:-target/loadgen}
DURATION=${DURATION:-5s}
CONC=${CONC:-32}
THREADS=${THREADS:-2}
PORT=${PORT:-19500}
CONFIGS=${CONFIGS:-"s3-2 floor-2 s3-1 floor-1 s3-2-buffered s3-2-nopin s3-2-nocache"}
export AWS_ACCESS_KEY_ID=RSBENCHACCESSKEY0001
export AWS_SECRET_ACCESS_KEY=ringstore/bench/secret/key/000000000000
mkdir -p "$OUT"
DATA=target/loadgen-data
SERVER_PID=

stop_server() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=
}
# The data dir goes too: a PUT run leaves gigabytes of log behind.
trap 'stop_server; rm -rf "$DATA"' EXIT

start() { # start <mode> <shards> [extra args...]
  local mode=$1 shards=$2; shift 2
  stop_server
  rm -rf "$DATA"
  rm -f "$OUT/server.out"   # else the wait below may see the previous server's "ready"
  if [[ $mode == s3 ]]; then
    RINGSTORE_ACCESS_KEY=$AWS_ACCESS_KEY_ID RINGSTORE_SECRET_KEY=$AWS_SECRET_ACCESS_KEY RINGSTORE_LOG=warn \
      "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards "$shards" "$@" \
      >"$OUT/server.out" 2>>"$OUT/server.err" &
  else
    "$BIN" floor --listen 127.0.0.1:$PORT --shards "$shards" "$@" >"$OUT/server.out" 2>>"$OUT/server.err" &
  fi
  SERVER_PID=$!
  for _ in $(seq 100); do grep -q '^ready' "$OUT/server.out" 2>/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; exit 1
}

ROUNDS=${ROUNDS:-1}
SUFFIX=

run() { # run <name> <workload> <size> [extra bench args...]
  local name=$1$SUFFIX wl=$2 size=$3; shift 3
  local objects=1000; [[ $size == 1MiB ]] && objects=200
  "$BIN" bench --endpoint http://127.0.0.1:$PORT --workload "$wl" --size "$size" --objects $objects \
    -c "$CONC" --threads "$THREADS" --duration "$DURATION" --json "$OUT/$name.json" "$@" \
    | tee "$OUT/$name.txt" || true
}

s3_matrix() { # s3_matrix <tag> <shards> [serve args...]
  local tag=$1 shards=$2; shift 2
  for size in 4KiB 1MiB; do
    start s3 "$shards" "$@"
    run "$tag-put-$size" put "$size"
    run "$tag-get-$size" get "$size"   # pre-populates its objects first
  done
}

floor_matrix() { # floor_matrix <tag> <shards>
  local tag=$1 shards=$2
  for size in 4KiB 1MiB; do
    start floor "$shards" --get-bytes "$size"
    run "$tag-put-$size" put "$size" --no-prepare
    run "$tag-get-$size" get "$size" --no-prepare
  done
}

durable_floor() { # durable_floor <tag> <shards>: the floor committing PUT 4 KiB bodies
  local tag=$1 shards=$2
  start floor "$shards" --get-bytes 4KiB --durable-dir "$DATA"
  run "$tag-put-4KiB" put 4KiB --no-prepare
}

for round in $(seq "$ROUNDS"); do
[[ $ROUNDS -gt 1 ]] && SUFFIX=-r$round
for c in $CONFIGS; do
  case $c in
    s3-2) s3_matrix s3-2 2 ;;
    s3-1) s3_matrix s3-1 1 ;;
    floor-2) floor_matrix floor-2 2 ;;
    floor-1) floor_matrix floor-1 1 ;;
    dfloor-2) durable_floor dfloor-2 2 ;;
    s3-2-buffered) s3_matrix s3-2-buffered 2 --no-direct-io ;;
    s3-2-nopin) s3_matrix s3-2-nopin 2 --no-pin ;;
    s3-2-seg16) s3_matrix s3-2-seg16 2 --segment-mib 16 ;;
    s3-2-seg1024) s3_matrix s3-2-seg1024 2 --segment-mib 1024 ;;
    s3-2-nocache) s3_matrix s3-2-nocache 2 --cache-mib 0 ;;
    s3-2-nomd5batch) s3_matrix s3-2-nomd5batch 2 --no-md5-batch ;;
    *) echo "unknown config $c" >&2; exit 2 ;;
  esac
done
done
stop_server
python3 benches/summarize.py "$OUT" ${LIMITS:+"$LIMITS"}
