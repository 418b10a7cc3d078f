#!/usr/bin/env bash
# Time from `serve` start to "ready" on a fresh data dir, per binary, shard
# count and segment size (the first segment of each shard is created then).
# Usage: benches/startup-zerofill.sh NAME=BIN ...   (ROUNDS 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}; PORT=${PORT:-19602}; DATA=target/startup-data
for seg in 256 1024; do
  for shards in 1 2; do
    for round in $(seq "$ROUNDS"); do
      for spec in "$@"; do
        name=${spec%%=*}; bin=${spec#*=}
        rm -rf "$DATA"; sync
        t0=$(date +%s%N)
        RINGSTORE_ACCESS_KEY=AKSTARTUP RINGSTORE_SECRET_KEY=startup-secret-key RINGSTORE_LOG=warn \
          "$bin" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards "$shards" --segment-mib "$seg" \
          >/tmp/startup.out 2>&1 &
        pid=$!
        for _ in $(seq 2000); do grep -q '^ready' /tmp/startup.out 2>/dev/null && break; sleep 0.005; done
        t1=$(date +%s%N)
        kill "$pid"; wait "$pid" 2>/dev/null || true
        echo "$name segment_mib=$seg shards=$shards round=$round ready_ms=$(( (t1 - t0) / 1000000 ))"
      done
    done
  done
done
rm -rf "$DATA"
