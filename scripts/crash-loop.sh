#!/usr/bin/env bash
# Long crash-loop runs: a real server under concurrent PUT/DELETE, multipart
# (create, parts, complete/abort), versioned, and bucket-delete load (writes
# racing DeleteBucket/CreateBucket of their bucket) is killed with SIGKILL at
# a seeded random moment, restarted, and every acknowledged object, upload
# and part is checked (tests/durability.rs, tests/crash_mp/,
# tests/crash_versions/, tests/bucket_race/), then
# optionally the simulated power-cut test over many seeds (src/store/tests.rs).
#
#   scripts/crash-loop.sh [--cycles N] [--seed S] [--power-seeds M]
#
# Defaults: 1000 kill -9 cycles, seed from the clock (printed, so a failure
# reproduces with --seed), no extra power-cut seeds.
set -euo pipefail

cycles=1000
seed=$(( $(date +%s) % 1000000 ))
power_seeds=0
while [ $# -gt 0 ]; do
    case "$1" in
        --cycles) cycles="$2"; shift 2 ;;
        --seed) seed="$2"; shift 2 ;;
        --power-seeds) power_seeds="$2"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
echo "crash loop: $cycles kill -9 cycles, seed $seed"
RINGSTORE_CRASH_CYCLES="$cycles" RINGSTORE_CRASH_SEED="$seed" \
    cargo test --test durability kill9_under_concurrent -- --nocapture

if [ "$power_seeds" -gt 0 ]; then
    echo "power-cut simulation: $power_seeds seeds"
    RINGSTORE_POWER_SEEDS="$power_seeds" \
        cargo test --release --lib store::tests::power_cut -- --nocapture
fi
