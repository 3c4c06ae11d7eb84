#!/usr/bin/env python3
"""End-to-end tests of the processor and the store (issue 4), with `txpipe run`:
spool folder -> log -> analytics processor -> window/alert topics -> store (SQLite).

- 20 kill -9 + restart cycles during a 500,000-event run end with store windows (and
  alerts) identical to an uninterrupted run's.
- Invalid events land in the dead-letter topic and the pipeline keeps going.

Usage: processor_e2e_test.py PATH/TO/txpipe [unittest args]
"""
import datetime
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

TXPIPE = None
EVENTS = 500_000
# Recent enough that the store's retention (10s windows: 24 h) keeps every window, and
# at :40 of a minute so the 500 s of events (1 ms apart) end on a minute boundary: the
# last 10s and 1m windows close together, allowed_lateness + idle_timeout after the end.
START = (datetime.datetime.now(datetime.timezone.utc).replace(second=40, microsecond=0)
         - datetime.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%SZ")

BAD_LINES = [
    b'{"transaction_id": "Tbad1"}',                                   # missing fields
    b'{"transaction_id": "Tbad2", "amount": "lots"}',                 # wrong type
    b'not json at all',
]


def run(*args, timeout=300):
    return subprocess.run([TXPIPE, *args], capture_output=True, timeout=timeout)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def write_config(path, data_dir):
    with open(path, "w") as f:
        f.write(f"""
data_dir = "{data_dir}"
[broker]
partitions = 2
flush = "batch"
[sources.finance_files]
type = "spooldir"
spool_dir = "spool"
topic = "finance"
key_field = "account_id"
min_file_age_ms = 0
[processors.finance]
type = "analytics"
topic = "finance"
schema = "finance"
checkpoint_interval = "200ms"
idle_timeout = "2s"
[[processors.finance.alerts]]
name = "big_online_payment"
rule = 'amount > 4990 and transaction_channel == "online"'
[[processors.finance.alerts]]
name = "busy_branch"
rule = "count > 2400 over 10s by branch"
[sinks.store]
type = "store"
topics = ["finance.windows", "alerts"]
""")


def group_lag(data_dir, group):
    r = run("topic", "offsets", "--data-dir", data_dir, "--group", group)
    if r.returncode != 0:
        return None
    # group topic partition committed end lag
    lag = None
    for line in r.stdout.decode().splitlines()[1:]:
        cols = line.split()
        if len(cols) == 6 and cols[0] == group and cols[5].isdigit():
            lag = (lag or 0) + int(cols[5])
    return lag


def topic_events(data_dir, topic):
    r = run("topic", "describe", topic, "--data-dir", data_dir)
    if r.returncode != 0:
        return 0
    total = 0
    for line in r.stdout.decode().splitlines()[2:]:
        cols = line.split()
        if len(cols) >= 3 and cols[2].isdigit():
            total += int(cols[2])
    return total


def store_rows(data_dir):
    db = sqlite3.connect(f"file:{data_dir}/store.db?mode=ro", uri=True)
    try:
        windows = db.execute("SELECT stream, window_ms, start_ms, dimension, value, count, fields "
                             "FROM windows ORDER BY stream, window_ms, start_ms, dimension, value"
                             ).fetchall()
        alerts = db.execute("SELECT id, rule, kind, time_ms, key, values_json FROM alerts "
                            "ORDER BY id").fetchall()
        return windows, alerts
    finally:
        db.close()


def last_window_start_ms(window_ms):
    start = datetime.datetime.strptime(START, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    last_event_ms = int(start.timestamp() * 1000) + (EVENTS - 1)  # 1 ms apart
    return last_event_ms - last_event_ms % window_ms


def finished(data_dir):
    """Everything ingested, processed, emitted (the last windows too) and stored."""
    if topic_events(data_dir, "finance") < EVENTS + len(BAD_LINES) - 1:
        return False
    if group_lag(data_dir, "processor-finance") != 0 or group_lag(data_dir, "store-store") != 0:
        return False
    try:
        db = sqlite3.connect(f"file:{data_dir}/store.db?mode=ro", uri=True)
        n = 0
        for window_ms in (10_000, 60_000):
            n += db.execute("SELECT count(*) FROM windows WHERE window_ms = ? AND start_ms = ? "
                            "AND dimension = 'total'",
                            (window_ms, last_window_start_ms(window_ms))).fetchone()[0]
        db.close()
        return n == 2
    except sqlite3.Error:
        return False


class ProcessorE2ETest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="txpipe_proc_e2e_")
        self.spool_src = os.path.join(self.tmp.name, "generated")
        r = run("generate", "finance", "--out", self.spool_src, "--rate", "max", "--count",
                str(EVENTS), "--seed", "7", "--start", START, "--no-fsync", "-q")
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(os.path.join(self.spool_src, "zz_bad.json"), "wb") as f:
            f.write(b"\n".join(BAD_LINES) + b"\n")

    def tearDown(self):
        self.tmp.cleanup()

    def prepare(self, name, files=None):
        """A data dir whose spool holds `files` of the generated ones (default: all)."""
        data_dir = os.path.join(self.tmp.name, name)
        os.makedirs(os.path.join(data_dir, "spool"))
        self.add_files(data_dir, sorted(os.listdir(self.spool_src)) if files is None else files)
        config = os.path.join(self.tmp.name, name + ".toml")
        write_config(config, data_dir)
        return data_dir, config

    def add_files(self, data_dir, files):
        for f in files:
            os.link(os.path.join(self.spool_src, f), os.path.join(data_dir, "spool", f))

    def start(self, config, log):
        return subprocess.Popen([TXPIPE, "run", "-c", config], stdout=subprocess.DEVNULL,
                                stderr=log)

    def test_kill9_loop_ends_with_the_same_store_as_an_uninterrupted_run(self):
        clean_dir, clean_cfg = self.prepare("clean")
        with open(os.path.join(self.tmp.name, "clean.log"), "wb") as log:
            p = self.start(clean_cfg, log)
            try:
                wait_for(lambda: finished(clean_dir), 600, "the uninterrupted run to finish")
            finally:
                p.send_signal(signal.SIGINT)
                p.wait(timeout=60)
        self.assertEqual(p.returncode, 0)
        clean_windows, clean_alerts = store_rows(clean_dir)
        self.assertGreater(len(clean_windows), 1000)
        self.assertGreater(len(clean_alerts), 0)
        totals = sum(w[5] for w in clean_windows if w[1] == 60000 and w[3] == "total")
        self.assertEqual(totals, EVENTS)  # every valid event counted once

        # The dead letters: the three bad lines, and the pipeline went on.
        r = run("topic", "tail", "finance.dlq", "--data-dir", clean_dir, "--count", "100", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        dead = [json.loads(l) for l in r.stdout.splitlines() if l.strip()]
        self.assertEqual(sorted(d["body"].encode() for d in dead), sorted(BAD_LINES))
        for d in dead:
            self.assertEqual(d["headers"]["component"], "finance", d)
            self.assertEqual(d["headers"]["source_topic"], "finance", d)
            self.assertIn(d["headers"]["error"], ("missing_field", "wrong_type", "not_json"), d)
            self.assertTrue(d["headers"]["error_message"], d)
        self.assertEqual([d["headers"]["error"] for d in dead if d["body"] == "not json at all"],
                         ["not_json"])

        # The killed run: the spool fills as the seed's generator would fill it, 1/20 of
        # the files before each start, so every kill lands while there is work to do.
        files = sorted(os.listdir(self.spool_src))
        chunks = [sorted(files[i * len(files) // 20:(i + 1) * len(files) // 20]) for i in range(20)]
        kill_dir, kill_cfg = self.prepare("killed", [])
        rng = random.Random(4)
        kills = 0
        progress = []
        with open(os.path.join(self.tmp.name, "killed.log"), "wb") as log:
            while kills < 20:
                self.add_files(kill_dir, chunks[kills])
                p = self.start(kill_cfg, log)
                time.sleep(rng.uniform(0.1, 0.6))
                p.send_signal(signal.SIGKILL)
                p.wait()
                kills += 1
                progress.append((topic_events(kill_dir, "finance"), group_lag(kill_dir, "processor-finance"),
                                 group_lag(kill_dir, "store-store")))
            p = self.start(kill_cfg, log)
            try:
                wait_for(lambda: finished(kill_dir), 600, "the killed run to finish")
            finally:
                p.send_signal(signal.SIGINT)
                p.wait(timeout=60)
        self.assertEqual(p.returncode, 0)
        # The kills landed while there was work left: events still to ingest, or to
        # process (the processor's committed offsets trail its checkpoints).
        busy = [p for p in progress if p[0] < EVENTS or p[1] is None or p[1] > 0]
        print(f"kills during work: {len(busy)} of {len(progress)}: {progress}", file=sys.stderr)
        self.assertGreaterEqual(len(busy), 15, progress)
        killed_windows, killed_alerts = store_rows(kill_dir)
        self.assertEqual(len(killed_windows), len(clean_windows))
        self.assertEqual(killed_windows, clean_windows)
        self.assertEqual(killed_alerts, clean_alerts)


if __name__ == "__main__":
    TXPIPE = os.path.abspath(sys.argv.pop(1))
    unittest.main()
