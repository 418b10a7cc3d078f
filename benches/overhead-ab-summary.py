#!/usr/bin/env python3
"""Summarizes a benches/overhead-ab.sh run: per workload and configuration
the median ops/s and server CPU per operation, the median over rounds of
each round's ratio to `off` (the configurations of a round ran seconds
apart), a 90 % bootstrap interval of that median, and every round.
Usage: benches/overhead-ab-summary.py OUT_DIR ROUNDS [WORKLOAD...]"""
import json
import random
import statistics
import sys

out, rounds = sys.argv[1], int(sys.argv[2])
workloads = sys.argv[3:] or ["put", "get"]
configs = ("off", "nomatch", "limits")
cpu = dict(line.split() for line in open(f"{out}/cpu.txt"))


def measure(name):
    r = json.load(open(f"{out}/{name}.json"))
    assert r["error_count"] == 0, (name, r["errors"])
    return r["total_ops"] / r["elapsed_secs"], int(cpu[name]) / 1000 / r["total_ops"]


def interval(ratios):
    rng = random.Random(1)
    boots = sorted(statistics.median(rng.choices(ratios, k=len(ratios))) for _ in range(2000))
    return f"{boots[100]:.3f}-{boots[1900]:.3f}"


print("| workload | config | median ops/s | ops/s ÷ off | 90 % interval "
      "| median server CPU µs/op | CPU/op ÷ off | 90 % interval |")
print("|---|---|---:|---:|---:|---:|---:|---:|")
for wl in workloads:
    m = {c: [measure(f"{c}-{wl}-r{n}") for n in range(1, rounds + 1)] for c in configs}
    for c in configs:
        rate = statistics.median(x[0] for x in m[c])
        us = statistics.median(x[1] for x in m[c])
        if c == "off":
            print(f"| {wl} 4 KiB | off | {rate:.0f} | | | {us:.1f} | | |")
            continue
        r_rate = [a[0] / b[0] for a, b in zip(m[c], m["off"])]
        r_cpu = [a[1] / b[1] for a, b in zip(m[c], m["off"])]
        print(f"| {wl} 4 KiB | {c} | {rate:.0f} | **{statistics.median(r_rate):.3f}** | {interval(r_rate)} "
              f"| {us:.1f} | **{statistics.median(r_cpu):.3f}** | {interval(r_cpu)} |")
print()
print("per round (ops/s, server CPU µs/op):")
for wl in workloads:
    for n in range(1, rounds + 1):
        cells = []
        for c in configs:
            rate, us = measure(f"{c}-{wl}-r{n}")
            cells.append(f"{c} {rate:.0f} {us:.1f}")
        print(f"  {wl} r{n}: " + ", ".join(cells))
