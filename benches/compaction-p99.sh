#!/usr/bin/env bash
# Compaction's effect on foreground latency. Fills a server with churn
# (overwrites and deletes, so most segments are mostly garbage), snapshots
# the data dir, then runs the same foreground workload on a fresh copy of
# that snapshot with background compaction on and with it off
# (--no-compaction), alternating, and prints GET/PUT p50/p99 per run, the
# medians and the on/off p99 ratio. Each "on" run's server log must show
# segments freed during the run, or the script fails.
#
#   benches/compaction-p99.sh [--rounds 3] [--duration 10s] [--churn-ops 6000]
#
# Needs target/release/ringstore (cargo build --release). Writes raw outputs
# to benches/results/compaction/ (bench JSON, server logs, summary.txt).
set -euo pipefail

rounds=3
duration=10s
churn_ops=6000
churn_keys=400
churn_size=256KiB
fg_objects=1000
fg_conc=8
segment_mib=16
shards=2
port=19471
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --duration) duration="$2"; shift 2 ;;
        --churn-ops) churn_ops="$2"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
bin=target/release/ringstore
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
out=benches/results/compaction
mkdir -p "$out"
# Under target/: a real disk (O_DIRECT), not a tmpfs /tmp.
work=$(mktemp -d "$PWD/target/compaction-p99.XXXXXX")
export RINGSTORE_ACCESS_KEY=RSBENCHACCESSKEY0001
export RINGSTORE_SECRET_KEY=ringstore/bench/secret/key/00000000000
export AWS_ACCESS_KEY_ID=$RINGSTORE_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$RINGSTORE_SECRET_KEY
endpoint="http://127.0.0.1:$port"
server_pid=

stop_server() {
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}
cleanup() { stop_server; rm -rf "$work"; }
trap cleanup EXIT

# start_server DATA_DIR LOG [extra serve args...]
start_server() {
    local dir="$1" log="$2"
    shift 2
    : > "$work/stdout"
    RINGSTORE_LOG=info NO_COLOR=1 "$bin" serve --listen "127.0.0.1:$port" --data-dir "$dir" \
        --shards "$shards" --segment-mib "$segment_mib" "$@" > "$work/stdout" 2> "$log" &
    server_pid=$!
    for _ in $(seq 600); do
        grep -qx ready "$work/stdout" && return 0
        kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    echo "server did not start" >&2
    exit 1
}

bench() { "$bin" bench --endpoint "$endpoint" "$@"; }

echo "== fill: $fg_objects x 4KiB foreground objects, $churn_ops churn ops of $churn_size over $churn_keys keys"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
start_server "$work/snap" "$out/fill-server.log" --no-compaction
bench --workload get --prefix fg/ --objects "$fg_objects" --size 4KiB --ops 1 > /dev/null
bench --workload mixed --mix put=85,delete=15 --prefix churn/ --objects "$churn_keys" \
    --size "$churn_size" -c 8 --ops "$churn_ops" > "$out/fill-bench.txt"
curl -s "$endpoint/_admin/metrics" > /dev/null || true
stop_server
echo "snapshot: $(du -sh "$work/snap" | cut -f1) in $(ls "$work"/snap/shard-*/ | grep -c '^seg-') segments"

summary="$out/summary.txt"
{
    echo "# benches/compaction-p99.sh --rounds $rounds --duration $duration --churn-ops $churn_ops"
    echo "# $(date -u +%FT%TZ) $(nproc) CPUs; foreground: mixed get=90,put=10, 4KiB, $fg_objects objects, -c $fg_conc, $duration"
    printf '%-5s %-4s %9s %9s %9s %9s %8s %7s %s\n' round mode get_p50 get_p99 put_p50 put_p99 ops/s freed "compaction window / load"
} > "$summary"

for round in $(seq "$rounds"); do
    for mode in on off; do
        rm -rf "$work/run"
        cp -a "$work/snap" "$work/run"
        sync
        log="$out/round$round-$mode-server.log"
        json="$out/round$round-$mode.json"
        if [ "$mode" = on ]; then start_server "$work/run" "$log"; else start_server "$work/run" "$log" --no-compaction; fi
        bench --workload mixed --mix get=90,put=10 --prefix fg/ --objects "$fg_objects" --size 4KiB \
            -c "$fg_conc" --duration "$duration" --no-prepare --json "$json" > "$out/round$round-$mode-bench.txt"
        load=$(cut -d' ' -f1 /proc/loadavg)
        stop_server
        freed=$(grep -c "segment compacted and freed" "$log" || true)
        window=$( (grep "segment compacted and freed" "$log" || true) | awk '{print $1}' | sed -n '1p;$p' | tr '\n' ' ')
        python3 - "$json" "$round" "$mode" "$freed" "$window" "$load" >> "$summary" <<'EOF'
import json, sys
path, rnd, mode, freed, window, load = sys.argv[1:]
r = json.load(open(path))
ops = r["operations"]
lat = lambda op, p: ops[op]["latency"][p + "_ms"]
print(f"{rnd:<5} {mode:<4} {lat('GET','p50'):9.3f} {lat('GET','p99'):9.3f} "
      f"{lat('PUT','p50'):9.3f} {lat('PUT','p99'):9.3f} {r['total_ops']/r['elapsed_secs']:8.0f} "
      f"{freed:>7} {window or '-'} load {load}")
EOF
        tail -1 "$summary"
        if [ "$mode" = on ] && [ "$freed" -eq 0 ]; then
            echo "compaction freed nothing during an 'on' run: the measurement is void" >&2
            exit 1
        fi
        if [ "$mode" = off ] && [ "$freed" -ne 0 ]; then
            echo "compaction ran during an 'off' run" >&2
            exit 1
        fi
    done
done

python3 - "$summary" >> "$summary" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l[:1].isdigit()]
med = lambda mode, col: statistics.median(float(r[col]) for r in rows if r[1] == mode)
print()
for name, p50, p99 in (("GET", 2, 3), ("PUT", 4, 5)):
    on50, off50, on99, off99 = med("on", p50), med("off", p50), med("on", p99), med("off", p99)
    print(f"{name}: median p50 on {on50:.3f} ms / off {off50:.3f} ms; "
          f"median p99 on {on99:.3f} ms / off {off99:.3f} ms; p99 ratio on/off {on99/off99:.2f}")
EOF
echo
cat "$summary"
