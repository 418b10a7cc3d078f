#!/usr/bin/env bash
# GET and PUT through presigned URLs with wrk (a client the project did not
# write), each beside `ringstore bench` on the same server, one after the other.
#   benches/wrk.sh [SIZE] [SHARDS] [serve args...]     (apt-get install -y wrk)
# SIGN_BIN: the binary that prepares objects and presigns (default: BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-4KiB}
SHARDS=${2:-2}
BIN=${BIN:-target/release/ringstore}
SIGN_BIN=${SIGN_BIN:-$BIN}
PORT=${PORT:-19700}
DATA=target/wrk-data
export AWS_ACCESS_KEY_ID=RSBENCHACCESSKEY0001
export AWS_SECRET_ACCESS_KEY=ringstore/bench/secret/key/000000000000
rm -rf "$DATA" target/wrk-server.out
RINGSTORE_ACCESS_KEY=$AWS_ACCESS_KEY_ID RINGSTORE_SECRET_KEY=$AWS_SECRET_ACCESS_KEY RINGSTORE_LOG=warn \
  "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards "$SHARDS" "${@:3}" >target/wrk-server.out 2>&1 &
SERVER=$!
# The data dir goes too: a PUT run leaves gigabytes of log behind.
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do grep -q '^ready' target/wrk-server.out 2>/dev/null && break; sleep 0.1; done
COMMON=(--endpoint http://127.0.0.1:$PORT --size "$SIZE" --objects 100)
BYTES=$(python3 -c "import sys;u={'k':1<<10,'m':1<<20};s=sys.argv[1].lower().replace('ib','');print(int(s[:-1])*u[s[-1]] if s[-1] in u else int(s))" "$SIZE")

# Every wrk request fetches (or overwrites) the same object, the first; the generator picks among 100.
GET_URL=$("$SIGN_BIN" bench "${COMMON[@]}" --workload get --presign-only)
echo "== wrk -t2 -c32 -d10s GET $SIZE (presigned)"
wrk -t2 -c32 -d10s --latency "$GET_URL"
echo "== ringstore bench -c32 --threads 2 --duration 10s GET $SIZE"
"$BIN" bench "${COMMON[@]}" --workload get --no-prepare -c 32 --threads 2 --duration 10s

PUT_URL=$("$SIGN_BIN" bench "${COMMON[@]}" --no-prepare --presign-only --presign-method PUT)
echo "== wrk -t2 -c32 -d10s PUT $SIZE (presigned, one key overwritten)"
WRK_BODY_BYTES=$BYTES wrk -t2 -c32 -d10s --latency -s benches/wrk-put.lua "$PUT_URL"
echo "== ringstore bench -c32 --threads 2 --duration 10s PUT $SIZE"
"$BIN" bench "${COMMON[@]}" --workload put --no-prepare -c 32 --threads 2 --duration 10s
