#!/usr/bin/env bash
# CPU per operation of the server and of the load generator, from /proc and
# /usr/bin/time around one `ringstore bench` run, plus the server's context
# switches and the disk's writes and bytes written per operation. A
# noise-robust way to compare two builds: run it alternately for each.
#   benches/cpu-per-op.sh <s3|floor> <put|get> <SIZE> [serve or floor args...]
#   BIN (target/release/ringstore), SHARDS (2), DURATION (5s), DISK (vda),
#   BENCH_ARGS (extra load generator arguments, e.g. "--sse s3"), CONNS (32)
# An s3 run also reports the MD5 lanes busy per vector step (the shard's
# batcher metrics; 16 is full) and the share of blocks hashed alone.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/ringstore}
MODE=${1:?s3 or floor}; WL=${2:?put or get}; SIZE=${3:?size, e.g. 4KiB}; shift 3
SHARDS=${SHARDS:-2}; DURATION=${DURATION:-5s}; DISK=${DISK:-vda}; PORT=${PORT:-19650}
export AWS_ACCESS_KEY_ID=RSBENCHACCESSKEY0001
export AWS_SECRET_ACCESS_KEY=ringstore/bench/secret/key/000000000000
DATA=target/cpu-per-op-data; OUT=target/cpu-per-op; mkdir -p "$OUT"; rm -rf "$DATA"
if [[ $MODE == s3 ]]; then
  RINGSTORE_ACCESS_KEY=$AWS_ACCESS_KEY_ID RINGSTORE_SECRET_KEY=$AWS_SECRET_ACCESS_KEY RINGSTORE_LOG=warn \
    "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards "$SHARDS" --internal-metrics "$@" >"$OUT/server.out" 2>&1 &
else
  "$BIN" floor --listen 127.0.0.1:$PORT --shards "$SHARDS" --get-bytes "$SIZE" "$@" >"$OUT/server.out" 2>&1 &
fi
SERVER=$!
# The data dir goes too: a PUT run leaves gigabytes of log behind.
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do grep -q '^ready' "$OUT/server.out" 2>/dev/null && break; sleep 0.05; done
OBJECTS=1000; [[ $SIZE == 1MiB ]] && OBJECTS=200
COMMON=(--endpoint http://127.0.0.1:$PORT --workload "$WL" --size "$SIZE" --objects $OBJECTS -c "${CONNS:-32}" --threads 2)
read -r -a EXTRA <<<"${BENCH_ARGS:-}"
COMMON+=("${EXTRA[@]}")
PREP=()
if [[ $MODE == floor ]]; then PREP=(--no-prepare)
elif [[ $WL != put ]]; then "$BIN" bench "${COMMON[@]}" --presign-only >/dev/null; PREP=(--no-prepare); fi

snapshot() { # server CPU ticks, disk writes, disk sectors written, server context switches
  echo "$(awk '{print $14+$15}' /proc/$SERVER/stat) \
$(awk -v d="$DISK" '$3==d{print $8, $10}' /proc/diskstats) \
$(cat /proc/$SERVER/task/*/status | awk '/ctxt_switches/{s+=$2} END {print s}')"
}
read -r t1 w1 s1 c1 <<<"$(snapshot)"
/usr/bin/time -f "%U %S %w %c" -o "$OUT/client.time" "$BIN" bench "${COMMON[@]}" "${PREP[@]}" \
  --duration "$DURATION" --json "$OUT/bench.json" >"$OUT/bench.txt"
read -r t2 w2 s2 c2 <<<"$(snapshot)"
LANES=""
if [[ $MODE == s3 ]]; then
  LANES=$(curl -s http://127.0.0.1:$PORT/_admin/metrics | awk '/^ringstore_md5_steps_total/{s+=$2}
    /^ringstore_md5_blocks_total/{b+=$2} /^ringstore_md5_alone_blocks_total/{a+=$2}
    END {if (s > 0) printf "  md5 lanes %.2f alone %.3f", b/s, a/b}')
fi
LANES=$LANES python3 - "$MODE" "$WL" "$SIZE" $((t2 - t1)) $((w2 - w1)) $((s2 - s1)) $((c2 - c1)) "$OUT" <<'PY'
import json, os, sys
mode, wl, size = sys.argv[1:4]
ticks, writes, sectors, switches = map(int, sys.argv[4:8])
out = sys.argv[8]
r = json.load(open(f"{out}/bench.json"))
ops = r["total_ops"]
user, system, cw, ci = map(float, open(f"{out}/client.time").read().split()[-4:])
hz = os.sysconf("SC_CLK_TCK")
label = mode + ("+" + os.environ["BENCH_ARGS"].replace("--", "").replace(" ", "=") if os.environ.get("BENCH_ARGS") else "")
print(f"{label:5} {wl:4} {size:5} {ops / r['elapsed_secs']:9.0f} ops/s  "
      f"server {ticks / hz * 1e6 / ops:7.1f} us/op  client {(user + system) * 1e6 / ops:7.1f} us/op  "
      f"errors {r['error_count']}  disk writes/op {writes / ops:.3f}  "
      f"disk KB/op {sectors * 512 / 1000 / ops:.1f}  server ctxsw/op {switches / ops:.3f}  "
      f"client ctxsw/op {(cw + ci) / ops:.3f}{os.environ.get('LANES', '')}")
PY
