#!/usr/bin/env bash
# How far a server's throughput falls below the HTTP floor for a given CPU
# cost per request: runs `benches/cpu-per-op.sh` against ringstore and
# against the floor burning WORK nanoseconds per request (`floor
# --work-ns`), configurations interleaved, ROUNDS times. Reading: the floor
# row whose server µs/op matches ringstore's shows what that much work per
# request allows on this machine; the row at the goal's ratio shows how
# much work over bare HTTP the goal leaves (benches/README.md).
#   benches/work-sweep.sh <get|put> [SIZE]      ROUNDS (2), WORKS ("0 1000 2000 3000 4000 6000")
set -euo pipefail
cd "$(dirname "$0")/.."
WL=${1:?get or put}; SIZE=${2:-4KiB}
ROUNDS=${ROUNDS:-2}; WORKS=${WORKS:-0 1000 2000 3000 4000 6000}
for _ in $(seq "$ROUNDS"); do
  echo -n "ringstore    "; benches/cpu-per-op.sh s3 "$WL" "$SIZE"
  for w in $WORKS; do
    printf 'work %-6s  ' "$w"; benches/cpu-per-op.sh floor "$WL" "$SIZE" --work-ns "$w"
  done
done
