#!/usr/bin/env python3
"""Prints one Markdown table from the JSON reports of benches/loadgen.sh."""
import json, pathlib, sys

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/loadgen")
print("| run | ops/s | MB/s | p50 ms | p99 ms | p99.9 ms | max ms | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for f in sorted(out.glob("*.json")):
    r = json.loads(f.read_text())
    for op, s in r["operations"].items():
        l = s["latency"]
        print(f"| {f.stem} | {s['ops_per_sec']:.0f} | {s['mb_per_sec']:.1f} | {l['p50_ms']:.3f} "
              f"| {l['p99_ms']:.3f} | {l['p99.9_ms']:.3f} | {l['max_ms']:.3f} | {r['error_count']} |")
