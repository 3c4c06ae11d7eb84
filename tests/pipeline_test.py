#!/usr/bin/env python3
"""End-to-end tests of `txpipe run`: spool folder -> embedded log -> archive (issue 3).

- All of ~200,000 events in 100+ spool files (one appended to while the source runs, one
  reusing a completed name, one with a 10 MB line, one not UTF-8, one empty) land in the
  archive exactly once, or in quarantine / the dead-letter topic with a reason.
- A kill -9 loop (20 kills at random moments while spool files are left; the spool fills
  in steps, so this holds on any machine speed) ends with the archive holding every input
  line exactly once.

Usage: pipeline_test.py PATH/TO/txpipe [unittest args]
"""
import collections
import glob
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

TXPIPE = None
START = "2026-11-23T10:00:00Z"


def run(*args, stdin=None, timeout=300):
    return subprocess.run([TXPIPE, *args], input=stdin, capture_output=True, timeout=timeout)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def write_config(path, data_dir, batch_size=1000):
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
min_file_age_ms = 300
batch_size = {batch_size}
long_line_policy = "dead_letter"
max_line_length = 1048576
[sinks.archive]
type = "archive"
topics = ["finance"]
path = "archive/%{{topic}}/%Y-%m-%d/%H%M"
round = true
round_value = 10
round_unit = "minute"
file_suffix = ".json"
roll_interval_s = 1
""")


def archive_lines(data_dir):
    """Every line of every final (not in-use, not hidden) archive file."""
    lines = []
    for path in glob.glob(os.path.join(data_dir, "archive", "**", "*"), recursive=True):
        name = os.path.basename(path)
        if os.path.isdir(path) or name.startswith(".") or name.endswith(".tmp"):
            continue
        with open(path, "rb") as f:
            lines.extend(f.read().splitlines())
    return lines


def archived_offsets(data_dir):
    """Sum of the archive group's committed offsets, or -1."""
    r = run("topic", "offsets", "--data-dir", data_dir, "--group", "archive-archive")
    if r.returncode != 0:
        return -1
    rows = r.stdout.decode().splitlines()[1:]
    return sum(int(row.split()[3]) for row in rows if row.strip())


def spool_pending(spool):
    """Visible input files not yet completed."""
    return [f for f in os.listdir(spool)
            if not f.startswith(".") and not f.endswith(".COMPLETED")
            and os.path.isfile(os.path.join(spool, f))]


class PipelineTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="txpipe_pipe_")
        self.data = os.path.join(self.tmp.name, "data")
        self.spool = os.path.join(self.data, "spool")
        self.config = os.path.join(self.tmp.name, "pipeline.toml")
        write_config(self.config, self.data)
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.tmp.cleanup()

    def start(self):
        with open(os.path.join(self.tmp.name, "run.log"), "ab") as log:
            p = subprocess.Popen([TXPIPE, "run", "-c", self.config], stdout=log, stderr=log)
        self.procs.append(p)
        return p

    def log_tail(self):
        with open(os.path.join(self.tmp.name, "run.log"), errors="replace") as f:
            return f.read()[-3000:]

    def stop(self, p):
        p.send_signal(signal.SIGINT)
        rc = p.wait(timeout=120)
        self.assertEqual(rc, 0, self.log_tail())

    def topic_events(self, topic):
        r = run("topic", "describe", topic, "--data-dir", self.data)
        if r.returncode != 0:
            return 0
        return sum(int(line.split()[2]) for line in r.stdout.decode().splitlines()[2:])

    def generate(self, count, seed, file_seconds, out=None, start=START):
        """Generates `count` events into files under `out` (default: the spool folder,
        which must hold no other files yet); returns their lines."""
        out = out or self.spool
        r = run("generate", "finance", "--out", out, "--rate", "max", "--count", str(count),
                "--seed", str(seed), "--start", start, "--file-seconds", str(file_seconds),
                "--no-fsync", "-q")
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        lines = []
        for f in sorted(os.listdir(out)):
            with open(os.path.join(out, f), "rb") as fh:
                lines.extend(fh.read().splitlines())
        return lines

    def test_every_event_lands_once_or_in_quarantine_or_dead_letter(self):
        expected = self.generate(196_000, seed=1, file_seconds=2)  # 98 files of 2,000
        first_name = sorted(os.listdir(self.spool))[0]
        # A file with a 10 MB line among normal ones; the long line goes to finance.dlq.
        extra = run("generate", "finance", "--stdout", "--rate", "max", "--count", "2100",
                    "--seed", "2", "--start", "2026-11-23T11:00:00Z").stdout.splitlines()
        big = b'{"transaction_id": "T-big", "description": "' + b"x" * 10_000_000 + b'"}'
        with open(os.path.join(self.spool, "big_line.json"), "wb") as f:
            f.write(b"\n".join(extra[:1000] + [big] + extra[1000:1999]) + b"\n")
        expected += extra[:1999]
        # Not UTF-8: the whole file goes to quarantine.
        with open(os.path.join(self.spool, "latin1.json"), "wb") as f:
            f.write(b'{"description": "caf\xe9"}\n' * 5)
        open(os.path.join(self.spool, "empty.json"), "wb").close()

        p = self.start()
        # A file appended to while the source runs (the seed's generator does this).
        live = run("generate", "finance", "--stdout", "--rate", "max", "--count", "2000",
                   "--seed", "3", "--start", "2026-11-23T12:00:00Z").stdout.splitlines()
        expected += live

        def append_live():
            with open(os.path.join(self.spool, "live.json"), "ab") as f:
                for i in range(0, len(live), 100):
                    f.write(b"\n".join(live[i:i + 100]) + b"\n")
                    f.flush()
                    time.sleep(0.02)  # a slow writer, as the seed's one-per-second generator
        writer = threading.Thread(target=append_live)
        writer.start()
        # Reuse a completed name: the new file is quarantined, not ingested.
        wait_for(lambda: os.path.exists(os.path.join(self.spool, first_name + ".COMPLETED")),
                 120, "the first file to complete")
        with open(os.path.join(self.spool, first_name), "wb") as f:
            f.write(b"\n".join(extra[1999:2100]) + b"\n")
        writer.join()
        wait_for(lambda: archived_offsets(self.data) >= len(expected), 300,
                 "the archive to hold every event")
        self.stop(p)

        got = collections.Counter(archive_lines(self.data))
        want = collections.Counter(expected)
        self.assertEqual(sum(got.values()), len(expected))
        self.assertEqual(got, want)  # every event exactly once
        quarantined = os.listdir(os.path.join(self.spool, "quarantine"))
        self.assertTrue(any(q.startswith("latin1.json") for q in quarantined), quarantined)
        self.assertTrue(any(q.startswith(first_name) for q in quarantined), quarantined)
        self.assertTrue(any(q.endswith(".reason") for q in quarantined), quarantined)
        r = run("topic", "describe", "finance.dlq", "--data-dir", self.data)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        dlq = sum(int(line.split()[2]) for line in r.stdout.decode().splitlines()[2:])
        self.assertEqual(dlq, 1)
        self.assertTrue(os.path.exists(os.path.join(self.spool, "empty.json.COMPLETED")))

    def test_kill_nine_loop_ends_with_every_line_archived_once(self):
        # Small batches: many acknowledgements per file, so kills land mid-file.
        write_config(self.config, self.data, batch_size=5)
        # The spool fills in steps, as the seed's generator fills it: a step's files are
        # moved in, txpipe starts, and once it has appended some events in this run it is
        # killed at a random moment. A kill that came after the spool was done (a fast
        # machine, or fsync on a tmpfs) doubles the next step, so 20 kills land while
        # files are left whatever the machine's speed.
        staging = os.path.join(self.tmp.name, "staging")
        os.makedirs(self.spool)
        rng = random.Random(20261123)
        expected = []
        step_events, kills_with_work_left, steps = 4000, 0, 0
        while kills_with_work_left < 20:
            steps += 1
            self.assertLess(steps, 60, "could not kill while work was left 20 times")
            os.makedirs(staging)
            # A day apart: no step reuses the name of a completed file.
            start = f"2026-11-{steps % 28 + 1:02d}T{steps // 28:02d}:00:00Z"
            expected += self.generate(step_events, seed=steps, file_seconds=1, out=staging,
                                      start=start)
            for f in os.listdir(staging):
                os.rename(os.path.join(staging, f), os.path.join(self.spool, f))
            os.rmdir(staging)
            before = self.topic_events("finance")
            p = self.start()

            def appended():
                if p.poll() is not None:
                    self.fail("txpipe run exited by itself: " + self.log_tail())
                return self.topic_events("finance") > before
            wait_for(appended, 120, "txpipe to append in this run")
            time.sleep(rng.uniform(0, 0.05))  # a random moment, not a wait for an outcome
            p.kill()
            p.wait()
            if spool_pending(self.spool):
                kills_with_work_left += 1
            else:
                step_events *= 2
        print(f"{steps} steps for 20 kills while work was left; last step {step_events} events",
              file=sys.stderr)
        p = self.start()
        wait_for(lambda: not spool_pending(self.spool) and
                 archived_offsets(self.data) >= len(expected), 300,
                 "the archive to catch up after the kills")
        self.stop(p)
        self.assertEqual(self.topic_events("finance"), len(expected))  # no line appended twice
        got = collections.Counter(archive_lines(self.data))
        self.assertEqual(sum(got.values()), len(expected))
        self.assertEqual(got, collections.Counter(expected))


if __name__ == "__main__":
    TXPIPE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
