#!/usr/bin/env bash
# What fault injection and rate limits cost when they do nothing (issue 29:
# GET and PUT 4 KiB with a non-matching rule, and with limits configured but
# not reached, >= 0.97x the server without them). Interleaves the servers,
# configurations alternating within each round:
#   off      no --faults, no limits
#   nomatch  --faults with rules that go through every match step for
#            GetObject and PutObject and match nothing (another bucket)
#   limits   a credential, a bucket and a prefix limit on every request
#            (all three kinds checked), far above what the run reaches
# Usage: benches/faults-overhead.sh [OUT_DIR]
#   BIN (target/release/ringstore), ROUNDS (3), DURATION (5s), CONC (32),
#   THREADS (2), SHARDS (2), CONFIGS ("off nomatch limits")
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/ringstore}
OUT=${1:-target/faults-overhead}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONC=${CONC:-32}
THREADS=${THREADS:-2}
SHARDS=${SHARDS:-2}
CONFIGS=${CONFIGS:-off nomatch limits}
LIMIT=1000000000:1000000000
PORT=${PORT:-19600}
export AWS_ACCESS_KEY_ID=RSBENCHACCESSKEY0001
export AWS_SECRET_ACCESS_KEY=ringstore/bench/secret/key/000000000000
mkdir -p "$OUT"
DATA=target/faults-overhead-data
RULES=$OUT/nomatch.toml
cat >"$RULES" <<'EOF'
[[rules]]
id = "nomatch-get"
match = { operations = ["GetObject"], buckets = ["no-such-bucket"], key_prefix = "x/" }
probability = 0.5
action = { error = { code = "SlowDown" } }

[[rules]]
id = "nomatch-put"
match = { operations = ["PutObject"], buckets = ["no-such-bucket"] }
every = 2
action = { latency = { p50_ms = 10, p99_ms = 100 } }
EOF
SERVER_PID=
stop_server() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  SERVER_PID=
}
trap 'stop_server; rm -rf "$DATA"' EXIT

start() { # start [serve args...]
  stop_server
  rm -rf "$DATA" "$OUT/server.out"
  RINGSTORE_ACCESS_KEY=$AWS_ACCESS_KEY_ID RINGSTORE_SECRET_KEY=$AWS_SECRET_ACCESS_KEY RINGSTORE_LOG=warn \
    "$BIN" serve --listen 127.0.0.1:$PORT --data-dir "$DATA" --shards "$SHARDS" "$@" \
    >"$OUT/server.out" 2>>"$OUT/server.err" &
  SERVER_PID=$!
  for _ in $(seq 100); do grep -q '^ready' "$OUT/server.out" 2>/dev/null && return; sleep 0.1; done
  echo "server did not start" >&2; exit 1
}

run() { # run <name> <workload>
  "$BIN" bench --endpoint http://127.0.0.1:$PORT --workload "$2" --size 4KiB --objects 1000 \
    -c "$CONC" --threads "$THREADS" --duration "$DURATION" --json "$OUT/$1.json" >"$OUT/$1.txt" || true
}

for round in $(seq "$ROUNDS"); do
  for config in $CONFIGS; do
    case $config in
      off) start ;;
      nomatch) start --faults "$RULES" ;;
      limits) start --rate-limit-credential $LIMIT --rate-limit-bucket $LIMIT --rate-limit-prefix $LIMIT ;;
      *) echo "unknown config $config" >&2; exit 1 ;;
    esac
    run "$config-put-r$round" put
    run "$config-get-r$round" get
  done
done
stop_server
python3 - "$OUT" "$ROUNDS" $CONFIGS <<'EOF'
import json, statistics, sys
out, rounds, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def ops(name):
    r = json.load(open(f"{out}/{name}.json"))
    assert r["error_count"] == 0, (name, r["errors"])
    return sum(s["ops_per_sec"] for s in r["operations"].values())
others = [c for c in configs if c != "off"]
print("| workload | round | off ops/s | " + " | ".join(f"{c} ops/s | {c}/off" for c in others) + " |")
print("|---|---:|---:|" + "---:|---:|" * len(others))
for wl in ("put", "get"):
    ratios = {c: [] for c in others}
    for n in range(1, rounds + 1):
        off = ops(f"off-{wl}-r{n}")
        cells = []
        for c in others:
            on = ops(f"{c}-{wl}-r{n}")
            ratios[c].append(on / off)
            cells.append(f"{on:.0f} | {on / off:.3f}")
        print(f"| {wl} 4 KiB | {n} | {off:.0f} | " + " | ".join(cells) + " |")
    print(f"| {wl} 4 KiB | median | | " + " | ".join(f"| **{statistics.median(ratios[c]):.3f}**" for c in others) + " |")
EOF
