#!/usr/bin/env python3
"""Markdown tables from the JSON reports of benches/loadgen.sh.

    benches/summarize.py OUT_DIR [LIMITS_FILE]

1. Every run: ops/s, MB/s and latency percentiles.
2. With several rounds (names ending in -rN): the median of each
   configuration and workload, with every round's figure.
3. The issue's goals, per round and as the median of the per-round ratios:
   4 KiB GET and PUT against the HTTP floor of the same round (2 shards,
   and 1 shard), 1 MiB GET and PUT against the disk and loopback limits
   read from LIMITS_FILE (a benches/limits.sh output), if given.
"""
import json
import pathlib
import re
import statistics
import sys

GOALS = {  # workload -> (what it is compared with, the goal)
    "get-4KiB": ("floor", 0.7),
    "put-4KiB": ("floor", 0.5),
    "get-1MiB": ("read", 0.8),
    "put-1MiB": ("write", 0.8),
}


def load(out):
    """{(config, workload): {round: (ops/s, MB/s)}} and the table rows."""
    runs, rows = {}, []
    for f in sorted(out.glob("*.json")):
        r = json.loads(f.read_text())
        m = re.fullmatch(r"(.+)-((?:get|put)-\w+?)(?:-r(\d+))?", f.stem)
        for op, s in r["operations"].items():
            l = s["latency"]
            rows.append(
                f"| {f.stem} | {s['ops_per_sec']:.0f} | {s['mb_per_sec']:.1f} | {l['p50_ms']:.3f} "
                f"| {l['p99_ms']:.3f} | {l['p99.9_ms']:.3f} | {l['max_ms']:.3f} | {r['error_count']} |"
            )
            if m:
                config, workload, rnd = m.group(1), m.group(2), int(m.group(3) or 1)
                runs.setdefault((config, workload), {})[rnd] = (s["ops_per_sec"], s["mb_per_sec"])
    return runs, rows


def limits(path):
    """GB/s of the disk's sequential write and read and of loopback TCP."""
    text = pathlib.Path(path).read_text()

    def gbps(label):
        m = re.search(re.escape(label) + r".*?\(([\d.]+) GB/s\)", text)
        return float(m.group(1)) if m else None

    return {
        "write": gbps("seq write 1MiB QD32"),
        "read": gbps("seq read 1MiB QD32"),
        "loopback": gbps("loopback TCP"),
    }


def main():
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/loadgen")
    lim = limits(sys.argv[2]) if len(sys.argv) > 2 else None
    runs, rows = load(out)
    print("| run | ops/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))

    rounds = sorted({r for v in runs.values() for r in v})
    if len(rounds) > 1:
        print("\n| config | workload | median ops/s | median MB/s | rounds (ops/s) |")
        print("|---|---|---:|---:|---|")
        for (config, workload), by_round in sorted(runs.items()):
            ops = [v[0] for v in by_round.values()]
            mbs = [v[1] for v in by_round.values()]
            each = ", ".join(f"{by_round[r][0]:.0f}" for r in sorted(by_round))
            print(f"| {config} | {workload} | {statistics.median(ops):.0f} "
                  f"| {statistics.median(mbs):.1f} | {each} |")

    goals = []
    for workload, (against, goal) in GOALS.items():
        server = runs.get(("s3-2", workload), {})
        if not server:
            continue
        if against == "floor":
            for floor in ("floor-2", "floor-1"):
                base = runs.get((floor, workload), {})
                ratios = [server[r][0] / base[r][0] for r in sorted(server) if r in base and base[r][0]]
                goals += report(f"{workload} s3-2 / {floor} (ops/s)", ratios, goal)
        elif lim:
            # The lower of the disk (read for GET, write for PUT) and loopback.
            limit = min(x for x in (lim[against], lim["loopback"]) if x)
            ratios = [server[r][1] / 1000 / limit for r in sorted(server)]
            goals += report(f"{workload} s3-2 / min(disk {against}, loopback) = {limit:.2f} GB/s", ratios, goal)
    # The durable floor (bare HTTP plus the store's write path): how far any
    # durable PUT gets on this machine, as a ratio to the floor.
    for workload in ("put-4KiB",):
        durable = runs.get(("dfloor-2", workload), {})
        base = runs.get(("floor-2", workload), {})
        ratios = [durable[r][0] / base[r][0] for r in sorted(durable) if r in base and base[r][0]]
        goals += report(f"{workload} durable floor dfloor-2 / floor-2 (ops/s, no S3 work)", ratios,
                        GOALS[workload][1])
    if goals:
        print("\n| goal | per round | median | goal | holds? |")
        print("|---|---|---:|---:|---|")
        print("\n".join(goals))


def report(label, ratios, goal):
    """The goal's table row (a list of none or one)."""
    if not ratios:
        return []
    median = statistics.median(ratios)
    each = ", ".join(f"{r:.2f}" for r in ratios)
    holds = "yes" if min(ratios) >= goal else ("in some rounds" if max(ratios) >= goal else "no")
    return [f"| {label} | {each} | {median:.2f} | {goal} | {holds} |"]


if __name__ == "__main__":
    main()
