#!/usr/bin/env bash
# What the durable-PUT goal asks of the machine: PUT 4 KiB against the HTTP
# floor, the durable floor (the floor plus the store's write path: data and
# commit records, group commit, index; `floor --durable-dir`), ringstore,
# and ringstore on a versioning-enabled bucket, alternating in one session
# (benches/cpu-per-op.sh each), ROUNDS times. Prints each run and the
# median ratios to the floor.
#   benches/durable-floor.sh [OUT_FILE]   ROUNDS (3), SIZE (4KiB), DURATION (5s)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-4KiB}
OUT=${1:-target/durable-floor.txt}
: >"$OUT"
for round in $(seq "$ROUNDS"); do
  {
    echo "floor          $(benches/cpu-per-op.sh floor put "$SIZE")"
    echo "durable-floor  $(benches/cpu-per-op.sh floor put "$SIZE" --durable-dir target/cpu-per-op-data)"
    echo "s3             $(benches/cpu-per-op.sh s3 put "$SIZE")"
    echo "s3-versioned   $(BENCH_ARGS="--versioning enabled" benches/cpu-per-op.sh s3 put "$SIZE")"
  } | tee -a "$OUT"
done
python3 - "$OUT" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name = line.split()[0]
    m = re.search(r"(\d+) ops/s", line)
    s = re.search(r"server\s+([\d.]+) us/op", line)
    runs.setdefault(name, []).append((float(m.group(1)), float(s.group(1))))
floor = statistics.median(r[0] for r in runs["floor"])
print(f"\nmedians of {len(runs['floor'])} rounds (ops/s, ratio to the floor, server us/op):")
for name, rs in runs.items():
    ops = statistics.median(r[0] for r in rs)
    cpu = statistics.median(r[1] for r in rs)
    print(f"  {name:14} {ops:9.0f}  {ops / floor:5.2f}x  {cpu:6.1f} us/op")
PY
