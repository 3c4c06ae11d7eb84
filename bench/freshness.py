#!/usr/bin/env python3
"""Freshness (issue 4): how long after an event is created its window is visible in the store.

Runs `txpipe generate finance --out SPOOL --rate R` (files of 1 s, events stamped with the
wall clock) next to `txpipe run` (spooldir -> log -> analytics processor -> store), polls
the store's windows table every 20 ms, and records when each 10s/1m `total` window first
appears. Afterwards it reads every event's append time (its log record timestamp, `txpipe
topic tail --json`) and event time. An event's freshness is (its window first seen in the
store - the event appended to the log). Target: p99 < window + allowed_lateness (5 s) + 1 s.
Also shown: the same from the event's creation (event time), which adds the spool folder's
delay (1 s files, min_file_age 1 s, 0.5 s polls).

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
    # Append time (record timestamp) and event time of every event.
    import json
    events = []  # (event time s, append time s)
    tail = subprocess.run([txpipe, "topic", "tail", "finance", "--data-dir", data, "--json",
                           "--count", "1000000000"], capture_output=True, check=True)
    for line in tail.stdout.splitlines():
        rec = json.loads(line)
        body = json.loads(rec["body"])
        t = datetime.datetime.fromisoformat(body["transaction_date"].rstrip("Z")).replace(
            tzinfo=datetime.timezone.utc).timestamp()
        events.append((t, rec["timestamp_ms"] / 1000))
    print(f"== freshness: {args.rate} events/s for {args.seconds} s "
          f"({datetime.datetime.utcnow():%Y-%m-%dT%H:%MZ}, {os.cpu_count()} cpus)")
    for wms, name in ((10_000, "10s"), (60_000, "1m")):
        # Only windows wholly inside the generated span (the first and last are partial).
        starts = sorted(s for (w, s) in seen if w == wms)
        if len(starts) < 3:
            print(f"   {name}: too few windows ({len(starts)})")
            continue
        full = set(starts[1:-1])
        samples, from_creation = [], []
        for t, appended in events:
            start = int(t * 1000) - int(t * 1000) % wms
            if start in full:
                samples.append(seen[(wms, start)] - appended)
                from_creation.append(seen[(wms, start)] - t)
        samples.sort()
        from_creation.sort()
        p50 = samples[len(samples) // 2]
        p99 = samples[int(len(samples) * 0.99)]
        target = wms / 1000 + 5 + 1
        print(f"   {name}: {len(full)} windows, {len(samples)} events: freshness (appended -> "
              f"window in the store) p50 {p50:.2f} s, p99 {p99:.2f} s, max {samples[-1]:.2f} s "
              f"(target p99 < {target:.0f} s: {'met' if p99 < target else 'NOT met'})")
        print(f"        from creation (event time): p50 {from_creation[len(from_creation) // 2]:.2f} s, "
              f"p99 {from_creation[int(len(from_creation) * 0.99)]:.2f} s")
        # Emission delay after the window end: what the pipeline adds to window + lateness.
        delays = sorted(seen[(wms, s)] - (s + wms) / 1000 for s in starts[1:-1])
        print(f"        visible after window end: median {delays[len(delays) // 2]:.2f} s, "
              f"max {delays[-1]:.2f} s (allowed_lateness 5 s)")
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    sys.exit(main())
