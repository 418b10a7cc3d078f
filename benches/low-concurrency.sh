#!/usr/bin/env bash
# Latency at low concurrency (1–4 connections), where a request's time is
# mostly wake-ups: each configuration is a fresh server, the rounds
# alternate the configurations, and each line is `ringstore bench`'s summary.
#
#   benches/low-concurrency.sh [OUT_FILE]
#   ROUNDS (3), WORKLOADS ("get put"), SIZE (4KiB), CONNS ("1 2 4"),
#   CONFIGS ("2:0 2:200 1:0 1:200": shards:idle-spin-us), DURATION (4s),
#   BIN (target/release/ringstore)
# Columns: shards, spin, connections, then op, ops, ops/s, MB/s, p50, p90,
# p99, p99.9, max (ms), and the server's CPU seconds over the run.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/ringstore}
OUT=${1:-/dev/stdout}
ROUNDS=${ROUNDS:-3}; SIZE=${SIZE:-4KiB}; DURATION=${DURATION:-4s}
read -r -a WORKLOADS <<<"${WORKLOADS:-get put}"
read -r -a CONNS <<<"${CONNS:-1 2 4}"
read -r -a CONFIGS <<<"${CONFIGS:-2:0 2:200 1:0 1:200}"
PORT=${PORT:-19705}
export AWS_ACCESS_KEY_ID=RSBENCHACCESSKEY0001
export AWS_SECRET_ACCESS_KEY=ringstore/bench/secret/key/000000000000
DATA=target/low-concurrency-data
SERVER=""
trap '[[ -n $SERVER ]] && kill $SERVER 2>/dev/null; rm -rf "$DATA"' EXIT
[[ -x $BIN ]] || cargo build --release --bin ringstore

one() { # one SHARDS SPIN WORKLOAD CONNS
  local shards=$1 spin=$2 wl=$3 c=$4 threads=1 prep=()
  rm -rf "$DATA"
  RINGSTORE_ACCESS_KEY=$AWS_ACCESS_KEY_ID RINGSTORE_SECRET_KEY=$AWS_SECRET_ACCESS_KEY RINGSTORE_LOG=warn \
    "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards "$shards" \
    --idle-spin-us "$spin" >"$DATA.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do grep -q '^ready' "$DATA.log" 2>/dev/null && break; sleep 0.05; done
  ((c > 1)) && threads=2
  local common=(--endpoint http://127.0.0.1:$PORT --size "$SIZE" --objects 100 -c "$c" --threads $threads)
  if [[ $wl == get ]]; then
    "$BIN" bench "${common[@]}" --presign-only >/dev/null
    prep=(--no-prepare)
  fi
  local line
  line=$("$BIN" bench "${common[@]}" "${prep[@]}" --workload "$wl" --duration "$DURATION" |
    grep -E '^(GET|PUT) ')
  local ticks
  ticks=$(awk '{print $14+$15}' /proc/$SERVER/stat)
  kill $SERVER; wait $SERVER 2>/dev/null || true; SERVER=""
  printf 'shards=%s spin=%-4s c=%s %s cpu_s=%s\n' "$shards" "$spin" "$c" "$line" \
    "$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')"
}

{
  echo "# $(date -u +%FT%TZ) $(uname -r) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs) nproc=$(nproc) size=$SIZE duration=$DURATION"
  for round in $(seq "$ROUNDS"); do
    echo "# round $round"
    for wl in "${WORKLOADS[@]}"; do
      for c in "${CONNS[@]}"; do
        for cfg in "${CONFIGS[@]}"; do
          one "${cfg%%:*}" "${cfg##*:}" "$wl" "$c"
        done
      done
    done
  done
} | tee "$OUT"
