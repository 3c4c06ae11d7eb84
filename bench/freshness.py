#!/usr/bin/env python3
"""Freshness (issue 4): how long after an event is created its window is visible in the store.

Runs `txpipe generate finance --out SPOOL --rate R` (files of 1 s, events stamped with the
wall clock) next to `txpipe run` (spooldir -> log -> analytics processor -> store), polls
the store's windows table every 20 ms, and records when each 10s/1m `total` window first
appears. An event's freshness is (first seen - its event time): an upper bound of
(first seen - appended to the log), which is what the target is about, since an event is
appended after it is created. Target: p99 < window + allowed_lateness (5 s) + 1 s.

  bench/freshness.py [--seconds 90] [--rate 2000] [--build build]
"""
import argparse
import datetime
import os
import sqlite3
import subprocess
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=90)
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--build", default="build")
    args = ap.parse_args()
    txpipe = os.path.abspath(os.path.join(args.build, "txpipe"))
    work = tempfile.mkdtemp(prefix="txpipe-fresh.")
    data = os.path.join(work, "data")
    os.makedirs(os.path.join(data, "spool"))
    cfg = os.path.join(work, "p.toml")
    with open(cfg, "w") as f:
        f.write(f"""
data_dir = "{data}"
[broker]
partitions = 2
[sources.finance_files]
type = "spooldir"
spool_dir = "spool"
topic = "finance"
key_field = "account_id"
[processors.finance]
type = "analytics"
topic = "finance"
schema = "finance"
[sinks.store]
type = "store"
topics = ["finance.windows"]
""")
    run = subprocess.Popen([txpipe, "run", "-c", cfg], stderr=open(os.path.join(work, "run.log"), "wb"))
    gen = subprocess.Popen([txpipe, "generate", "finance", "--out", os.path.join(data, "spool"),
                            "--rate", str(args.rate), "-q"])
    seen = {}  # (window_ms, start_ms) -> first seen, epoch seconds
    db = None
    end = time.time() + args.seconds
    try:
        while time.time() < end + 20:  # 20 s more: the last windows close
            if time.time() > end and gen.poll() is None:
                gen.terminate()
            if db is None and os.path.exists(os.path.join(data, "store.db")):
                try:
                    db = sqlite3.connect(f"file:{data}/store.db?mode=ro", uri=True)
                except sqlite3.Error:
                    db = None
            if db is not None:
                try:
                    now = time.time()
                    for wms, start in db.execute(
                            "SELECT window_ms, start_ms FROM windows WHERE dimension = 'total'"):
                        seen.setdefault((wms, start), now)
                except sqlite3.Error:
                    pass
            time.sleep(0.02)
    finally:
        gen.terminate()
        run.terminate()
        run.wait()
    t0 = None
    print(f"== freshness: {args.rate} events/s for {args.seconds} s "
          f"({datetime.datetime.utcnow():%Y-%m-%dT%H:%MZ}, {os.cpu_count()} cpus)")
    for wms, name in ((10_000, "10s"), (60_000, "1m")):
        # Only windows wholly inside the generated span (the first and last are partial).
        starts = sorted(s for (w, s) in seen if w == wms)
        if len(starts) < 3:
            print(f"   {name}: too few windows ({len(starts)})")
            continue
        samples = []
        for s in starts[1:-1]:
            first_seen = seen[(wms, s)]
            # Events are spread evenly over the window: 100 sample points stand for them.
            for k in range(100):
                t = (s + wms * (k + 0.5) / 100) / 1000
                samples.append(first_seen - t)
        samples.sort()
        p50 = samples[len(samples) // 2]
        p99 = samples[int(len(samples) * 0.99)]
        target = wms / 1000 + 5 + 1
        print(f"   {name}: {len(starts) - 2} windows, freshness p50 {p50:.2f} s, p99 {p99:.2f} s, "
              f"max {samples[-1]:.2f} s (target p99 < {target:.0f} s: "
              f"{'met' if p99 < target else 'NOT met'})")
        # Emission delay after the window end: what the pipeline adds to window + lateness.
        delays = sorted(seen[(wms, s)] - (s + wms) / 1000 for s in starts[1:-1])
        print(f"        visible after window end: median {delays[len(delays) // 2]:.2f} s, "
              f"max {delays[-1]:.2f} s (allowed_lateness 5 s)")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
