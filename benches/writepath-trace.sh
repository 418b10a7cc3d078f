#!/usr/bin/env bash
# Counts, during a short durable PUT run against a fresh 2-shard server, the
# io_uring requests punted to io-wq worker threads (by opcode), ext4
# unwritten-extent conversions and jbd2 journal commits.
# Usage: benches/writepath-trace.sh BIN OUT_FILE   (DURATION 3s, OBJECTS 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1; OUTF=$2; DURATION=${DURATION:-3s}; OBJECTS=${OBJECTS:-1000}; PORT=${PORT:-19601}
export AWS_ACCESS_KEY_ID=RSBENCHACCESSKEY0001
export AWS_SECRET_ACCESS_KEY=ringstore/bench/secret/key/000000000000
DATA=target/writepath-trace-data
rm -rf "$DATA"
RINGSTORE_ACCESS_KEY=$AWS_ACCESS_KEY_ID RINGSTORE_SECRET_KEY=$AWS_SECRET_ACCESS_KEY RINGSTORE_LOG=warn \
  "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards 2 >/tmp/wp-trace-server.out 2>&1 &
SPID=$!
trap 'kill $SPID 2>/dev/null || true' EXIT
for _ in $(seq 300); do grep -q '^ready' /tmp/wp-trace-server.out 2>/dev/null && break; sleep 0.02; done
perf record -q -a -o /tmp/wp-trace.data \
  -e io_uring:io_uring_queue_async_work -e io_uring:io_uring_submit_req \
  -e ext4:ext4_ext_handle_unwritten_extents -e jbd2:jbd2_commit_locking -e ext4:ext4_sync_file_enter \
  -- "$BIN" bench --endpoint http://127.0.0.1:$PORT --workload put --size 4KiB --objects "$OBJECTS" \
     -c 32 --threads 2 --duration "$DURATION" >"$OUTF" 2>&1 || true
{
  echo "--- io_uring submissions by opcode (server process only)"
  perf script -i /tmp/wp-trace.data -F comm,event,trace 2>/dev/null | awk '/io_uring_submit_req/' \
    | grep -v bench | grep -o 'opcode [A-Z_]*' | sort | uniq -c
  echo "--- punted to io-wq (io_uring_queue_async_work) by opcode"
  perf script -i /tmp/wp-trace.data -F comm,event,trace 2>/dev/null | awk '/queue_async_work/' \
    | grep -o 'opcode [A-Z_]*' | sort | uniq -c
  echo "--- ext4 unwritten-extent handling, jbd2 commits, fdatasyncs (whole system)"
  perf script -i /tmp/wp-trace.data -F event 2>/dev/null | sort | uniq -c | grep -E "unwritten|jbd2|sync_file"
} >>"$OUTF"
cat "$OUTF"
