#!/usr/bin/env python3
"""Share of server samples whose stack contains each pattern (inclusive).

    flamegraphs/shares.py flamegraphs/get-4KiB.folded io_uring_enter md5 authenticate
"""
import sys,collections
f=sys.argv[1]; pats=sys.argv[2:]
tot=0; c=collections.Counter()
for line in open(f):
    stack,n=line.rstrip().rsplit(' ',1); n=int(n); tot+=n
    for p in pats:
        if p in stack: c[p]+=n
print("total",tot)
for p in pats: print(f"{100*c[p]/tot:5.1f}%  {p}")
