#!/usr/bin/env bash
# GET through a presigned URL with wrk (a client the project did not write),
# next to `ringstore bench` on the same server and objects, one after the other.
#   benches/wrk.sh [SIZE] [SHARDS]     (apt-get install -y wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-4KiB}
SHARDS=${2:-2}
BIN=${BIN:-target/release/ringstore}
PORT=${PORT:-19700}
DATA=target/wrk-data
export AWS_ACCESS_KEY_ID=RSBENCHACCESSKEY0001
export AWS_SECRET_ACCESS_KEY=ringstore/bench/secret/key/000000000000
rm -rf "$DATA" target/wrk-server.out
RINGSTORE_ACCESS_KEY=$AWS_ACCESS_KEY_ID RINGSTORE_SECRET_KEY=$AWS_SECRET_ACCESS_KEY RINGSTORE_LOG=warn \
  "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards "$SHARDS" "${@:3}" >target/wrk-server.out 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '^ready' target/wrk-server.out 2>/dev/null && break; sleep 0.1; done
COMMON=(--endpoint http://127.0.0.1:$PORT --size "$SIZE" --objects 100 --workload get)
# Every wrk request fetches the same object (the first); the generator picks among 100.
URL=$("$BIN" bench "${COMMON[@]}" --presign-only)
echo "== wrk -t2 -c32 -d10s GET $SIZE (presigned)"
wrk -t2 -c32 -d10s --latency "$URL"
echo "== ringstore bench -c32 --threads 2 --duration 10s GET $SIZE"
"$BIN" bench "${COMMON[@]}" --no-prepare -c 32 --threads 2 --duration 10s
