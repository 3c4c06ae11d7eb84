#!/usr/bin/env python3
"""Start-up of `txpipe up` and `txpipe run` on fresh data dirs (issue 10).

`txpipe up` once exited in about one start in four: two components created the same
dead-letter topic with different partition counts, and whichever came second failed. Now
the pipeline creates every topic before any component opens. These tests start txpipe on
fresh data dirs many times in a row, with and without the generators, while a client
POSTs to /api/logs from the moment the process is spawned (connections are refused until
the server listens). Every start must come up, serve, accept the POSTs durably and stop
with exit code 0; every event answered 202 must be in the topic.

Usage: startup_test.py PATH/TO/txpipe [unittest args]
"""
import http.client
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from testlib import free_port, wait_for  # noqa: E402

TXPIPE = None
TOPIC = "car-transactions-logs"


def run(*args, timeout=120):
    return subprocess.run([TXPIPE, *args], capture_output=True, timeout=timeout)


def topic_events(data_dir, topic):
    r = run("topic", "describe", topic, "--data-dir", data_dir)
    if r.returncode != 0:
        raise AssertionError(r.stderr.decode())
    rows = r.stdout.decode().splitlines()[2:]
    return len(rows), sum(int(row.split()[2]) for row in rows)


class Poster(threading.Thread):
    """POSTs NDJSON bodies of car events to /api/logs of `port` until stopped,
    from before the server listens; counts the events answered 202."""

    def __init__(self, port, bodies):
        super().__init__(daemon=True)
        self.port, self.bodies = port, bodies
        self.accepted = 0
        self.unexpected = []  # answers other than 202 (and 503 while starting)
        self.stopping = threading.Event()

    def run(self):
        i = 0
        while not self.stopping.is_set():
            body = self.bodies[i % len(self.bodies)]
            i += 1
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                c.request("POST", "/api/logs", body=body,
                          headers={"Content-Type": "application/x-ndjson"})
                r = c.getresponse()
                answer = r.read()
                c.close()
            except OSError:
                time.sleep(0.005)  # not listening yet, or stopping: pace the retries
                continue
            if r.status == 202:
                self.accepted += body.count(b"\n")
            else:
                self.unexpected.append((r.status, answer[:300]))


class FreshStartTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = run("generate", "cars", "--stdout", "--rate", "max", "--count", "200", "--seed", "5")
        lines = r.stdout.splitlines(keepends=True)
        cls.bodies = [b"".join(lines[i:i + 10]) for i in range(0, len(lines), 10)]

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="txpipe_startup_")

    def tearDown(self):
        self.tmp.cleanup()

    def start_once(self, i, args, generators):
        """Starts txpipe with `args` (a fresh data dir, port `port`), POSTing from the
        start; waits until it serves and took a POST; stops it; checks the outcome."""
        data = os.path.join(self.tmp.name, f"d{i}")
        port = free_port()
        log_path = os.path.join(self.tmp.name, f"txpipe{i}.log")
        poster = Poster(port, self.bodies)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([TXPIPE, *args(data, port)], stdout=log, stderr=log)
        poster.start()

        def output():
            with open(log_path, "rb") as f:
                return f.read().decode(errors="replace")

        def alive():
            if proc.poll() is not None:
                poster.stopping.set()
                raise AssertionError(f"start {i}: txpipe exited {proc.returncode}:\n{output()}")
            return True

        try:
            wait_for(lambda: alive() and re.search(rf"serving http://127\.0\.0\.1:{port}/",
                                                   output()),
                     60, f"start {i} to serve")
            wait_for(lambda: alive() and poster.accepted > 0, 60, f"start {i} to accept a POST")
        finally:
            poster.stopping.set()
            poster.join()
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            try:
                rc = proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise AssertionError(f"start {i}: no exit within 60 s of SIGINT:\n{output()}")
        self.assertEqual(rc, 0, f"start {i}:\n{output()}")
        self.assertNotIn(" ERROR ", output(), f"start {i}")
        self.assertEqual(poster.unexpected, [], f"start {i}")
        parts, events = topic_events(data, TOPIC)
        if generators:
            self.assertGreaterEqual(events, poster.accepted, f"start {i}")
        else:
            self.assertEqual(events, poster.accepted, f"start {i}")
        self.assertEqual(topic_events(data, TOPIC + ".dlq")[0], parts, f"start {i}")
        return poster.accepted

    def test_up_comes_up_fifty_times_on_fresh_data_dirs(self):
        for i in range(50):
            generators = i % 2 == 0

            def args(data, port):
                a = ["up", "--data-dir", data, "--listen", f"127.0.0.1:{port}"]
                return a if generators else a + ["--no-generate"]
            self.start_once(i, args, generators)

    def test_run_with_the_builtin_config_comes_up_twenty_times(self):
        config = run("up", "--print-config").stdout.decode()
        self.assertIn('listen = "127.0.0.1:8080"', config)
        for i in range(20):
            def args(data, port):
                path = os.path.join(self.tmp.name, f"run{i}.toml")
                with open(path, "w") as f:
                    f.write(config.replace('data_dir = "txpipe-data"', f'data_dir = "{data}"')
                                  .replace('listen = "127.0.0.1:8080"',
                                           f'listen = "127.0.0.1:{port}"'))
                return ["run", "-c", path]
            self.start_once(i, args, generators=False)

    def test_a_second_up_on_the_same_data_dir_says_what_to_do(self):
        data = os.path.join(self.tmp.name, "shared")
        log_path = os.path.join(self.tmp.name, "first.log")
        with open(log_path, "wb") as log:
            first = subprocess.Popen([TXPIPE, "up", "--data-dir", data, "--listen",
                                      "127.0.0.1:0", "--no-generate"], stdout=log, stderr=log)
        try:
            def serving():
                with open(log_path, errors="replace") as f:
                    return "serving http://" in f.read()
            wait_for(serving, 60, "the first txpipe to serve")
            r = run("up", "--data-dir", data, "--listen", "127.0.0.1:0", "--no-generate")
            self.assertEqual(r.returncode, 1)
            err = r.stderr.decode()
            self.assertIn(f"pid {first.pid}", err)
            self.assertIn("stop that process, or give this one another data directory", err)
        finally:
            first.send_signal(signal.SIGINT)
            first.wait(timeout=60)
        self.assertEqual(first.returncode, 0)


if __name__ == "__main__":
    TXPIPE = os.path.abspath(sys.argv.pop(1))
    unittest.main(verbosity=2)
