#!/usr/bin/env bash
# Records the ringstore server under a load-generator workload with
# `perf record -e cpu-clock` (no hardware counters on these machines) and
# renders an SVG flame graph with inferno.
#
#   flamegraphs/record.sh <put|get> <size> [seconds]      e.g. get 4KiB 8
#   MODE=durable-floor flamegraphs/record.sh put 4KiB    the durable floor
#     (`floor --durable-dir`: bare HTTP plus the store's write path)
#   MODE=floor flamegraphs/record.sh get 4KiB            the HTTP floor itself
#
# Output: flamegraphs/<workload>-<size>.svg (and .folded next to it).
# Needs: perf (apt-get install -y linux-perf), inferno (cargo install inferno).
# Stacks are unwound with DWARF (the release profile keeps line tables;
# frame pointers are not forced on), hence --call-graph dwarf rather than fp.
set -euo pipefail
cd "$(dirname "$0")/.."
WORKLOAD=${1:?workload: put or get}
SIZE=${2:?size, e.g. 4KiB}
SECS=${3:-8}
SHARDS=${SHARDS:-2}
PORT=${PORT:-19600}
FREQ=${FREQ:-499}
MODE=${MODE:-s3}
OUT=flamegraphs/${WORKLOAD}-${SIZE}
[[ $MODE != s3 ]] && OUT=flamegraphs/${MODE}-${WORKLOAD}-${SIZE}
PERF=${PERF:-$(command -v perf || ls /usr/bin/perf_* 2>/dev/null | head -1)}
[[ -x "$PERF" ]] || { echo "perf not found: apt-get install -y linux-perf" >&2; exit 1; }
command -v inferno-flamegraph >/dev/null || { echo "cargo install inferno" >&2; exit 1; }

cargo build --release --bin ringstore
BIN=target/release/ringstore
DATA=target/flamegraph-data
export AWS_ACCESS_KEY_ID=RSBENCHACCESSKEY0001
export AWS_SECRET_ACCESS_KEY=ringstore/bench/secret/key/000000000000
rm -rf "$DATA"
if [[ $MODE == durable-floor ]]; then
  "$BIN" floor --listen 127.0.0.1:$PORT --shards "$SHARDS" --get-bytes "$SIZE" --durable-dir "$DATA" \
    >"$OUT.server.out" 2>&1 &
elif [[ $MODE == floor ]]; then
  "$BIN" floor --listen 127.0.0.1:$PORT --shards "$SHARDS" --get-bytes "$SIZE" >"$OUT.server.out" 2>&1 &
else
  RINGSTORE_ACCESS_KEY=$AWS_ACCESS_KEY_ID RINGSTORE_SECRET_KEY=$AWS_SECRET_ACCESS_KEY RINGSTORE_LOG=warn \
    "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards "$SHARDS" >"$OUT.server.out" 2>&1 &
fi
SERVER=$!
# The data dir goes too: a PUT run leaves gigabytes of log behind.
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do grep -q '^ready' "$OUT.server.out" && break; sleep 0.1; done

OBJECTS=1000; [[ $SIZE == 1MiB ]] && OBJECTS=200
COMMON=(--endpoint http://127.0.0.1:$PORT --size "$SIZE" --objects $OBJECTS -c 32 --threads 2)
# Populate first (presign-only prepares like a run and exits), so perf sees only the load.
if [[ $MODE != s3 ]]; then
  COMMON+=(--no-sign)
else
  "$BIN" bench "${COMMON[@]}" --workload "$WORKLOAD" --presign-only >/dev/null
fi

"$PERF" record -e cpu-clock -F "$FREQ" --call-graph dwarf,16384 -p $SERVER -o "$OUT.perf.data" -- sleep "$SECS" \
  2>"$OUT.perf.log" &
PERF_PID=$!
"$BIN" bench "${COMMON[@]}" --workload "$WORKLOAD" --no-prepare --duration "${SECS}s" | tee "$OUT.bench.txt"
wait $PERF_PID || true
"$PERF" script -i "$OUT.perf.data" 2>/dev/null | inferno-collapse-perf >"$OUT.folded"
inferno-flamegraph --title "ringstore $MODE $WORKLOAD $SIZE (server, cpu-clock, ${SHARDS} shards, c=32)" \
  <"$OUT.folded" >"$OUT.svg"
rm -f "$OUT.perf.data" "$OUT.server.out" "$OUT.perf.log"
echo "wrote $OUT.svg"
